"""Test settings: the real MariaDB and Redis on this machine, a non-UTC library time zone.

Override the services with TEST_DB_HOST, TEST_DB_PORT, TEST_DB_USER, TEST_DB_PASSWORD,
TEST_DB_NAME (the test database pytest-django creates and drops) and TEST_REDIS_URL (a
Redis database the tests flush). A developer's ``.env`` is not read.
"""

import atexit
import os
import shutil
import tempfile

os.environ.update(
    {
        "DOTENV_PATH": os.devnull,
        "DEBUG": "false",
        "SECRET_KEY": "test-only-secret-key-not-for-production-0123456789",
        "TIME_ZONE": "Asia/Jakarta",
        "DB_HOST": os.environ.get("TEST_DB_HOST", "127.0.0.1"),
        "DB_PORT": os.environ.get("TEST_DB_PORT", "3306"),
        "DB_USER": os.environ.get("TEST_DB_USER", "root"),
        "DB_PASSWORD": os.environ.get("TEST_DB_PASSWORD", ""),
        "DB_NAME": "library",
        "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        # Every request reads the pre-rendered responses afresh (tests publish and re-read).
        "HTTP_MEMO_MS": "0",
    }
)
# /metrics sums every process writing to this directory: one per test run (inherited by the
# processes it starts), so parallel runs and stale files do not leak into the numbers.
if not os.environ.get("TEST_PROMETHEUS_MULTIPROC_DIR"):
    os.environ["TEST_PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ld-prometheus-")
    atexit.register(shutil.rmtree, os.environ["TEST_PROMETHEUS_MULTIPROC_DIR"], True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["TEST_PROMETHEUS_MULTIPROC_DIR"]
for name in ("USE_ORM", "TODAY_COUNT_MODE", "DJANGO_DATABASE_URL", "VISITOR_SLOW_CRON"):
    os.environ.pop(name, None)

from library_dashboard.settings import *  # noqa: E402, F403
from library_dashboard.settings import DATABASES, TIME_ZONE  # noqa: E402

# The same visitor table on SQLite, so every question also runs on the embedded vendor.
DATABASES["visitors_sqlite"] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": ":memory:",
    "TIME_ZONE": TIME_ZONE,
    "TEST": {"NAME": None},
    "OPTIONS": {"transaction_mode": "IMMEDIATE"},  # as the embedded default runs
}
DATABASES["visitors"]["TEST"] = {"NAME": os.environ.get("TEST_DB_NAME", "test_library_dashboard")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests serve static files from the apps (no collectstatic); the production storage is
# exercised by tests/test_dashboard.py::test_collectstatic_with_production_storage.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
