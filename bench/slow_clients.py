"""Hostile clients against the web server: normal requests must not notice them.

``python -m bench.slow_clients [--port 3000] [--seconds 60] [--trickling 1000] [--idle 1000]``

- ``trickling`` connections send a request's headers one byte a second, and never finish
  them; each one the server cuts off is replaced by a new one, so that many are always in
  play, and the time from its first byte to the cut is recorded;
- ``idle`` connections make one complete request, read the answer and then stay open
  (keep-alive) without a word; when the server closes one, it is replaced too;
- meanwhile one normal client asks for every served endpoint, ``/health`` and ``/`` in
  turn, each on a new connection, and records the latency (connect to last byte).

Prints the latency percentiles per path and overall, and how long the server let the
slow clients trickle. tests/test_slow_clients.py runs the same, shorter; the minute-long
figure is in docs/OPERATIONS.md.
"""

from __future__ import annotations

import argparse
import errno
import http.client
import multiprocessing
import resource
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from bench.stats import percentile

TRICKLED = b"GET /api/visitors/today HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
SERVED_PATHS = (
    "/api/visitors/today",
    "/api/visitors/weekly",
    "/api/visitors/monthly",
    "/api/visitors/yearly",
    "/api/visitors/summary",
)
PROBED_PATHS = (*SERVED_PATHS, "/health", "/")


def raise_open_files_limit(needed: int) -> int:
    """The soft limit up to the hard one: every hostile client is a socket here too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        raise RuntimeError(f"need {needed} open files, the hard limit is {hard}")
    return hard


@dataclass
class _Conn:
    kind: str  # "trickling" or "idle"
    sock: socket.socket
    opened: float
    sent: int = 0
    answered: bool = False


@dataclass
class HostileReport:
    trickling_cut_after_s: list[float] = field(default_factory=list)
    idle_closed_after_s: list[float] = field(default_factory=list)
    idle_answered: int = 0
    closed_at: list[float] = field(default_factory=list)  # time.monotonic() of each close
    min_open: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


class HostileClients:
    """``trickling`` + ``idle`` connections to ``host:port``, kept in play by one thread."""

    def __init__(self, host: str, port: int, *, trickling: int = 1000, idle: int = 1000) -> None:
        self.host, self.port = host, port
        self.wanted = {"trickling": trickling, "idle": idle}
        self.report = HostileReport()
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostile-clients", daemon=True)
        self._open = {"trickling": 0, "idle": 0}
        self._measuring = False

    def start(self, timeout: float = 60) -> HostileClients:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("could not open the hostile connections in time")
        return self

    def measuring(self) -> None:
        """From now on, record the fewest connections in play (checked once a second)."""
        self.report.min_open = dict(self._open)
        self._measuring = True

    def open_now(self) -> dict[str, int]:
        return dict(self._open)

    def stop(self) -> HostileReport:
        self._stop.set()
        self._thread.join(30)
        return self.report

    # -- the thread ----------------------------------------------------------------------
    def _error(self, what: str) -> None:
        self.report.errors[what] = self.report.errors.get(what, 0) + 1

    def _connect(self, kind: str, attempts: int = 3) -> None:
        """One connection of ``kind``; a connect that fails is retried at once (when a whole
        cohort is cut at the same instant, 1,000 reconnect together and the odd one can
        fail on the client's side); an error is recorded only when every attempt failed."""
        for attempt in range(attempts):
            sock = socket.socket()
            try:
                sock.settimeout(5)
                sock.connect((self.host, self.port))
                if kind == "idle":
                    sock.sendall(b"GET /api/visitors/today HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                else:
                    sock.send(TRICKLED[:1])
                sock.setblocking(False)
                break
            except OSError as exc:
                sock.close()
                if attempt == attempts - 1:
                    self._error(f"connect: {errno.errorcode.get(exc.errno or 0, exc)}")
                    return
                time.sleep(0.01)
        conn = _Conn(kind, sock, time.monotonic(), sent=1 if kind == "trickling" else 0)
        self._selector.register(sock, selectors.EVENT_READ, conn)
        self._open[kind] += 1

    def _close(self, conn: _Conn, *, by_server: bool) -> None:
        self._selector.unregister(conn.sock)
        conn.sock.close()
        self._open[conn.kind] -= 1
        if by_server:
            self.report.closed_at.append(time.monotonic())
            lived = time.monotonic() - conn.opened
            if conn.kind == "trickling":
                self.report.trickling_cut_after_s.append(lived)
            else:
                self.report.idle_closed_after_s.append(lived)

    def _readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn, by_server=True)
        elif conn.kind == "idle" and not conn.answered:
            conn.answered = True
            self.report.idle_answered += 1
        elif conn.kind == "trickling":
            # An error answer (408, 400) before the close: the close follows.
            pass

    def _tick(self) -> None:
        for key in list(self._selector.get_map().values()):
            conn: _Conn = key.data
            if conn.kind != "trickling":
                continue
            if conn.sent >= len(TRICKLED):
                continue
            try:
                conn.sock.send(TRICKLED[conn.sent : conn.sent + 1])
                conn.sent += 1
            except BlockingIOError:
                pass
            except OSError:
                self._close(conn, by_server=True)

    def _refill(self) -> None:
        for kind, wanted in self.wanted.items():
            while self._open[kind] < wanted and not self._stop.is_set():
                before = self._open[kind]
                self._connect(kind)
                if self._open[kind] == before:
                    break  # refused: try again next round

    def _run(self) -> None:
        self._refill()
        self._ready.set()
        next_tick = time.monotonic() + 1
        while not self._stop.is_set():
            timeout = max(0.0, next_tick - time.monotonic())
            for key, _ in self._selector.select(timeout):
                self._readable(key.data)
            if time.monotonic() >= next_tick:
                self._tick()
                next_tick += 1
                self._refill()
                # After each second's replacements; not once stopping (the refill stops
                # too, and a cohort cut just then would count as never replaced).
                if self._measuring and not self._stop.is_set():
                    for kind, count in self._open.items():
                        self.report.min_open[kind] = min(self.report.min_open[kind], count)
        for key in list(self._selector.get_map().values()):
            key.data.sock.close()
        self._selector.close()


def _hostile_process(host: str, port: int, trickling: int, idle: int, pipe) -> None:
    raise_open_files_limit(trickling + idle + 256)
    hostile = HostileClients(host, port, trickling=trickling, idle=idle)
    hostile.start()
    pipe.send(hostile.open_now())
    pipe.recv()  # measuring
    hostile.measuring()
    pipe.recv()  # stop
    pipe.send(hostile.stop())


class HostileProcess:
    """HostileClients in a child process: its work never competes with the measuring
    client for this process's interpreter lock."""

    def __init__(self, host: str, port: int, *, trickling: int = 1000, idle: int = 1000) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_hostile_process, args=(host, port, trickling, idle, child), daemon=True
        )
        self.opened: dict[str, int] = {}

    def start(self, timeout: float = 120) -> HostileProcess:
        self._process.start()
        if not self._pipe.poll(timeout):
            raise RuntimeError("the hostile clients did not open in time")
        self.opened = self._pipe.recv()
        return self

    def measuring(self) -> None:
        self._pipe.send("measuring")

    def stop(self, timeout: float = 60) -> HostileReport:
        self._pipe.send("stop")
        if not self._pipe.poll(timeout):
            self._process.kill()
            raise RuntimeError("the hostile clients did not stop in time")
        report = self._pipe.recv()
        self._process.join(10)
        return report


def timed_get(host: str, port: int, path: str, timeout: float = 10) -> tuple[int, float]:
    """Status and seconds from connect to the last byte, on a new connection."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Accept": "*/*"})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def probe(
    host: str, port: int, *, seconds: float, paths: tuple[str, ...] = PROBED_PATHS, pause=0.02
) -> dict[str, list[tuple[int, float, float]]]:
    """Every path in turn, for ``seconds``: path -> [(status, latency s, monotonic start)]."""
    results: dict[str, list[tuple[int, float, float]]] = {path: [] for path in paths}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in paths:
            at = time.monotonic()
            try:
                results[path].append((*timed_get(host, port, path), at))
            except OSError:
                results[path].append((0, float("inf"), at))
            time.sleep(pause)
    return results


def summary(results: dict[str, list[tuple[int, float, float]]]) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    everything = [sample for samples in results.values() for sample in samples]
    for name, samples in [*results.items(), ("all", everything)]:
        latencies = [sample[1] for sample in samples]
        rows[name] = {
            "n": len(latencies),
            "non_200": sum(1 for sample in samples if sample[0] != 200),
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "max_ms": max(latencies) * 1000,
        }
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--trickling", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=1000)
    args = parser.parse_args(argv)
    hostile = HostileProcess(args.host, args.port, trickling=args.trickling, idle=args.idle)
    hostile.start()
    print(f"open: {hostile.opened}; probing for {args.seconds:g} s", flush=True)
    hostile.measuring()
    results = probe(args.host, args.port, seconds=args.seconds)
    report = hostile.stop()
    print(f"{'path':<24} {'n':>5} {'non-200':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, row in summary(results).items():
        print(
            f"{name:<24} {row['n']:>5.0f} {row['non_200']:>7.0f} {row['p50_ms']:>8.1f} "
            f"{row['p99_ms']:>8.1f} {row['max_ms']:>8.1f}"
        )
    cuts = sorted(report.trickling_cut_after_s)
    if cuts:
        print(
            f"trickling cut off: {len(cuts)}, after {cuts[0]:.1f}-{cuts[-1]:.1f} s "
            f"(median {cuts[len(cuts) // 2]:.1f} s)"
        )
    idle = sorted(report.idle_closed_after_s)
    if idle:
        print(f"idle closed by the server: {len(idle)}, after {idle[0]:.1f}-{idle[-1]:.1f} s")
    print(f"fewest in play while probing: {report.min_open}; errors: {report.errors or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
