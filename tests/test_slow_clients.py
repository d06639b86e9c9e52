"""Slow and idle clients cannot starve the web server (bench/slow_clients.py, bounded).

The real web server as the README runs it by default (one worker per CPU, WEB_THREADS 4,
HTTP_HEADER_TIMEOUT_S 10) with the sync loop keeping the answers warm. 1,000 connections
trickle their headers one byte a second and 1,000 keep-alive connections sit idle, all on
loopback; meanwhile a normal client asks every served endpoint, /health and / in turn, on
new connections: the 99th percentile stays under 100 ms, nothing but 200 comes back, and
the trickling clients are cut off at the header timeout. The test probes for 20 s (the
minute-long figure: ``python -m bench.slow_clients``, docs/OPERATIONS.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from bench.slow_clients import (
    PROBED_PATHS,
    HostileProcess,
    probe,
    summary,
    timed_get,
)
from tests.conftest import ALL_DATABASES
from tests.processes import Server, manage, services_env, start_manage
from tests.services import wait_until
from tests.test_streams import insert_today

TRICKLING = IDLE = 1000
PROBE_SECONDS = 20
HEADER_TIMEOUT_S = 10  # the default

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(databases=ALL_DATABASES, transaction=True),
]


@pytest.fixture
def warm_web(tmp_path: Path) -> Iterator[Server]:
    with connections["visitors"].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")
    insert_today(3)
    env = services_env(tmp_path)
    assert "WEB_CONCURRENCY" not in env and "WEB_THREADS" not in env
    collected = manage("collectstatic", "--noinput", env=env)  # the page at / needs them
    assert collected.returncode == 0, collected.stderr
    loop = start_manage(
        "runsyncloop", "--interval", "1000", "--buffer", "100", env=env, log=tmp_path / "loop.log"
    )
    # The Server helper pins one worker; here the README's default: one per CPU.
    server = Server("web", env=env, log=tmp_path / "web.log", port_from=4460)
    server.env.pop("WEB_CONCURRENCY")
    try:
        with server:
            for path in PROBED_PATHS:
                wait_until(
                    lambda p=path: timed_get("127.0.0.1", server.port, p)[0] == 200, f"200 {path}"
                )
            yield server
    finally:
        loop.terminate()
        loop.wait(15)


def test_normal_requests_stay_fast_under_1000_trickling_and_1000_idle_clients(warm_web):
    hostile = HostileProcess("127.0.0.1", warm_web.port, trickling=TRICKLING, idle=IDLE)
    hostile.start()
    try:
        assert hostile.opened == {"trickling": TRICKLING, "idle": IDLE}
        hostile.measuring()
        results = probe("127.0.0.1", warm_web.port, seconds=PROBE_SECONDS)
    finally:
        report = hostile.stop()
    rows = summary(results)
    table = "\n".join(f"{name}: {row}" for name, row in rows.items())
    assert all(row["non_200"] == 0 for row in rows.values()), table
    assert rows["all"]["n"] >= 5 * len(PROBED_PATHS), table
    assert rows["all"]["p99_ms"] < 100, table
    # Every hostile client stayed in play (a server that refused them proves nothing) ...
    assert report.min_open["trickling"] >= TRICKLING * 0.95, (report.min_open, report.errors)
    assert report.min_open["idle"] >= IDLE * 0.95, (report.min_open, report.errors)
    assert report.idle_answered >= IDLE, report.idle_answered
    assert not report.errors, report.errors
    # ... and the trickling ones were cut off at the header timeout, not before, not long after.
    cuts = report.trickling_cut_after_s
    assert len(cuts) >= TRICKLING * 0.9, len(cuts)
    assert min(cuts) >= HEADER_TIMEOUT_S - 0.5, min(cuts)
    assert max(cuts) <= HEADER_TIMEOUT_S + 3, max(cuts)
    log = (Path(warm_web.log)).read_text()
    assert "Traceback" not in log
    print(table, f"cpus={os.cpu_count()}", sep="\n")
