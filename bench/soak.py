"""Soak under faults: the whole service for minutes while its Redis and MariaDB fail.

The run owns a MariaDB and a Redis of its own (``tests.services``: their own ports and
directories, so they can be killed), loads a small table into that MariaDB, and starts the
service as the Procfile does: the web server (the README's default worker count), the
streams server and the sync loop. Then, for ``soak_seconds``:

- an inserter adds check-ins for today at a steady rate and, after each, reads the true
  count of today (the timeline every answer is checked against);
- pollers request every catalogued endpoint, ``/health`` and ``/`` in turn;
- stream clients hold ``/api/visitors/today/stream``, reconnecting as EventSource does;
- Redis is killed and restarted twice, MariaDB once.

Reported: requests, every non-200 with its status and reason, today's count in
``/today`` and ``/summary`` checked against the timeline (current, marked stale, or wrong),
the RSS of every process at the start and the end, and the stream clients whose last value
is not the final count once the inserts stop.
"""

from __future__ import annotations

import bisect
import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.config import ROOT, BenchConfig
from bench.http import children, cpu_seconds, manage, rss_kib, stop
from tests.services import OwnMariaDB, OwnRedis, free_port, wait_until
from tests.sse_client import EventStream

# Today's count in an answer may lag the table by the life of a published or request-path
# value (5 s at this interval: ``LoopConfig.key_ttl``, ``FALLBACK_TTL``), the per-process
# memo (``HTTP_MEMO_MS``, 1 s) and a request in flight; anything older that is not marked
# stale is wrong.
SYNC_INTERVAL_MS = 1000
POLL_GAP_S = 0.05  # each poller: about 20 requests a second
# A browser does not keep one connection for ten minutes: its idle timeout, a proxy or a
# tab reload opens a new one. Reconnecting lets every web worker accept pollers, not only
# the one that happened to accept all of them at the start.
RECONNECT_EVERY = 200  # requests, about 10 s per poller
TODAY_PATH, SUMMARY_PATH = "/api/visitors/today", "/api/visitors/summary"
ALLOWED_LAG_S = 7.0
DB_NAME = "library_soak"


@dataclass
class Timeline:
    """Today's true count over time (monotonic seconds), as the inserter read it, and the
    most it may be at any moment: an insert under way may already show in an answer."""

    times: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    ceiling_times: list[float] = field(default_factory=list)
    ceilings: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, at: float, count: int) -> None:
        with self.lock:
            self.times.append(at)
            self.counts.append(count)
            self.ceiling_times.append(at)
            self.ceilings.append(count)

    def inserting(self, at: float) -> None:
        """An insert starts: from now on, answers may show one more."""
        with self.lock:
            self.ceiling_times.append(at)
            self.ceilings.append((self.counts[-1] if self.counts else 0) + 1)

    @staticmethod
    def _at(times: list[float], values: list[int], moment: float) -> int:
        index = bisect.bisect_right(times, moment) - 1
        return values[max(index, 0)]

    def at(self, moment: float) -> int:
        with self.lock:
            return self._at(self.times, self.counts, moment)

    def most(self, moment: float) -> int:
        with self.lock:
            return self._at(self.ceiling_times, self.ceilings, moment)

    def verdict(self, total: int, *, sent: float, received: float, stale: bool) -> str:
        """current | stale (marked, never ahead of the table) | wrong."""
        if stale:
            return "stale" if total <= self.most(received) else "wrong"
        if self.at(sent - ALLOWED_LAG_S) <= total <= self.most(received):
            return "current"
        return "wrong"


@dataclass
class Tally:
    requests: int = 0
    failures: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    wrong: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _today_total(path: str, body: Any) -> tuple[int, bool, Any] | None:
    """(today's count, marked stale, source) in a /today or /summary answer."""
    field = {TODAY_PATH: "total", SUMMARY_PATH: "today"}.get(path)
    if field is None or not isinstance(body, dict) or not isinstance(body.get(field), int):
        return None
    return body[field], bool(body.get("stale")), body.get("source")


def poller(
    port: int, paths: list[str], timeline: Timeline, tally: Tally, until: threading.Event
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sent_on_connection = 0
    while not until.is_set():
        for path in paths:
            if sent_on_connection >= RECONNECT_EVERY:
                connection.close()
                sent_on_connection = 0
            sent_on_connection += 1
            sent = time.monotonic()
            try:
                connection.request("GET", path, headers={"Accept": "application/json"})
                response = connection.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                with tally.lock:
                    tally.requests += 1
                    tally.failures[(path, "no answer", type(exc).__name__)] += 1
                continue
            received = time.monotonic()
            until.wait(POLL_GAP_S)
            with tally.lock:
                tally.requests += 1
                if response.status != 200:
                    reason = raw[:120].decode(errors="replace").replace("\n", " ")
                    tally.failures[(path, str(response.status), reason)] += 1
                    continue
            if not path.startswith("/api/"):
                continue
            found = _today_total(path, json.loads(raw))
            if found is None:
                continue
            total, stale, source = found
            verdict = timeline.verdict(total, sent=sent, received=received, stale=stale)
            with tally.lock:
                tally.verdicts[verdict] += 1
                if verdict == "wrong" and len(tally.wrong) < 200:
                    tally.wrong.append(
                        {
                            "at_s": round(received - timeline.times[0], 1),
                            "path": path,
                            "total": total,
                            "table": timeline.at(received),
                            "source": source,
                        }
                    )


class StreamClient(threading.Thread):
    """One EventSource-like client: keeps the last total it was told; reconnects."""

    def __init__(self, port: int, until: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.until = port, until
        self.last: int | None = None
        self.reconnects = 0

    def run(self) -> None:
        while not self.until.is_set():
            try:
                with EventStream("127.0.0.1", self.port, "/api/visitors/today/stream") as stream:
                    while not self.until.is_set():
                        event = stream.next(timeout=60)
                        if event is None:
                            break
                        if event.name in ("init", "update"):
                            self.last = event.json()["total"]
            except (OSError, AssertionError, http.client.HTTPException, ValueError):
                pass
            self.reconnects += 1
            self.until.wait(1.0)


class Inserter(threading.Thread):
    """Check-ins for today at ``rate_per_s``; after each, today's true count."""

    def __init__(self, db: OwnMariaDB, rate_per_s: float, timeline: Timeline) -> None:
        super().__init__(daemon=True)
        self.db, self.rate, self.timeline = db, rate_per_s, timeline
        self.stopping = threading.Event()
        self.failed = 0

    def _count_and_insert(self, insert: bool) -> int:
        import MySQLdb

        from visitors.clock import local_now

        now = local_now().replace(tzinfo=None, microsecond=0)
        start = now.replace(hour=0, minute=0, second=0)
        connection = MySQLdb.connect(
            host="127.0.0.1", port=self.db.port, user="root", db=DB_NAME, connect_timeout=2
        )
        try:
            cursor = connection.cursor()
            if insert:
                cursor.execute(
                    "INSERT INTO visitor_count (member_id, member_name, institution, room_code,"
                    " checkin_date) VALUES (%s, %s, %s, %s, %s)",
                    ["SOAK", "Soak Test", "F01", "R1", now],
                )
                connection.commit()
            cursor.execute(
                "SELECT COUNT(*) FROM visitor_count WHERE checkin_date >= %s AND checkin_date < %s",
                [start, start + timedelta(days=1)],
            )
            return int(cursor.fetchone()[0])
        finally:
            connection.close()

    def run(self) -> None:
        import MySQLdb

        while not self.stopping.wait(1 / self.rate):
            self.timeline.inserting(time.monotonic())
            try:
                self.timeline.add(time.monotonic(), self._count_and_insert(True))
            except MySQLdb.Error:
                self.failed += 1

    def settle(self) -> int:
        """Stop inserting; the final count (retried until MariaDB answers)."""
        self.stopping.set()
        self.join()
        for _ in range(60):
            try:
                count = self._count_and_insert(False)
                self.timeline.add(time.monotonic(), count)
                return count
            except Exception:
                time.sleep(1)
        raise RuntimeError("MariaDB did not answer after the soak")


def _pids(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, int]:
    """Every process by name, the servers' workers included."""
    out: dict[str, int] = {}
    for name, process in processes.items():
        out[name] = process.pid
        for n, pid in enumerate(children(process.pid), start=1):
            out[f"{name} worker {n}"] = pid
    return out


def _rss(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, int]:
    """RSS in KiB of every process, the servers' workers included."""
    return {name: rss_kib(pid) for name, pid in _pids(processes).items()}


def _cpu_s(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """CPU seconds (user + system) every process has used so far: which worker worked."""
    return {name: cpu_seconds(pid) for name, pid in _pids(processes).items()}


@contextlib.contextmanager
def service(env: dict[str, str], logs: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    started: dict[str, subprocess.Popen[bytes]] = {}
    commands: dict[str, list[str]] = {
        "loop": manage("runsyncloop"),
        "web": [sys.executable, "-m", "library_dashboard.server", "web"],
        "streams": [sys.executable, "-m", "library_dashboard.server", "streams"],
    }
    try:
        for name, argv in commands.items():
            log = (logs / f"{name}.log").open("ab")
            started[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)
        yield started
    finally:
        for process in started.values():
            stop(process)


def _faults(seconds: float) -> list[tuple[float, str, float]]:
    """(at, what, down for): Redis twice, MariaDB once."""
    return [
        (0.2 * seconds, "redis", 5.0),
        (0.45 * seconds, "mariadb", 10.0),
        (0.7 * seconds, "redis", 5.0),
    ]


def _prepare(env: dict[str, str], rows: int) -> None:
    """The README's set-up steps in the run's own VAR_DIR, and the table."""
    for args in (
        ("migrate", "--noinput"),
        ("collectstatic", "--noinput"),
        ("seed_visitors", "--rows", str(rows), "--days", "400", "--database", "visitors"),
    ):
        subprocess.run(manage(*args), cwd=ROOT, env=env, check=True, capture_output=True)


def soak(config: BenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    from visitors.endpoints import CATALOGUE

    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    (workdir / "redis").mkdir()
    (workdir / "mariadb").mkdir()
    db = OwnMariaDB(workdir / "mariadb")
    redis = OwnRedis(workdir / "redis")
    db.start()
    redis.start()
    db.execute(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4")
    port = free_port(config.port + 100)
    env = {
        **os.environ,
        **config.environment(),
        "DB_PORT": str(db.port),
        "DB_USER": "root",
        "DB_PASSWORD": "",
        "DB_NAME": DB_NAME,
        "REDIS_URL": redis.url,
        "PORT": str(port),
        "STREAM_PORT": str(free_port(port + 1)),
        "VISITOR_SYNC_MIN_INTERVAL_MS": str(SYNC_INTERVAL_MS),
        "VAR_DIR": str(workdir / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
    }
    env.pop("WEB_CONCURRENCY", None)  # the README's default
    _prepare(env, config.soak_rows)
    paths = [endpoint.url_path for endpoint in CATALOGUE] + ["/health", "/"]
    timeline, tally, until = Timeline(), Tally(), threading.Event()
    inserter = Inserter(db, config.soak_insert_rate, timeline)
    timeline.add(time.monotonic(), inserter._count_and_insert(False))
    done_faults: list[dict[str, Any]] = []
    with service(env, workdir) as processes:
        wait_until(lambda: _answers(port, "/api/visitors/summary"), "the web server", 60)
        stream_port = int(env["STREAM_PORT"])
        wait_until(lambda: _answers(stream_port, "/health/streams", any_status=True), "streams", 60)
        pollers = [
            threading.Thread(target=poller, args=(port, paths, timeline, tally, until))
            for _ in range(config.soak_pollers)
        ]
        streams = [StreamClient(stream_port, until) for _ in range(config.soak_streams)]
        for thread in [*pollers, *streams]:
            thread.start()
        inserter.start()
        started = time.monotonic()
        # "At the start": once the first requests have warmed every process, before a fault.
        time.sleep(0.15 * config.soak_seconds)
        rss_start, cpu_start = _rss(processes), _cpu_s(processes)
        rss_series: list[tuple[int, dict[str, int]]] = []
        sampler = threading.Thread(
            target=_sample_rss, args=(processes, started, rss_series, until), daemon=True
        )
        sampler.start()
        for at, what, down in _faults(config.soak_seconds):
            time.sleep(max(0.0, started + at - time.monotonic()))
            log(f"bench: soak t={time.monotonic() - started:.0f}s: {what} down for {down:.0f}s")
            if what == "redis":
                redis.stop()
                time.sleep(down)
                redis.start()
            else:
                db.kill()
                time.sleep(down)
                db.start()
            done_faults.append({"at_s": round(at), "what": what, "down_s": down})
        time.sleep(max(0.0, started + config.soak_seconds - time.monotonic()))
        final = inserter.settle()
        # The loop publishes the final count within a cycle; streams then tell every client.
        time.sleep(3 * SYNC_INTERVAL_MS / 1000 + 2)
        rss_end, cpu_end = _rss(processes), _cpu_s(processes)
        until.set()
        missed = [client.last for client in streams if client.last != final]
    for thread in pollers:
        thread.join(15)
    redis.stop()
    db.kill()
    growth = {
        name: round(100 * (rss_end.get(name, 0) - kib) / kib, 1)
        for name, kib in rss_start.items()
        if kib
    }
    return {
        "started": started_at,
        "seconds": config.soak_seconds,
        "rows": config.soak_rows,
        "insert_rate_per_s": config.soak_insert_rate,
        "inserted": final - timeline.counts[0],
        "insert_failures": inserter.failed,
        "pollers": config.soak_pollers,
        "poller_reconnect_every": RECONNECT_EVERY,
        "streams": config.soak_streams,
        "faults": done_faults,
        "requests": tally.requests,
        "failures": [
            {"path": p, "status": s, "reason": r, "count": n}
            for (p, s, r), n in tally.failures.most_common()
        ],
        "verdicts": dict(tally.verdicts),
        "wrong_examples": tally.wrong,
        "rss_start_kib": rss_start,
        "rss_end_kib": rss_end,
        "rss_growth_pct": growth,
        # Between the two RSS readings: a web worker near 0 carried none of the load.
        "cpu_s": {
            name: round(cpu_end[name] - spent, 1)
            for name, spent in cpu_start.items()
            if name in cpu_end  # a worker that was gone or new at the end: no figure
        },
        # RSS (KiB) of the web workers every minute: growth that levels off is warm-up.
        "rss_series": [
            {"at_s": at, **{k: v for k, v in rss.items() if "worker" in k or k == "loop"}}
            for at, rss in rss_series
        ],
        "final_count": final,
        "streams_missing_final": len(missed),
        "stream_reconnects": sum(client.reconnects for client in streams),
        "logs": str(workdir),
    }


def _sample_rss(
    processes: dict[str, subprocess.Popen[bytes]],
    started: float,
    series: list[tuple[int, dict[str, int]]],
    until: threading.Event,
) -> None:
    while not until.wait(60):
        series.append((round(time.monotonic() - started), _rss(processes)))


def _answers(port: int, path: str, *, any_status: bool = False) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", path)
        status = connection.getresponse().status
        connection.close()
        return any_status or status == 200
    except OSError:
        return False
