"""Live push under load: idle Server-Sent-Event streams held on one streams process.

The Procfile's ``streams`` process (``python -m library_dashboard.server streams``, one
worker, ``STREAM_MAX_CLIENTS`` raised for the run) and ``manage.py runsyncloop`` (a cycle a
second) share the server core; the load client (``bench.sse_load``, one process, epoll)
holds the streams from the other core. At each level the run reports the streams held,
the worker's resident memory per 1,000 streams and its CPU while idle, then inserts one
check-in for today every few seconds: the loop counts it within a second and publishes,
and every stream should get an ``update``. Delivery time = the kernel's receive stamp on
the client's socket minus the instant the update stands for (``bench.sse_load``).

Then warm ``/summary`` under wrk (``bench.http``: the web server, one worker on the server
core, up for the whole section) with no stream held (before the first opens and after the last closes) and with
``stream_wrk_held`` streams held, idle, then with a check-in a second (the old service's
condition: it sent an update every loop cycle), so that the streams process fans out an
update a second while wrk runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from bench import http
from bench.config import ROOT, BenchConfig
from bench.stats import median

STREAM_PATH = "/api/visitors/today/stream"
LOOP_INTERVAL_MS = 1000
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the processes -------------------------------------------------------------------------
def loop_command() -> str:
    return (
        f"VISITOR_SYNC_MIN_INTERVAL_MS={LOOP_INTERVAL_MS} TODAY_COUNT_MODE=direct "
        "python manage.py runsyncloop"
    )


def _heartbeat() -> dict[str, Any]:
    from visitors import cache, keys

    beat = cache.safe("get", keys.SYNC_HEARTBEAT)
    return beat if isinstance(beat, dict) and not beat.get("error") else {}


def _heartbeat_at() -> str | None:
    return _heartbeat().get("at")


@contextlib.contextmanager
def sync_loop(config: BenchConfig) -> Iterator[subprocess.Popen[bytes]]:
    """``runsyncloop`` at a cycle a second on the server core, once it has run a cycle."""
    env = {
        **os.environ,
        **config.environment(),
        "VISITOR_SYNC_MIN_INTERVAL_MS": str(LOOP_INTERVAL_MS),
        "TODAY_COUNT_MODE": "direct",
    }
    before = _heartbeat_at()
    process = subprocess.Popen(
        http.manage("runsyncloop", cpus=config.server_cpu), cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 120
        while _heartbeat_at() in (None, before):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("runsyncloop did not complete a cycle")
            time.sleep(0.1)
        yield process
    finally:
        http.stop(process)


def streams_environment(config: BenchConfig, port: int) -> dict[str, str]:
    return {
        "STREAM_PORT": str(port),
        "STREAM_WORKERS": "1",
        "STREAM_MAX_CLIENTS": str(config.stream_max_clients),
    }


def streams_command(config: BenchConfig) -> str:
    variables = {**streams_environment(config, 0), "STREAM_PORT": "<free port>"}
    return " ".join(
        [
            *(f"{k}={v}" for k, v in variables.items()),
            *http._pin(config.server_cpu),
            "python -m library_dashboard.server streams",
        ]
    )


@contextlib.contextmanager
def streams_server(config: BenchConfig, port: int) -> Iterator[int]:
    """The streams process (the Procfile's), pinned to the server core; yields its worker's
    pid once it accepts connections."""
    env = {**os.environ, **config.environment(), **streams_environment(config, port)}
    argv = [*http._pin(config.server_cpu), sys.executable, "-m", "library_dashboard.server"]
    process = subprocess.Popen([*argv, "streams"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the streams server did not start")
            workers = http.children(process.pid)
            with socket.socket() as probe:
                if workers and probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        time.sleep(0.5)  # the worker's first read of the published responses
        yield workers[0]
    finally:
        http.stop(process)


class LoadClient:
    """``bench.sse_load`` in its own process on the client core, one JSON line each way."""

    def __init__(self, config: BenchConfig, port: int) -> None:
        argv = [*http._pin(config.client_cpu), sys.executable, "-m", "bench.sse_load"]
        argv += ["--port", str(port), "--path", STREAM_PATH]
        self.process = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the load client exited ({self.process.wait()})")
        return json.loads(line)

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Not reading the streams while the block runs."""
        self.ask(pause=True)
        try:
            yield
        finally:
            self.ask(resume=True)

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                self.ask(quit=True)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- measurements ---------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CheckIns:
    """One check-in for today at a time, as the gate system writes them; removed at the end
    so the measured table stays as it was loaded."""

    def __init__(self) -> None:
        from visitors.seeding import Population

        self.rng = random.Random(12)
        self.population = Population.build(50, self.rng)
        self.ids: list[int] = []
        self.lock = threading.Lock()

    def insert(self) -> None:
        from django.db import connections

        from visitors.clock import local_now
        from visitors.seeding import INSERT_SQL, checkin

        with self.lock:
            row = checkin(
                local_now().replace(tzinfo=None, microsecond=0), self.population, self.rng
            )
        with connections["visitors"].cursor() as cursor:
            cursor.execute(INSERT_SQL, list(row))
            with self.lock:
                self.ids.append(cursor.lastrowid)

    def remove(self) -> None:
        from django.db import connections

        with connections["visitors"].cursor() as cursor:
            for start in range(0, len(self.ids), 1000):
                chunk = self.ids[start : start + 1000]
                marks = ",".join(["%s"] * len(chunk))
                cursor.execute(f"DELETE FROM visitor_count WHERE visitor_id IN ({marks})", chunk)
        self.ids.clear()


@contextlib.contextmanager
def checkins_every(checkins: CheckIns, seconds: float) -> Iterator[None]:
    """A check-in every ``seconds`` in a thread, while the block runs."""
    from django.db import connections

    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.wait(seconds):
                checkins.insert()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="bench-checkins", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def level(
    config: BenchConfig, client: LoadClient, worker: int, rss_zero: int, checkins: CheckIns
) -> dict[str, Any]:
    """Memory, idle CPU, then ``stream_updates`` updates at the streams now held."""
    rss = http.rss_kib(worker)
    cpu_before, started = cpu_seconds(worker), time.monotonic()
    time.sleep(config.stream_idle_s)
    idle_cpu = (cpu_seconds(worker) - cpu_before) / (time.monotonic() - started)
    client.ask(mark=True)
    cycles = []
    for _ in range(config.stream_updates):
        checkins.insert()
        time.sleep(config.stream_update_interval_s)
        cycles.append(_heartbeat().get("total_ms", float("nan")))
    figures = client.ask(
        report={"expect": config.stream_updates, "timeout": config.stream_update_interval_s + 5}
    )
    return {
        "worker_rss_mib": rss / 1024,
        "idle_cpu_percent": idle_cpu * 100,
        "idle_seconds": config.stream_idle_s,
        "updates": config.stream_updates,
        "loop_cycle_ms": median(cycles),
        "loadavg_1m": os.getloadavg()[0],
        **figures,
        "rss_per_1000_kib": (rss - rss_zero) / (figures["streams"] / 1000)
        if figures["streams"]
        else float("nan"),
    }


def summary_under_load(
    config: BenchConfig,
    client: LoadClient | None,
    checkins: CheckIns,
    held: int,
    *,
    updates: bool = True,
) -> dict[str, Any]:
    """wrk on warm ``/summary`` (the web server is up) while ``held`` streams are held, with
    a check-in (so an update) a second or none; the load client stops reading meanwhile
    (its core is wrk's)."""
    url = f"http://127.0.0.1:{config.port}{http.PATHS['summary']}"
    paused = contextlib.nullcontext() if client is None else client.paused()
    driven = checkins_every(checkins, 1.0) if updates else contextlib.nullcontext()
    with paused, driven:
        if not config.smoke:  # warm-up
            http.load(url, connections=config.connections, duration=1, cpus=None)
        runs = [
            http.load(
                url,
                connections=config.connections,
                duration=config.wrk_duration,
                cpus=config.client_cpu,
            )
            for _ in range(config.wrk_runs)
        ]
    result = {
        "streams_held": held,
        "updates_per_s": 1 if updates else 0,
        "rps": median([r["rps"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "errors": sum(r["errors"] for r in runs),
        "runs": runs,
        "loadavg_1m": os.getloadavg()[0],
    }
    driving = "an update a second" if updates else "no update"
    print(
        f"bench: streams /summary with {held:6,} streams held, {driving:18}: "
        f"{result['rps']:7.0f} req/s p99={result['p99_ms']:.1f}ms errors={result['errors']}"
    )
    return result


def _print_level(result: dict[str, Any]) -> None:
    print(
        f"bench: streams {result['level']:6,}: held {result['held']:,} "
        f"(failed {result['grow']['failed']}), {result['rss_per_1000_kib']:.0f} KiB/1000, "
        f"idle CPU {result['idle_cpu_percent']:.1f}%, delivery p50={result['p50_ms']:.0f}ms "
        f"p99={result['p99_ms']:.0f}ms max={result['max_ms']:.0f}ms, "
        f"{result['updates_seen']}/{result['updates']} updates, "
        f"{result['clients_missing_updates']} streams missed some, "
        f"{result['mislabelled']} mislabelled, {result['stale']} stale"
    )


def streams(config: BenchConfig) -> dict[str, Any]:
    port = free_port()
    checkins = CheckIns()
    levels: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    points = sorted({*config.stream_levels, config.stream_wrk_held})
    web = http.ServerSpec(http.PRIMARY, 1, config.server_cpu)
    try:
        with (
            sync_loop(config),
            streams_server(config, port) as worker,
            http.server(web, config),
        ):
            rss_zero = http.rss_kib(worker)
            client = LoadClient(config, port)
            try:
                summary.append(summary_under_load(config, client, checkins, 0))
                for point in points:
                    grown = client.ask(grow=point)
                    if point in config.stream_levels:
                        levels.append(
                            {
                                "level": point,
                                "grow": grown,
                                **level(config, client, worker, rss_zero, checkins),
                            }
                        )
                        _print_level(levels[-1])
                    if point == config.stream_wrk_held:
                        for updates in (False, True):
                            summary.append(
                                summary_under_load(
                                    config, client, checkins, grown["held"], updates=updates
                                )
                            )
            finally:
                client.close()
            # The baseline again, every stream closed: the machine is shared and noisy.
            summary.append(summary_under_load(config, None, checkins, 0))
    finally:
        checkins.remove()
    base = median([run["rps"] for run in summary if run["streams_held"] == 0])
    idle = [run for run in summary if run["streams_held"] and not run["updates_per_s"]]
    held = [run for run in summary if run["streams_held"] and run["updates_per_s"]]
    return {
        "path": STREAM_PATH,
        "server_command": streams_command(config),
        "loop_command": loop_command(),
        "web_command": web.command(),
        "client_command": f"taskset -c {config.client_cpu} python -m bench.sse_load",
        "update_interval_s": config.stream_update_interval_s,
        "worker_rss_zero_mib": rss_zero / 1024,
        "levels": levels,
        "summary": summary,
        "summary_baseline_rps": base,
        "summary_cost_percent": (1 - held[0]["rps"] / base) * 100 if held else None,
        "summary_idle_cost_percent": (1 - idle[0]["rps"] / base) * 100 if idle else None,
    }
