"""The old service against this one, side by side in one run (issue 13's yardstick).

Each contender runs alone on the server core(s), wrk on the other core, in rounds that
alternate (old, new, ceiling, old, new, ceiling, ...) so that whatever else the shared
machine does falls on all of them alike; a figure is the median of the rounds.

- ``old``: the Fastify service at its first README's commit (``bench.legacy``), one Node
  process with its loop inside;
- ``new``: this service as the README runs it: the Procfile's ``web`` command
  (``WEB_CONCURRENCY`` workers) and ``manage.py runsyncloop`` on the same core(s);
- ``new, no loop``: the same web server with the loop stopped (answers computed on a miss
  and kept for their fallback TTL, pre-rendered too);
- ``ceiling``: a bare WSGI app returning fixed bytes on the same server options
  (``bench.ceiling``), one core.

Warm answers only (every path requested once before measuring); with keep-alive
connections (wrk's default) and without (``Connection: close``: a new connection per
request). On one core, and on two (the old service is one process; it is given both cores).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench import legacy
from bench.config import ROOT, BenchConfig
from bench.http import _pin, load, manage, stop, warm_cache
from bench.stats import median

ALL_PATHS = {
    name: f"/api/visitors/{name}" for name in ("today", "summary", "weekly", "monthly", "yearly")
}
CLOSE = ("Connection", "close")


@dataclass(frozen=True)
class Contender:
    name: str  # old | new | ceiling
    cpus: str
    workers: int = 1
    loop: bool = True  # new: with the sync loop (as the Procfile runs it) or stopped

    @property
    def label(self) -> str:
        cores = len(self.cpus.split(","))
        loop = "" if self.loop else ", no loop"
        return f"{self.name}{loop}, {cores} core{'s' if cores > 1 else ''}"


@dataclass(frozen=True)
class Case:
    """What one wrk run asks: a path, and whether connections are kept alive."""

    path: str
    keep_alive: bool

    @property
    def label(self) -> str:
        return f"{self.path} {'keep-alive' if self.keep_alive else 'close'}"


def _wait(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                response.read()
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@contextlib.contextmanager
def running(
    contender: Contender, config: BenchConfig, old: legacy.Legacy | None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The contender's processes (the server last), started, warm on every path, stopped
    afterwards."""
    base = {**os.environ, **config.environment()}
    port = str(config.port)
    processes: list[subprocess.Popen[bytes]] = []
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if not _port_free(config.port):  # else wrk would measure whatever holds it
        raise RuntimeError(f"port {config.port} is taken: stop what listens there, or --port")
    try:
        if contender.name == "old":
            assert old is not None
            env = {**os.environ, **old.environment(config, config.port)}
            processes.append(
                subprocess.Popen(old.argv(contender.cpus), cwd=old.directory, env=env, **quiet)
            )
        elif contender.name == "new":
            env = {**base, "PORT": port, "WEB_CONCURRENCY": str(contender.workers)}
            if contender.loop:
                loop = manage("runsyncloop", cpus=contender.cpus)
                processes.append(subprocess.Popen(loop, cwd=ROOT, env=env))
            argv = [*_pin(contender.cpus), sys.executable, "-m", "library_dashboard.server", "web"]
            processes.append(subprocess.Popen(argv, cwd=ROOT, env=env))
        else:
            env = {**base, "PORT": port, "WEB_CONCURRENCY": str(contender.workers)}
            argv = [*_pin(contender.cpus), sys.executable, "-m", "bench.ceiling"]
            processes.append(subprocess.Popen(argv, cwd=ROOT, env=env))
        paths = ALL_PATHS.values() if contender.name != "ceiling" else ["/"]
        for path in paths:  # the old service computes a series on its first request
            _wait(f"http://127.0.0.1:{port}{path}", timeout=60)
        time.sleep(1.0)
        exited = [p.args for p in processes if p.poll() is not None]
        if exited:
            raise RuntimeError(f"{contender.label}: exited during start-up: {exited}")
        yield processes
    finally:
        for process in reversed(processes):
            stop(process)


def cases(config: BenchConfig, contender: Contender) -> list[Case]:
    if contender.name == "ceiling":
        return [Case("/", True), Case("/", False)]
    first = list(ALL_PATHS.values())[:2]  # today, summary
    if len(contender.cpus.split(",")) > 1 or not contender.loop:
        return [Case(path, True) for path in first]
    rest = list(ALL_PATHS.values())[2:] if not config.smoke else []
    return [
        *(Case(path, True) for path in first),
        *(Case(path, False) for path in first),
        *(Case(path, True) for path in rest),
        *(Case(path, False) for path in rest),
    ]


def contenders(config: BenchConfig, have_old: bool) -> list[Contender]:
    one, both = config.server_cpu, f"{config.server_cpu},{config.client_cpu}"
    listed = [Contender("old", one), Contender("new", one), Contender("ceiling", one)]
    # A stopped loop: values computed on a miss are kept FALLBACK_TTL, pre-rendered too.
    listed.append(Contender("new", one, loop=False))
    if (os.cpu_count() or 1) >= 2 and not config.smoke:
        listed += [Contender("old", both), Contender("new", both, workers=2)]
    return [c for c in listed if have_old or c.name != "old"]


def _one(url: str, case: Case, contender: Contender, config: BenchConfig) -> dict[str, Any]:
    shared = "," in contender.cpus
    headers = () if case.keep_alive else (CLOSE,)
    return load(
        url,
        connections=config.connections,
        duration=config.wrk_duration,
        cpus=None if shared else config.client_cpu,
        headers=headers,
    )


def side_by_side(config: BenchConfig) -> dict[str, Any]:
    built = legacy.prepare(config) if config.legacy else "not built in a smoke run"
    old = built if isinstance(built, legacy.Legacy) else None
    listed = contenders(config, old is not None)
    warm_cache(config)
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for round_number in range(config.wrk_runs):
        for contender in listed:
            with running(contender, config, old):
                for case in cases(config, contender):
                    url = f"http://127.0.0.1:{config.port}{case.path}"
                    result = _one(url, case, contender, config)
                    runs.setdefault((contender.label, case.label), []).append(result)
                    print(
                        f"bench: compare round {round_number + 1} {contender.label:14} "
                        f"{case.label:34} {result['rps']:8.0f} req/s "
                        f"p99={result['p99_ms']:.1f}ms errors={result['errors']}"
                    )
    rows = []
    for (label, case_label), results in runs.items():
        rows.append(
            {
                "contender": label,
                "case": case_label,
                "rps": median([r["rps"] for r in results]),
                "p50_ms": median([r["p50_ms"] for r in results]),
                "p99_ms": median([r["p99_ms"] for r in results]),
                "errors": sum(r["errors"] for r in results),
                "rounds": [round(r["rps"]) for r in results],
            }
        )
    return {
        "old_built": old is not None,
        "old_reason": None if old else built,
        "old_commit": legacy.LEGACY_COMMIT,
        "old_command": " ".join(old.argv(config.server_cpu)) if old else None,
        "new_command": (
            "WEB_CONCURRENCY=1 taskset -c 0 python -m library_dashboard.server web "
            "+ taskset -c 0 python manage.py runsyncloop"
        ),
        "rows": rows,
    }
