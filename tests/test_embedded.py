"""The embedded default: no DB_HOST, no REDIS_URL. SQLite plus Django's database cache,
shared by separate processes (the sync loop and the web server)."""

import json
import subprocess

import pytest

from tests.processes import TEST_SECRET_KEY, clean_env, manage


@pytest.fixture
def embedded(tmp_path):
    """``manage.py`` with no DB_HOST and no REDIS_URL, in its own VAR_DIR."""
    env = clean_env(VAR_DIR=str(tmp_path), SECRET_KEY=TEST_SECRET_KEY, DEBUG="false")

    def run(*args: str) -> subprocess.CompletedProcess:
        result = manage(*args, env=env)
        assert result.returncode == 0, result.stderr
        return result

    return run


@pytest.mark.slow
def test_loop_and_web_share_the_embedded_cache(embedded, tmp_path):
    embedded("migrate", "--noinput", "-v0")  # also creates the cache table
    embedded("seed_visitors", "--demo")
    assert (tmp_path / "visitors.sqlite3").exists()
    assert "cycle=1 mode=direct" in embedded("runsyncloop", "--once").stderr

    # Another process, as a web worker would be: every payload is a hit on the shared cache.
    out = embedded(
        "shell",
        "-c",
        "import json; from django.test import Client; c = Client();"
        "print(json.dumps([c.get('/api/visitors/' + p).json() for p in "
        "('today', 'weekly', 'summary')]))",
    )
    today, weekly, summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert today["source"] == "cache" and weekly["source"] == "cache"
    assert summary["source"] == "today:cache,weekly:cache,monthly:cache,yearly:cache"
    assert summary["today"] == today["total"] == weekly["days"][-1]["total"]
    assert sum(y["total"] for y in summary["yearly"]) > 0  # the demo rows are served
