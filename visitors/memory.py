"""Give freed heap memory back to the system after an outage.

While the cache is unreachable, each process counts what it serves from the database (for
example a year of members' totals): its memory peaks well above the steady state, and
glibc's allocator keeps the freed pages. Once the cache answers again, ``malloc_trim``
returns them. Elsewhere (no glibc) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

logger = logging.getLogger(__name__)


@cache
def _malloc_trim():  # -> the C function, or None
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def give_back_freed_memory() -> bool:
    """Return the free pages of every malloc arena to the system; False when unsupported."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
