"""HTTP measurements: the web server pinned to one core, wrk pinned to the other.

Also the poller load test (many clients on ``/summary`` with the sync loop running, MariaDB
``Com_select`` per second) and the resident memory of a web worker and of the loop.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import ROOT, BenchConfig
from bench.stats import median, percentile

PATHS = {"today": "/api/visitors/today", "summary": "/api/visitors/summary"}
PRIMARY = "1 worker, 1 core (the Procfile's web)"


@dataclass(frozen=True)
class ServerSpec:
    """The Procfile's ``web`` process (library_dashboard/server.py) in one layout."""

    name: str
    workers: int
    cpus: str
    env: tuple[tuple[str, str], ...] = ()
    short: str = ""  # chart label

    def argv(self) -> list[str]:
        return [*_pin(self.cpus), sys.executable, "-m", "library_dashboard.server", "web"]

    def environment(self, port: int) -> dict[str, str]:
        return {"PORT": str(port), "WEB_CONCURRENCY": str(self.workers), **dict(self.env)}

    def command(self) -> str:
        variables = {"WEB_CONCURRENCY": str(self.workers), **dict(self.env)}
        argv = " ".join(self.argv()).replace(sys.executable, "python")
        return " ".join([*(f"{k}={v}" for k, v in variables.items()), argv])


def _pin(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


def _wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not answer within {timeout:.0f}s")


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds (nothing if it has ended)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def server(spec: ServerSpec, config: BenchConfig) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, **config.environment(), **spec.environment(config.port)}
    process = subprocess.Popen(spec.argv(), cwd=ROOT, env=env)
    try:
        _wait_ready(f"http://127.0.0.1:{config.port}{PATHS['today']}")
        yield process
    finally:
        stop(process)


def manage(*args: str, cpus: str | None = None) -> list[str]:
    return [*_pin(cpus), sys.executable, str(ROOT / "manage.py"), *args]


def warm_cache(config: BenchConfig) -> None:
    """One sync cycle with a long key TTL: every payload is a cache hit for the HTTP runs."""
    env = {**os.environ, **config.environment()}
    subprocess.run(
        manage("runsyncloop", "--once", "--interval", "600000"),
        cwd=ROOT,
        env=env,
        check=True,
    )


# -- load generators ---------------------------------------------------------------------
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _duration_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    """req/s, p50, p99 and errors from ``wrk --latency`` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.M))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = re.search(r"(\d+) requests in", output)
    return {
        "rps": rps,
        "p50_ms": _duration_ms(latency["50"]),
        "p99_ms": _duration_ms(latency["99"]),
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
        "requests": int(requests.group(1)) if requests else 0,
    }


Headers = tuple[tuple[str, str], ...]


def wrk(
    url: str,
    *,
    connections: int,
    duration: int,
    cpus: str | None,
    threads: int = 1,
    headers: Headers = (),
) -> dict[str, Any]:
    argv = [*_pin(cpus), "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s"]
    for name, value in headers:
        argv += ["-H", f"{name}: {value}"]
    argv += ["--latency", "--timeout", "5s", url]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def python_load(
    url: str, *, connections: int, duration: int, headers: Headers = ()
) -> dict[str, Any]:
    """Fallback when wrk is absent: keep-alive clients in threads (much slower than wrk)."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    latencies: list[float] = []
    errors = [0]
    deadline = time.monotonic() + duration
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        mine: list[float] = []
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                conn.request("GET", path, headers=dict(headers))
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    errors[0] += 1
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
            except OSError:
                errors[0] += 1
                conn.close()
            mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "errors": errors[0],
        "requests": len(latencies),
    }


def load(
    url: str, *, connections: int, duration: int, cpus: str | None, headers: Headers = ()
) -> dict[str, Any]:
    """wrk (or the Python fallback): req/s, p50, p99, errors; ``headers`` on every request
    (``Connection: close`` for a new connection per request)."""
    if shutil.which("wrk"):
        return wrk(url, connections=connections, duration=duration, cpus=cpus, headers=headers)
    return python_load(url, connections=connections, duration=duration, headers=headers)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": median([r["rps"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "errors": sum(r["errors"] for r in runs),
        "runs": runs,
    }


def server_specs(config: BenchConfig) -> list[ServerSpec]:
    one = config.server_cpu
    both = f"{config.server_cpu},{config.client_cpu}"
    drf = (("HTTP_FAST_PATH", "false"),)
    specs = [
        ServerSpec(PRIMARY, 1, one, short="1 worker\n1 core"),
        ServerSpec(f"DRF path (HTTP_FAST_PATH=false): {PRIMARY}", 1, one, drf, short="DRF\n1 core"),
    ]
    if (os.cpu_count() or 1) >= 2:
        specs.append(ServerSpec("2 workers, 2 cores", 2, both, short="2 workers\n2 cores"))
    return specs[:1] if config.smoke else specs


def warm_http(config: BenchConfig) -> list[dict[str, Any]]:
    """req/s, p50, p99 per endpoint and server layout (median of ``wrk_runs`` runs)."""
    warm_cache(config)
    results = []
    for spec in server_specs(config):
        with server(spec, config):
            for name, path in PATHS.items():
                url = f"http://127.0.0.1:{config.port}{path}"
                load(url, connections=config.connections, duration=1, cpus=None)  # warm-up
                shared = "," in spec.cpus
                runs = [
                    load(
                        url,
                        connections=config.connections,
                        duration=config.wrk_duration,
                        cpus=None if shared else config.client_cpu,
                    )
                    for _ in range(config.wrk_runs)
                ]
                result = {
                    "server": spec.name,
                    "primary": spec.name == PRIMARY,
                    "short": spec.short or spec.name,
                    "endpoint": name,
                    "command": spec.command(),
                }
                result.update(_median_run(runs))
                result["loadavg_1m"] = os.getloadavg()[0]
                results.append(result)
                print(
                    f"bench: http {spec.name:38} {name:8} {result['rps']:7.0f} req/s "
                    f"p50={result['p50_ms']:.1f}ms p99={result['p99_ms']:.1f}ms"
                )
    return results


# -- load test with the loop running -----------------------------------------------------
def com_select() -> int:
    from django.db import connections

    with connections["visitors"].cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Com_select'")
        return int(cursor.fetchone()[1])


def service_queries(config: BenchConfig) -> int:
    """Questions the service's own processes (web + loop) asked MariaDB, from ``/metrics``."""
    url = f"http://127.0.0.1:{config.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return round(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("visitors_db_query_duration_seconds_count")
        )
    )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (0.0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@contextlib.contextmanager
def sync_loop(config: BenchConfig) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, **config.environment()}
    process = subprocess.Popen(manage("runsyncloop"), cwd=ROOT, env=env)
    try:
        time.sleep(2.0)
        yield process
    finally:
        stop(process)


def _window(config: BenchConfig) -> tuple[float, int, int]:
    return time.monotonic(), com_select(), service_queries(config)


def _rates(config: BenchConfig, start: tuple[float, int, int]) -> dict[str, float]:
    seconds = time.monotonic() - start[0]
    return {
        "db_queries_per_s": (com_select() - start[1]) / seconds,
        "service_queries_per_s": (service_queries(config) - start[2]) / seconds,
    }


def pollers(config: BenchConfig) -> dict[str, Any]:
    """Clients hammering /summary with the loop running: errors, p99, DB queries/s; RSS."""
    spec = server_specs(config)[-1]
    url = f"http://127.0.0.1:{config.port}{PATHS['summary']}"
    levels = []
    with sync_loop(config) as loop, server(spec, config) as web:
        for clients in config.load_clients:
            start = _window(config)
            result = load(url, connections=clients, duration=config.load_duration, cpus=None)
            result.update({"clients": clients, **_rates(config, start)})
            levels.append(result)
            print(
                f"bench: pollers {clients:4} clients {result['rps']:7.0f} req/s "
                f"p99={result['p99_ms']:.1f}ms errors={result['errors']} "
                f"db={result['db_queries_per_s']:.1f} q/s "
                f"service={result['service_queries_per_s']:.2f} q/s"
            )
        start = _window(config)
        time.sleep(max(1, min(10, config.load_duration)))
        idle = _rates(config, start)
        workers = children(web.pid)
        memory = {
            "web_worker_rss_mib": max((rss_kib(pid) for pid in workers), default=0) / 1024,
            "web_main_rss_mib": rss_kib(web.pid) / 1024,
            "loop_rss_mib": rss_kib(loop.pid) / 1024,
        }
    return {
        "server": spec.name,
        "command": spec.command(),
        "duration_s": config.load_duration,
        "baseline_db_queries_per_s": idle["db_queries_per_s"],
        "baseline_service_queries_per_s": idle["service_queries_per_s"],
        "levels": levels,
        "memory": memory,
    }
