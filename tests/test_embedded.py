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


# Another process's write lands between a transaction's read and its write: the pattern of
# Django's database cache (a SELECT, then an UPDATE, in one transaction) while the sync loop
# publishes and its lock is renewed from another thread.
_INTERLEAVED_WRITES = """
import threading
from django.db import connection, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS interleaved (name TEXT PRIMARY KEY, n INT)")
    cursor.execute("INSERT OR REPLACE INTO interleaved VALUES ('lock', 0), ('other', 0)")
other_done = threading.Event()
outcome = {}

def other_writer():
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE interleaved SET n = n + 1 WHERE name = 'other'")
        outcome["other"] = "ok"
    except Exception as exc:
        outcome["other"] = repr(exc)
    finally:
        connection.close()
        other_done.set()

try:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT n FROM interleaved WHERE name = 'lock'")
        thread = threading.Thread(target=other_writer)
        thread.start()
        other_done.wait(0.5)  # it wrote meanwhile, or it waits for this transaction
        cursor.execute("UPDATE interleaved SET n = n + 1 WHERE name = 'lock'")
    outcome["renewal"] = "ok"
except Exception as exc:
    outcome["renewal"] = repr(exc)
thread.join(15)
print("OUTCOME", sorted(outcome.items()))
"""


def test_a_write_between_a_transactions_read_and_write_does_not_fail_it(embedded):
    """On SQLite a deferred transaction that read, then finds another connection has
    written, cannot write at all ('database is locked', at once, whatever the timeout).
    Django's database cache swallows that error: the loop's lock renewal then read as a lost
    lock, and ``make run`` lost and retook its leader lock every few seconds. Transactions
    start IMMEDIATE (take the write lock up front), so both writes land, one after the
    other."""
    embedded("migrate", "--noinput", "-v0")
    out = embedded("shell", "-c", _INTERLEAVED_WRITES).stdout
    assert "OUTCOME [('other', 'ok'), ('renewal', 'ok')]" in out, out
