"""Checks run before a process starts: a server that would answer 500 on every page refuses
to start instead, naming the step that was missed. The web server runs both
(library_dashboard/server.py); the streams server and ``runsyncloop``, which serve no static
files, run ``migrations_applied`` (on the embedded default the cache is a table ``migrate``
creates).

Not registered with Django's check framework: ``migrate`` and ``collectstatic`` run the
registered checks, and these fail until they have run.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core import checks
from django.core.files.storage import storages
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

IGNORED = ["CVS", ".*", "*~"]  # collectstatic's default ignore patterns


def static_files_collected() -> list[checks.CheckMessage]:
    """With the manifest storage, every static file of the apps must be in the manifest
    (``collectstatic``), else each page that links one answers 500."""
    storage = storages["staticfiles"]
    if not isinstance(storage, ManifestFilesMixin):
        return []
    collected, _ = storage.load_manifest()
    found = {path for finder in finders.get_finders() for path, _ in finder.list(IGNORED)}
    missing = sorted(found - set(collected))
    if not missing:
        return []
    what = "are not collected" if not collected else f"are out of date ({len(missing)} missing)"
    return [
        checks.Error(
            f"Static files {what} in STATIC_ROOT ({settings.STATIC_ROOT}), e.g. {missing[0]!r}: "
            "every page would answer 500.",
            hint="Run: python manage.py collectstatic --noinput (make run does it).",
            id="visitors.E001",
        )
    ]


def migrations_applied(using: str = DEFAULT_DB_ALIAS) -> list[checks.CheckMessage]:
    """Django's own tables (and the database cache's table) exist, else the admin and
    sessions answer 500 and, without Redis, every request computes from the database."""
    try:
        executor = MigrationExecutor(connections[using])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return [
            checks.Warning(
                f"Could not read the migrations of database {using!r}: {exc}",
                id="visitors.W002",
            )
        ]
    if not plan:
        return []
    apps = sorted({migration.app_label for migration, _ in plan})
    return [
        checks.Error(
            f"{len(plan)} migration(s) not applied to database {using!r} ({', '.join(apps)}).",
            hint="Run: python manage.py migrate (make run does it).",
            id="visitors.E002",
        )
    ]


def ready_to_serve() -> list[checks.CheckMessage]:
    """The web server's checks: both."""
    return [*migrations_applied(), *static_files_collected()]
