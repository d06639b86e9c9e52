"""``migrate`` is the only database step, and a web server that would answer 500 on every page
(static files not collected, migrations not applied) refuses to start, naming the step
(visitors/checks.py, library_dashboard/server.py); so do the streams server and the sync loop
without ``migrate``. Real processes on the embedded default."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import urllib.request

import pytest

from tests.processes import ROOT, TEST_SECRET_KEY, Server, clean_env, manage
from tests.services import free_port

pytestmark = pytest.mark.slow


def _embedded(tmp_path) -> dict[str, str]:
    return clean_env(VAR_DIR=str(tmp_path), SECRET_KEY=TEST_SECRET_KEY, PORT="4480")


def _start(kind: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "library_dashboard.server", kind],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_creates_the_database_cache_table_shared_by_processes(tmp_path):
    env = _embedded(tmp_path)
    assert manage("migrate", "--noinput", "-v0", env=env).returncode == 0
    with sqlite3.connect(tmp_path / "django.sqlite3") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "visitors_cache" in tables
    write = "from django.core.cache import cache; cache.set('i11:probe', 42, 60)"
    assert manage("shell", "-c", write, env=env).returncode == 0
    read = manage(
        "shell", "-c", "from django.core.cache import cache; print(cache.get('i11:probe'))", env=env
    )
    assert read.stdout.strip().splitlines()[-1] == "42", read.stderr
    # Again: nothing to do, no error.
    assert manage("migrate", "--noinput", "-v0", env=env).returncode == 0


def test_the_web_server_refuses_to_start_naming_the_missed_step(tmp_path):
    env = _embedded(tmp_path)
    refused = _start("web", env)
    assert refused.returncode == 1
    assert "not starting" in refused.stderr
    assert "manage.py migrate" in refused.stderr and "manage.py collectstatic" in refused.stderr

    assert manage("migrate", "--noinput", "-v0", env=env).returncode == 0
    refused = _start("web", env)
    assert refused.returncode == 1
    assert "manage.py collectstatic" in refused.stderr and "manage.py migrate" not in refused.stderr


def test_the_streams_server_and_the_loop_refuse_to_start_without_migrate(tmp_path):
    env = _embedded(tmp_path) | {"STREAM_PORT": str(free_port(4490))}
    refused = _start("streams", env)
    assert refused.returncode == 1
    assert "not starting" in refused.stderr and "manage.py migrate" in refused.stderr
    assert "collectstatic" not in refused.stderr  # it serves no static files
    refused = manage("runsyncloop", "--once", env=env, timeout=60)
    assert refused.returncode == 1
    assert "not starting" in refused.stderr and "manage.py migrate" in refused.stderr
    assert "cycle=" not in refused.stderr  # no cycle ran

    assert manage("migrate", "--noinput", "-v0", env=env).returncode == 0
    log = tmp_path / "streams.log"
    with Server("streams", env=env, log=log, port_from=4490):
        pass  # listening: no collectstatic needed
    assert "not starting" not in log.read_text()
    # It starts (its cycle then fails: no visitor table, which seed_visitors creates here).
    started = manage("runsyncloop", "--once", env=env, timeout=60)
    assert "is now the sync leader" in started.stderr, started.stderr
    assert "not starting" not in started.stderr


def test_after_migrate_and_collectstatic_every_page_answers(tmp_path):
    env = _embedded(tmp_path)
    with Server("web", env=env, log=tmp_path / "web.log", port_from=4480) as web:
        for path in ("/", "/docs", "/admin/login/"):
            with urllib.request.urlopen(web.url + path, timeout=20) as answer:
                assert answer.status == 200, path
    assert "Traceback" not in (tmp_path / "web.log").read_text()
