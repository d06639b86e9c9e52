"""``python -m library_dashboard.server web|streams``: the two server processes, on granian.

- ``web``: the API, docs, dashboard, admin, /health and /metrics (WSGI: the pre-rendered
  answers in front of Django, library_dashboard/wsgi.py), on ``HOST:PORT`` with
  ``WEB_CONCURRENCY`` worker processes.
- ``streams``: the Server-Sent-Events streams (ASGI, library_dashboard/asgi.py), on
  ``HOST:STREAM_PORT``, ``STREAM_WORKERS`` worker processes.

Why granian, and why two processes: docs/OPERATIONS.md. In short, granian's WSGI interface
serves the small pre-rendered answers fastest (its Rust HTTP layer parses, Python only looks
up bytes) and runs Django's views about ten times faster than any ASGI server here; the
streams need an async server, which granian's ASGI interface is, holding thousands of idle
connections in Rust. Both cut a client that has not sent its headers within
``HTTP_HEADER_TIMEOUT_S`` (slow or idle connections cannot starve a worker).

Each process runs Django's system checks and visitors/checks.py's first and refuses to start
on an error (migrations not applied; for ``web``, static files not collected either).
Settings are read from the environment and ``.env`` like settings.py, validated, each with
its default here.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path
from typing import Any

from library_dashboard import workers
from library_dashboard.env import Env, load_dotenv_file

BASE_DIR = Path(__file__).resolve().parent.parent
KINDS = ("web", "streams")
# glibc malloc arenas of the web server and its workers (visitors/memory.py: each further
# Redis outage grew a worker's RSS by about 1 MB with glibc's default of 8 per core).
WEB_MALLOC_ARENAS = 2


def _raise_open_files_limit() -> int:
    """Every stream is an open socket: take the hard limit (inherited by the workers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def web_port(env: Env) -> int:
    """``PORT``: the web server's (the old service's 3000)."""
    return env.int("PORT", 3000, minimum=1, maximum=65535)


def options(kind: str, env: Env) -> dict[str, Any]:
    """granian's options for ``kind``: the server's own variables from the environment, the
    service's (STREAM_PORT, STREAM_MAX_CLIENTS) from Django's settings."""
    from django.conf import settings
    from granian.constants import HTTPModes, Interfaces, Loops, TaskImpl
    from granian.http import HTTP1Settings

    host = env.str("HOST", "127.0.0.1")
    header_timeout_ms = env.int("HTTP_HEADER_TIMEOUT_S", 10, minimum=1, maximum=60) * 1000
    common: dict[str, Any] = {
        "address": host,
        "loop": Loops.uvloop,
        "log_access": env.bool("ACCESS_LOG", False),
        "respawn_failed_workers": True,
        "websockets": False,
        "working_dir": BASE_DIR,
        "http1_settings": HTTP1Settings(header_read_timeout=header_timeout_ms),
    }
    open_files = _raise_open_files_limit()
    if kind == "web":
        return {
            **common,
            "target": "library_dashboard.wsgi:application",
            "interface": Interfaces.WSGI,
            "port": web_port(env),
            "workers": env.int("WEB_CONCURRENCY", os.cpu_count() or 1, minimum=1, maximum=64),
            "blocking_threads": env.int("WEB_THREADS", 4, minimum=1, maximum=64),
            # Connections a worker takes on at once; idle and slow ones wait in Rust.
            "backpressure": max(1024, open_files - 256),
            "backlog": 4096,
            "workers_kill_timeout": 30,
        }
    max_clients = settings.VISITORS.STREAM_MAX_CLIENTS
    return {
        **common,
        "target": "library_dashboard.asgi:application",
        "interface": Interfaces.ASGI,
        "port": settings.VISITORS.STREAM_PORT,
        "workers": env.int("STREAM_WORKERS", 1, minimum=1, maximum=64),
        # HTTP/1 only: a stream then costs about a third less memory. HTTP/2 for browsers'
        # six-connection limit is the proxy's job (docs/OPERATIONS.md).
        "http": HTTPModes.http1,
        # asyncio's own tasks (granian's default, pinned): a stream's task is cancelled
        # when its client leaves or is cut, which granian's Rust tasks do not support.
        "task_impl": TaskImpl.asyncio,
        # One slot more than the client limit per connection, so the one over it gets 503.
        "backpressure": min(max_clients + 64, open_files - 64),
        "backlog": 4096,
        # Streams end at once on SIGTERM (visitors/streams.py); this is a safety net.
        "workers_kill_timeout": 10,
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_dead_processes_samples(directory: Path) -> None:
    """/metrics sums one sample file per process: drop those of processes that are gone
    (earlier runs), keep the live ones (the sync loop, the other server)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def log_config() -> dict[str, Any]:
    """granian's own log lines in the same format and clock as Django's."""
    from django.conf import settings

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": settings.LOGGING["formatters"],
        "handlers": settings.LOGGING["handlers"],
        "loggers": {
            name: {"handlers": ["console"], "level": "INFO", "propagate": False}
            for name in ("_granian", "granian.access")
        },
    }


def granian_server() -> type:
    """granian's server, stopping its workers as granian does, but repeating the SIGTERM to a
    worker that is still alive every second: a worker that had just begun serving when the
    first one came sometimes missed it (granian sets up its shutdown watch after its signal
    handlers), and ran on until killed ``workers_kill_timeout`` later."""
    import threading

    from granian import Granian

    class Server(Granian):  # type: ignore[misc, valid-type]
        def _stop_workers(self) -> None:
            stopped = threading.Event()

            def repeat() -> None:
                while not stopped.wait(1.0):
                    for worker in list(self.wrks):
                        if worker.is_alive():
                            worker.terminate()

            repeater = threading.Thread(target=repeat, daemon=True)
            repeater.start()
            try:
                super()._stop_workers()
            finally:
                stopped.set()

    return Server


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in KINDS:
        print(f"usage: python -m library_dashboard.server {{{'|'.join(KINDS)}}}", file=sys.stderr)
        return 2
    kind = args[0]
    if kind == "web":  # first, before any thread: visitors/memory.py
        from visitors.memory import limit_malloc_arenas

        limit_malloc_arenas(WEB_MALLOC_ARENAS)
    load_dotenv_file(BASE_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "library_dashboard.settings")
    import django
    from django.core import checks
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
        server_options = options(kind, Env())
    except ImproperlyConfigured as exc:
        print(f"{kind}: not starting: {exc}", file=sys.stderr)
        return 1
    from visitors.checks import migrations_applied, ready_to_serve

    # The streams serve no static files, but read the cache (a table on the embedded default).
    ready = ready_to_serve() if kind == "web" else migrations_applied()
    problems = [*checks.run_checks(), *ready]
    errors = [m for m in problems if m.level >= checks.ERROR]
    if errors:
        found = "\n".join(f"  {message}" for message in errors)
        print(f"{kind}: not starting, the system check found problems:\n{found}", file=sys.stderr)
        return 1
    from django.conf import settings

    drop_dead_processes_samples(settings.PROMETHEUS_MULTIPROC_DIR)
    os.register_at_fork(after_in_child=workers.record_stops)
    granian_server()(**server_options, log_dictconfig=log_config()).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
