"""The embedded default: no DB_HOST, no REDIS_URL. SQLite plus Django's database cache,
shared by separate processes (the sync loop and the web server)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def embedded(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "REDIS", "DJANGO", "TODAY", "USE_", "VISITOR"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "library_dashboard.settings",
            "DOTENV_PATH": os.devnull,
            "VAR_DIR": str(tmp_path),
            "SECRET_KEY": "embedded-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "DEBUG": "false",
        }
    )

    def manage(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result

    return manage


@pytest.mark.slow
def test_loop_and_web_share_the_embedded_cache(embedded, tmp_path):
    embedded("migrate", "--noinput", "-v0")
    embedded("createcachetable")
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
