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
core, up for the whole section) at ``stream_wrk_held`` streams: once with them held idle,
then what holding them costs with a check-in a second (the old service's condition: it sent
an update every loop cycle), so that the streams process fans out an update a second while
wrk runs. The machine is shared and its speed drifts by more than that cost between runs
minutes apart, so the cost is measured in ``stream_cost_pairs`` pairs of back-to-back wrk
runs, one with no stream held (the load client closes every stream and the streams worker's
sockets are seen to go) and one with ``stream_wrk_held`` held (``grow`` opens them again),
both with a check-in a second, the order alternating (A-B, B-A, ...) so that drift falls on
both sides; each pair gives a cost, the figure is their median (and their spread). On
the bench machine, closing 5,000 streams took 0.1-0.3 s until the streams worker had let go
of their sockets, and opening them again 0.6-1.6 s (a run is 10 s): cheap enough that the
runs without streams hold none at all, rather than holding them with updates paused.

The streams worker's CPU is also read over each run: its CPU seconds during a loaded run
over the updates published in it is the fan-out's cost per update, measured directly.
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
SOCKETS_LEFT = 5  # streams the worker may still hold when "every stream has closed"
CLOSE_TIMEOUT_S = 60.0
REPORT_WAIT_S = 2.0  # after a loaded run: the last updates reach the (resumed) client


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

    def close_all(self, worker: int, sockets_zero: int) -> dict[str, Any]:
        """Close every stream (``close_all``), then wait until the streams worker holds no
        more sockets than it did before any stream opened (``SOCKETS_LEFT`` may linger): it
        has seen every stream go and ended its response."""
        started = time.monotonic()
        answer = self.ask(close_all=True)
        while (left := socket_fds(worker) - sockets_zero) > SOCKETS_LEFT:
            if time.monotonic() - started > CLOSE_TIMEOUT_S:
                break
            time.sleep(0.02)
        return {**answer, "server_seconds": time.monotonic() - started, "sockets_left": left}

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


def socket_fds(pid: int) -> int:
    """Open sockets of ``pid`` (every stream is one)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    return count


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


def summary_run(
    config: BenchConfig,
    client: LoadClient,
    *,
    held: int,
    updates: bool,
    worker: int,
    web_worker: int | None,
) -> dict[str, Any]:
    """One wrk run on warm ``/summary`` (the web server is up) while ``held`` streams are
    held, with a check-in (so an update) a second, which the caller's ``checkins_every``
    inserts, or none; the load client stops reading meanwhile (its core is wrk's; the
    kernel keeps what arrives, stamped).

    The CPU seconds of the streams worker and of the web worker are read around the wrk run
    itself. With streams held and updates, the updates published during it are counted
    afterwards from what the streams received (each update's instant, ``published_ms``,
    within the run): the streams worker's CPU seconds over them is the fan-out's CPU per
    update. An update published just before the run spends some of its fan-out inside it,
    one just before the end some after it: at a steady update a second, these cancel."""
    url = f"http://127.0.0.1:{config.port}{http.PATHS['summary']}"
    counting = held > 0 and updates
    if counting:
        client.ask(mark=True)
    with client.paused():
        if not config.smoke:  # warm-up; the streams worker settles after a close or grow
            http.load(url, connections=config.connections, duration=1, cpus=None)
        streams_cpu, web_cpu = cpu_seconds(worker), _cpu_or_nan(web_worker)
        first_ms, started = time.time() * 1000, time.monotonic()
        run = http.load(
            url,
            connections=config.connections,
            duration=config.wrk_duration,
            cpus=config.client_cpu,
        )
        seconds, last_ms = time.monotonic() - started, time.time() * 1000
        streams_cpu = cpu_seconds(worker) - streams_cpu
        web_cpu = _cpu_or_nan(web_worker) - web_cpu
    result: dict[str, Any] = {
        "streams_held": held,
        "updates_per_s": 1 if updates else 0,
        "rps": run["rps"],
        "p50_ms": run["p50_ms"],
        "p99_ms": run["p99_ms"],
        "errors": run["errors"],
        "runs": [run],
        "seconds": seconds,
        "streams_cpu_s": streams_cpu,
        "streams_cpu_percent": streams_cpu / seconds * 100,
        "web_cpu_percent": web_cpu / seconds * 100,
        "loadavg_1m": os.getloadavg()[0],
    }
    if counting:
        figures = client.ask(report={"expect": 10**9, "timeout": REPORT_WAIT_S})
        pushed = [u for u in figures["per_update"] if first_ms <= u["published_ms"] < last_ms]
        result.update(
            {
                "updates": len(pushed),
                "fanout_cpu_ms_per_update": streams_cpu * 1000 / len(pushed)
                if pushed
                else float("nan"),
                "delivery_p99_ms": max((u["p99_ms"] for u in pushed), default=float("nan")),
                "clients_missing_updates": figures["clients_missing_updates"],
            }
        )
    condition = "an update a second" if updates else "no update"
    print(
        f"bench: streams /summary with {held:6,} streams held, {condition:18}: "
        f"{result['rps']:7.0f} req/s p99={result['p99_ms']:.1f}ms errors={result['errors']}, "
        f"streams worker {result['streams_cpu_percent']:.1f}% CPU, "
        f"web worker {result['web_cpu_percent']:.0f}% CPU"
        + (
            f", {result['updates']} updates: {result['fanout_cpu_ms_per_update']:.1f} ms CPU each"
            if counting
            else ""
        )
    )
    return result


def _cpu_or_nan(pid: int | None) -> float:
    return cpu_seconds(pid) if pid else float("nan")


def summary_cost(
    config: BenchConfig,
    client: LoadClient,
    checkins: CheckIns,
    *,
    target: int,
    held: int,
    worker: int,
    web_worker: int | None,
    sockets_zero: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """What holding ``target`` streams costs warm ``/summary`` with an update a second:
    ``stream_cost_pairs`` pairs of wrk runs, each one run with no stream held and one with
    ``target`` held, a check-in a second in both, the order alternating (baseline first,
    then loaded first, ...; so B-A follows A-B without a change in between) so that the
    machine's drift falls on both sides alike. ``held`` streams are held on entry.

    No stream held means none at all: the load client closes every stream and the
    streams worker is seen to drop their sockets (``LoadClient.close_all``), then ``grow``
    opens ``target`` again. Both take seconds at 5,000 (the module's docstring), much less
    than a run, and happen before the warm-up. Answers the runs (in order), the pairs and
    the closes and regrows."""
    runs: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    # A check-in a second, steady from the first run's start to the last's end.
    with checkins_every(checkins, 1.0):
        for number in range(1, config.stream_cost_pairs + 1):
            order = ("baseline", "loaded") if number % 2 else ("loaded", "baseline")
            pair: dict[str, dict[str, Any]] = {}
            for role in order:
                wanted = target if role == "loaded" else 0
                if bool(held) != bool(wanted):
                    change = _hold(client, wanted, worker, sockets_zero)
                    changes.append({"pair": number, **change})
                    held = change["held"]
                run = summary_run(
                    config,
                    client,
                    held=held,
                    updates=True,
                    worker=worker,
                    web_worker=web_worker,
                )
                run.update({"pair": number, "role": role})
                runs.append(run)
                pair[role] = run
            base, loaded = pair["baseline"], pair["loaded"]
            pairs.append(
                {
                    "pair": number,
                    "first": order[0],
                    "streams_held": loaded["streams_held"],
                    "baseline_rps": base["rps"],
                    "loaded_rps": loaded["rps"],
                    "cost_percent": (1 - loaded["rps"] / base["rps"]) * 100,
                    "baseline_p99_ms": base["p99_ms"],
                    "loaded_p99_ms": loaded["p99_ms"],
                    "errors": base["errors"] + loaded["errors"],
                    "updates": loaded.get("updates", 0),
                    "fanout_cpu_ms_per_update": loaded.get(
                        "fanout_cpu_ms_per_update", float("nan")
                    ),
                    "streams_cpu_percent": loaded["streams_cpu_percent"],
                    "baseline_streams_cpu_percent": base["streams_cpu_percent"],
                    "web_cpu_percent": loaded["web_cpu_percent"],
                    "baseline_web_cpu_percent": base["web_cpu_percent"],
                    "delivery_p99_ms": loaded.get("delivery_p99_ms", float("nan")),
                }
            )
            print(
                f"bench: streams /summary pair {number}/{config.stream_cost_pairs} "
                f"({order[0]} first): {base['rps']:,.0f} -> {loaded['rps']:,.0f} req/s with "
                f"{loaded['streams_held']:,} held, cost {pairs[-1]['cost_percent']:.1f}%"
            )
    return runs, pairs, changes


def _hold(client: LoadClient, wanted: int, worker: int, sockets_zero: int) -> dict[str, Any]:
    """Close every stream (``wanted`` 0), or open ``wanted`` from none."""
    if not wanted:
        closed = client.close_all(worker, sockets_zero)
        print(
            f"bench: streams closed {closed['closed']:,} in {closed['seconds']:.2f}s; the "
            f"worker let go of them in {closed['server_seconds']:.2f}s "
            f"({closed['sockets_left']} sockets over its count with none)"
        )
        return {"close": closed, "held": 0}
    grown = client.ask(grow=wanted)
    print(
        f"bench: streams opened {grown['held']:,} again in {grown['seconds']:.2f}s "
        f"({grown['failed']} failed)"
    )
    return {"grow": grown, "held": grown["held"]}


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
    pairs: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    points = sorted({*config.stream_levels, config.stream_wrk_held})
    web = http.ServerSpec(http.PRIMARY, 1, config.server_cpu)
    try:
        with (
            sync_loop(config),
            streams_server(config, port) as worker,
            http.server(web, config) as web_process,
        ):
            web_worker = next(iter(http.children(web_process.pid)), None)
            rss_zero, sockets_zero = http.rss_kib(worker), socket_fds(worker)
            client = LoadClient(config, port)
            try:
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
                        idle = summary_run(
                            config,
                            client,
                            held=grown["held"],
                            updates=False,
                            worker=worker,
                            web_worker=web_worker,
                        )
                        summary.append({**idle, "role": "idle"})
                        runs, pairs, changes = summary_cost(
                            config,
                            client,
                            checkins,
                            target=point,
                            held=grown["held"],
                            worker=worker,
                            web_worker=web_worker,
                            sockets_zero=sockets_zero,
                        )
                        summary.extend(runs)
            finally:
                client.close()
    finally:
        checkins.remove()
    costs = [pair["cost_percent"] for pair in pairs]
    idle_run = next((run for run in summary if run.get("role") == "idle"), None)
    # The held-idle run against the baseline run right after it (one run each, and the
    # baseline has a check-in a second: indicative only).
    after_idle = next((run for run in summary if run.get("role") == "baseline"), None)
    result = {
        "path": STREAM_PATH,
        "server_command": streams_command(config),
        "loop_command": loop_command(),
        "web_command": web.command(),
        "client_command": f"taskset -c {config.client_cpu} python -m bench.sse_load",
        "update_interval_s": config.stream_update_interval_s,
        "worker_rss_zero_mib": rss_zero / 1024,
        "levels": levels,
        "summary": summary,
        "summary_pairs": pairs,
        "summary_closes_and_regrows": changes,
        "summary_baseline_rps": median([pair["baseline_rps"] for pair in pairs]),
        "summary_loaded_rps": median([pair["loaded_rps"] for pair in pairs]),
        "summary_cost_percent": median(costs) if costs else None,
        "summary_cost_min_percent": min(costs, default=None),
        "summary_cost_max_percent": max(costs, default=None),
        "summary_idle_cost_percent": (1 - idle_run["rps"] / after_idle["rps"]) * 100
        if idle_run and after_idle
        else None,
        "fanout_cpu_ms_per_update": median(  # a run with no update counted gives NaN
            [pair["fanout_cpu_ms_per_update"] for pair in pairs if pair["updates"]]
        ),
        "fanout_streams_cpu_percent": median([pair["streams_cpu_percent"] for pair in pairs]),
        "summary_web_cpu_percent": median([pair["web_cpu_percent"] for pair in pairs]),
        "summary_baseline_web_cpu_percent": median(
            [pair["baseline_web_cpu_percent"] for pair in pairs]
        ),
    }
    if costs:
        print(
            f"bench: streams /summary with {pairs[0]['streams_held']:,} held and an update a "
            f"second costs {result['summary_cost_percent']:.1f}% of its req/s (median of "
            f"{len(costs)} pair{'s' if len(costs) > 1 else ''}, {min(costs):.1f}% to "
            f"{max(costs):.1f}%); the fan-out: "
            f"{result['fanout_cpu_ms_per_update']:.1f} ms of the streams worker's CPU per "
            f"update ({result['fanout_streams_cpu_percent']:.1f}% CPU); web worker "
            f"{result['summary_web_cpu_percent']:.0f}% CPU (without streams: "
            f"{result['summary_baseline_web_cpu_percent']:.0f}%)"
        )
    return result
