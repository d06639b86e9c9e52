"""Keep a worker's heap small across outages: freed memory back to the system, few arenas,
and an outage's garbage collected as it is made.

While the cache is unreachable, each process counts what it serves from the database (for
example a year of members' totals): its memory peaks well above the steady state, and
glibc's allocator keeps the freed pages. Once the cache answers again, ``malloc_trim``
returns them. Elsewhere (no glibc) this does nothing.

While a backend is down, every call that fails leaves its exception, traceback and frames
in reference cycles, which only the garbage collector frees; its oldest generation is
collected only once it grew by a quarter, so an outage's garbage piled up and spread into
new pymalloc arenas that the few objects made meanwhile then kept. In the soak's harness (a
web worker's application in 4 threads, MariaDB killed for 10 s): 1.1 MB of cycles 8 s into
the outage, and the worker's RSS +5.9 MB after it; collected each second, +2.5 MB.
``set_aside_startup_objects`` makes each collection cheap (52 ms to 4 ms there), and the
breakers call ``collect_during_outage`` while they skip a backend.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import threading
import time
from functools import cache

logger = logging.getLogger(__name__)


@cache
def _malloc_trim():  # -> the C function, or None
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_M_ARENA_MAX = -8  # mallopt's parameter (glibc's malloc.h)


def limit_malloc_arenas(arenas: int) -> bool:
    """At most ``arenas`` glibc malloc arenas in this process and the ones it forks; False
    when unsupported. Effective only before a second thread first allocates (glibc fixes
    the limit then): call it first thing. An explicit ``MALLOC_ARENA_MAX`` is left alone.

    glibc gives each new thread an arena of its own, up to 8 per core; a web worker's
    request threads that allocate together (an outage: every payload counted from the
    database at once) grow several arenas, and what outlives the outage pins each one's
    top (a harness like the soak, Redis stopped 3 times: +0.6 to +1.1 MB per further
    outage per web worker with the default, about 0 with 2 arenas; the first outage's
    growth is the same either way)."""
    if "MALLOC_ARENA_MAX" in os.environ or "glibc.malloc.arena_max" in os.environ.get(
        "GLIBC_TUNABLES", ""
    ):
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return False
    return bool(mallopt and mallopt(_M_ARENA_MAX, arenas) == 1)


def give_back_freed_memory() -> bool:
    """Collect the cyclic garbage first (an outage's failed requests leave exceptions,
    tracebacks and their frames in cycles, and the oldest generation is collected only once
    it grew by a quarter: until then they pin the heap), then return the free pages of every
    malloc arena to the system; False when the trim is unsupported."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


_COLLECT_EVERY_S = 1.0
_clock = time.monotonic
_collecting = threading.Lock()
# [set aside (this process froze its start-up objects), the end of the last collection]
_state: list[float] = [False, 0.0]


def set_aside_startup_objects() -> None:
    """Move everything made so far (Django, the application, their modules: the bulk of a
    worker's objects) out of the collector's sight (``gc.freeze``): a full collection then
    only scans what was made since, and its trigger (the oldest generation grown by a
    quarter) counts only those. Call it once, after start-up (a web worker: wsgi.py)."""
    gc.collect()
    gc.freeze()
    _state[0] = True


def collect_during_outage() -> None:
    """A full collection at most once a second, by whichever caller comes first (the others
    go on), in a process that set its start-up objects aside (elsewhere, the streams
    process with its connections say, a full collection would scan the whole heap): called
    while a backend is known down."""
    if not _state[0] or _clock() - _state[1] < _COLLECT_EVERY_S:
        return
    if not _collecting.acquire(blocking=False):
        return
    try:
        if _clock() - _state[1] >= _COLLECT_EVERY_S:
            gc.collect()
            _state[1] = _clock()
    finally:
        _collecting.release()
