"""Clean stops of the real processes: the web server, the streams server and the sync loop,
stopped by SIGTERM or SIGINT (a supervisor, honcho, a terminal's Ctrl-C), to the master
alone or to its whole process group, early (workers still loading Django) or late.

Every stop must end within seconds, exit 0 and leave no traceback or error line."""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ALL_DATABASES
from tests.processes import Server, services_env, start_manage
from tests.services import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(databases=ALL_DATABASES, transaction=True),
]

# (kind, signal, to the whole group, seconds after the port listens): 20 stops in all.
# 0.05 s after listening the workers are still loading Django (the lost-signal case).
STOPS = [
    (kind, signum, group, delay)
    for kind in ("web", "streams")
    for signum in (signal.SIGTERM, signal.SIGINT)
    for group, delay in ((False, 0.05), (True, 0.05), (True, 1.5))
] + [
    ("sync", signum, group, 0.0)
    for signum in (signal.SIGTERM, signal.SIGINT)
    for group in (False, True)
    for _ in range(2)
]
assert len(STOPS) == 20


def _problems(log: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if "Traceback" in line or " ERROR " in line or "Killing worker" in line
    ]


def _stop_server(kind: str, signum: int, group: bool, delay: float, tmp_path: Path) -> str:
    log = tmp_path / f"{kind}.log"
    server = Server(
        kind,
        env=services_env(tmp_path, WEB_CONCURRENCY="2", STREAM_WORKERS="2"),
        log=log,
        port_from=4400,
    ).start()
    time.sleep(delay)
    if kind == "web" and delay > 1:
        with urllib.request.urlopen(f"{server.url}/api/visitors/today", timeout=10) as answer:
            assert answer.status == 200
    started = time.monotonic()
    assert server.stop(signum=signum, group=group, timeout=20) == 0, log.read_text()
    assert time.monotonic() - started < 8, log.read_text()
    return log.read_text()


def _stop_loop(signum: int, group: bool, tmp_path: Path) -> str:
    import os

    log = tmp_path / "sync.log"
    process = start_manage(
        "runsyncloop", "--interval", "300", "--buffer", "50", env=services_env(tmp_path), log=log
    )
    try:
        wait_until(lambda: "cycle=1 " in log.read_text(), "the loop's first cycle", timeout=30)
        os.killpg(process.pid, signum) if group else process.send_signal(signum)
        assert process.wait(15) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return log.read_text()


@pytest.mark.parametrize(
    ("kind", "signum", "group", "delay"),
    STOPS,
    ids=[f"{k}-{signal.Signals(s).name}-{'group' if g else 'master'}-{d}s" for k, s, g, d in STOPS],
)
def test_a_stop_is_clean(tmp_path, kind, signum, group, delay):
    if kind == "sync":
        log = _stop_loop(signum, group, tmp_path)
        assert "stopping" in log
    else:
        log = _stop_server(kind, signum, group, delay, tmp_path)
        assert "shutdown completed" in log
    assert _problems(log) == [], log


@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_the_loop_stopped_while_it_starts_leaves_no_traceback(tmp_path, signum):
    """Before the loop's own handlers exist (Django still loading): no traceback, and the
    conventional code of a stop by that signal. (SIGTERM: what honcho and systemd send. A
    SIGINT there is, rarely, swallowed by a blocking database connect, and the loop runs on.)"""
    log = tmp_path / "sync.log"
    process = start_manage("runsyncloop", env=services_env(tmp_path), log=log)
    try:
        time.sleep(0.2)
        process.send_signal(signum)
        code = process.wait(15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code in (0, 130, -signal.SIGTERM), log.read_text()
    assert "Traceback" not in log.read_text()


def _workers(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def test_a_sighup_restarts_the_web_workers_and_every_request_is_answered(tmp_path):
    """``systemctl reload`` (SIGHUP to the master): new workers replace the old ones while
    requests keep coming, and each of them is answered 200."""
    import threading
    import urllib.error

    log = tmp_path / "web.log"
    server = Server(
        "web", env=services_env(tmp_path, WEB_CONCURRENCY="2"), log=log, port_from=4460
    ).start()
    answers: list[int | str] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"{server.url}/api/visitors/today", timeout=10) as r:
                    answers.append(r.status)
            except (urllib.error.URLError, OSError) as exc:
                answers.append(repr(exc))
            time.sleep(0.01)

    try:
        assert server.process is not None
        wait_until(lambda: len(_workers(server.process.pid)) == 2, "two workers", timeout=30)
        before = _workers(server.process.pid)
        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.5)
        server.process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: (
                len(_workers(server.process.pid) - before) == 2
                and not (_workers(server.process.pid) & before)
            ),
            "two new workers and none of the old",
            timeout=60,
        )
        time.sleep(1.0)  # the new workers answer too
        stop.set()
        poller.join(15)
    finally:
        stop.set()
        code = server.stop(timeout=20)
    assert code == 0, log.read_text()
    failed = [a for a in answers if a != 200]
    assert answers and failed == [], (failed[:5], log.read_text()[-2000:])
    assert _problems(log.read_text()) == [], log.read_text()
