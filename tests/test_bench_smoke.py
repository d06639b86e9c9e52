"""The benchmark harness works end to end: ``python -m bench --smoke`` on a tiny table.

It runs in a subprocess against its own MariaDB database and this run's Redis database and
must write its report (and raw results) to the directory given, never to ``docs/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import MySQLdb
import pytest

from bench.config import DOCS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def smoke_db_name():
    name = os.environ.get("TEST_DB_NAME", "test_library_dashboard") + "_bench_smoke"
    yield name
    connection = MySQLdb.connect(
        host=os.environ.get("TEST_DB_HOST", "127.0.0.1"),
        port=int(os.environ.get("TEST_DB_PORT", "3306")),
        user=os.environ.get("TEST_DB_USER", "root"),
        passwd=os.environ.get("TEST_DB_PASSWORD", ""),
    )
    try:
        connection.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        connection.close()


@pytest.mark.slow
def test_smoke_run_writes_a_report(tmp_path, smoke_db_name):
    docs_before = {p: p.stat().st_mtime for p in DOCS.glob("*")} if DOCS.exists() else {}
    env = {
        **os.environ,
        "BENCH_DB_HOST": os.environ.get("TEST_DB_HOST", "127.0.0.1"),
        "BENCH_DB_PORT": os.environ.get("TEST_DB_PORT", "3306"),
        "BENCH_DB_USER": os.environ.get("TEST_DB_USER", "root"),
        "BENCH_DB_PASSWORD": os.environ.get("TEST_DB_PASSWORD", ""),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)),
            *("--db-name", smoke_db_name, "--redis-url", redis_url),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    report = (tmp_path / "BENCHMARKS.md").read_text()
    assert report.startswith("# Benchmarks (smoke run")
    for heading in ("## Targets", "## Sync loop cycle", "## Daily job", "## Cold start"):
        assert heading in report
    assert "## Warm HTTP" in report and "## Pollers" in report and "## Memory" in report
    assert "## Live push: idle streams" in report
    assert "Machine: " in report and "python -m bench --smoke" in report

    results = json.loads((tmp_path / "benchmarks-smoke.json").read_text())
    assert results["dataset"]["rows"] == 3000
    assert {(r["layer"], r["mode"]) for r in results["loop"]} == {
        (layer, mode) for layer in ("raw", "orm") for mode in ("direct", "delta", "incremental")
    }
    assert all(r["median_ms"] > 0 for r in results["loop"])
    assert all(item["rps"] > 0 and item["errors"] == 0 for item in results["http"])
    assert all(level["errors"] == 0 for level in results["load"]["levels"])
    assert results["load"]["memory"]["web_worker_rss_mib"] > 10
    # The side-by-side section runs without the old service in a smoke run, and says so.
    assert "## This service against the old one" in report and "not built in a smoke" in report
    compared = {row["contender"] for row in results["compare"]["rows"]}
    assert compared == {"new, 1 core", "new, no loop, 1 core", "ceiling, 1 core"}
    assert all(row["rps"] > 0 and row["errors"] == 0 for row in results["compare"]["rows"])
    assert "## Where the time goes" in report
    assert "## Rankings: the old GROUP BYs" in report and "## What each payload adds" in report
    assert set(results["rankings"]["cold_ms"]) >= {"monthly-top", "faculties-yearly-top"}
    assert results["payloads"]["build_median_ms"]["today"] >= 0
    assert results["when_where"]["report_days"] >= 1826 and "## When and where" in report
    (level,) = results["streams"]["levels"]
    assert level["level"] == level["held"] == level["streams"] == 50
    assert level["updates_seen"] == level["updates"] == 2
    assert level["deliveries"] == 100 and level["clients_missing_updates"] == 0
    assert 0 < level["p50_ms"] <= level["p99_ms"] <= level["max_ms"] < 10_000
    assert level["untimed_reads"] == 0  # every read came with the kernel's receive stamp
    # /summary: held idle once, then one pair (smoke): no stream held, then 50 held again.
    streams = results["streams"]
    assert [
        (run["role"], run["streams_held"], run["updates_per_s"]) for run in streams["summary"]
    ] == [("idle", 50, 0), ("baseline", 0, 1), ("loaded", 50, 1)]
    assert all(run["rps"] > 0 and run["errors"] == 0 for run in streams["summary"])
    (pair,) = streams["summary_pairs"]
    assert pair["first"] == "baseline" and pair["streams_held"] == 50
    assert streams["summary_cost_percent"] == pair["cost_percent"]
    assert pair["web_cpu_percent"] > 0 and pair["streams_cpu_percent"] >= 0
    closed, grown = streams["summary_closes_and_regrows"]
    assert closed["close"]["closed"] == 50 and closed["close"]["sockets_left"] <= 5
    assert grown["grow"]["held"] == 50
    assert "| pair | first | req/s without |" in report

    docs_after = {p: p.stat().st_mtime for p in DOCS.glob("*")} if DOCS.exists() else {}
    assert docs_after == docs_before, "the smoke run must not touch docs/"


WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:18731/api/visitors/summary
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.10ms    4.01ms  81.22ms   93.14%
    Req/Sec     4.52k   312.11     4.91k    87.00%
  Latency Distribution
     50%    6.42ms
     75%    7.31ms
     90%    8.90ms
     99%    1.02s
  45012 requests in 10.01s, 61.20MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   4496.70
Transfer/sec:      6.11MB
"""


def test_wrk_output_is_parsed():
    from bench.http import parse_wrk

    assert parse_wrk(WRK_OUTPUT) == {
        "rps": 4496.70,
        "p50_ms": 6.42,
        "p99_ms": 1020.0,
        "errors": 9,
        "requests": 45012,
    }


def test_sse_load_client_parses_chunked_events_split_anywhere():
    """The load client's reader: chunk framing and events cut at every byte boundary."""
    import socket

    from bench.sse_load import Stream, identify, parse_event

    update = b'event: update\ndata: {"total":7,"generated_at":"2026-12-03T13:16:39.5+07:00"}\n\n'
    body = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part)
        for part in (b'event: init\ndata: {"total":6}\n\n', b": keepalive\n\n", update)
    )
    for cut in range(1, len(body)):
        with socket.socket() as sock:
            stream = Stream(sock)
            blocks = []
            for piece in (body[:cut], body[cut:]):
                stream.raw += piece
                assert stream.dechunk()
                blocks += stream.events()
            assert [parse_event(block)[0] for block in blocks] == [b"init", b"", b"update"]
            _, data, event_id = parse_event(blocks[2])
            assert event_id is None and identify(data) == (7, 1796278599500.0)
            stream.raw += b"0\r\n\r\n"
            assert not stream.dechunk()  # the response ended
    assert identify(b"1796278599501") == (1796278599501, 1796278599501.0)  # id: version, ms
