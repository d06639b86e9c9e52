"""A granian worker's start-up: a stop asked for while it loads the application is kept.

granian installs a worker's signal handlers only once the application is loaded (about a
second of Django start-up). Until then a forked worker has the master's handler, which
only sets a flag in the worker's copy of the master: a SIGTERM or Ctrl-C in that second was
lost, and the worker served on until the master killed it ``workers_kill_timeout`` (30 s)
later. The server (server.py) runs ``record_stops`` in every new worker; wsgi.py and
asgi.py call ``loaded()`` at the end of their import.
"""

from __future__ import annotations

import os
import signal

_state = {"stop_asked": False}  # None once loaded


def _record(signum: int, frame: object) -> None:
    if _state["stop_asked"] is None:  # loaded; granian's own handler is about to replace this
        os._exit(0)
    _state["stop_asked"] = True


def _own_process_group() -> None:
    """Only the master signals its workers: a signal to the whole process group (a
    terminal's Ctrl-C, honcho's stop) reached a serving WSGI worker beside the master's own
    SIGTERM, and in about one stop in six that worker ignored both until killed. In its own
    group the worker gets only the master's SIGTERM; and it dies with the master (Linux
    parent-death signal), so no worker outlives a killed master."""
    import ctypes

    os.setpgid(0, 0)
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the master died before the call
        os._exit(0)


def record_stops() -> None:
    """In a new worker (``os.register_at_fork``): its own process group, and SIGINT and
    SIGTERM remembered until the application is loaded."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _record)
    _own_process_group()


def loaded() -> None:
    """The application is loaded: a worker asked to stop meanwhile exits now, quietly (its
    master is shutting down and waits for it)."""
    if _state["stop_asked"]:
        os._exit(0)
    _state["stop_asked"] = None
