"""Cache keys, TTLs and the one get-or-compute path (single flight, corrupt-value guard).

Keys are stored verbatim (no Django version prefix) so that other programs can read them,
and an outside writer can ``INCRBY visitors:today:incremental 1``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from django.core.cache import cache

from visitors import instruments

logger = logging.getLogger(__name__)

TODAY_KEY = "visitors:today:count"
WEEK_KEY = "visitors:week:daily"
MONTH_KEY = "visitors:month:totals"
YEAR_KEY = "visitors:year:totals"
SUMMARY_KEY = "visitors:summary"
ROLLUP_KEY = "visitors:rollup:daily"
ROLLUP_STAMP_KEY = "visitors:rollup:updated"
INCREMENTAL_BASE_KEY = "visitors:today:base"
INCREMENTAL_KEY = "visitors:today:incremental"
DELTA_STATE_KEY = "visitors:today:delta"
LEADER_KEY = "visitors:sync:leader"
HEARTBEAT_KEY = "visitors:sync:heartbeat"

# A request that had to compute (cold start, stopped loop) keeps its answer this long.
FALLBACK_TTL = 60
SUMMARY_FALLBACK_TTL = 15
# How long one computation may hold the single-flight lock, and how long others wait on it.
COMPUTE_LOCK_TTL = 30
COMPUTE_WAIT = 10.0
_POLL = 0.02

Source = Literal["cache", "db"]
T = TypeVar("T")


def verbatim_key(key: str, key_prefix: str, version: int) -> str:
    """KEY_FUNCTION for CACHES: the key exactly as given."""
    return key


class CacheUnavailable(Exception):
    """The cache backend could not be reached."""


def call(operation: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return getattr(cache, operation)(*args, **kwargs)
    except Exception as exc:  # any backend error (connection, timeout, DB lock)
        raise CacheUnavailable(f"cache {operation} failed: {exc}") from exc


def safe(operation: str, *args: Any, default: Any = None, **kwargs: Any) -> Any:
    """Run a cache operation; on backend failure log and return ``default``."""
    try:
        return call(operation, *args, **kwargs)
    except CacheUnavailable as exc:
        logger.warning("%s", exc)
        return default


def is_redis() -> bool:
    """True when the cache is Redis (django-redis): atomic INCRBY and real locks."""
    from django_redis.cache import RedisCache

    return isinstance(cache, RedisCache)


def increment(key: str, delta: int) -> int:
    """Atomically add ``delta`` to the integer at ``key``, creating it (no expiry) if absent."""
    if is_redis():
        return call("incr", key, delta, ignore_key_check=True)
    call("add", key, 0, None)
    return call("incr", key, delta)


_warned_corrupt: set[str] = set()


def read_valid(key: str, validate: Callable[[Any], bool]) -> Any | None:
    """The cached value, or None when absent, unreachable or not of the expected shape."""
    value = safe("get", key)
    if value is None:
        return None
    if validate(value):
        _warned_corrupt.discard(key)
        return value
    if key not in _warned_corrupt:
        _warned_corrupt.add(key)
        logger.warning("cache key %s holds an unexpected value %.80r; recomputing", key, value)
    return None


_local_locks: dict[str, threading.Lock] = {}
_local_locks_guard = threading.Lock()


def _local_lock(key: str) -> threading.Lock:
    with _local_locks_guard:
        return _local_locks.setdefault(key, threading.Lock())


def _always(value: Any) -> bool:
    return True


@instruments.counted_lookups
def get_or_compute(
    key: str,
    compute: Callable[[], T],
    *,
    ttl: int | None,
    validate: Callable[[Any], bool],
    fresh: Callable[[Any], bool] = _always,
) -> tuple[T, Source]:
    """Serve ``key`` from the cache, or compute it once (per process and across processes).

    ``validate`` checks the shape (a failure is logged as corruption); ``fresh`` says whether
    a well-formed value is still usable. Concurrent callers on a miss wait for the one
    computing instead of all hitting the database. ``ttl=None`` stores without expiry.
    """

    def cached() -> Any | None:
        value = read_valid(key, validate)
        return value if value is not None and fresh(value) else None

    value = cached()
    if value is not None:
        return value, "cache"
    with _local_lock(key):
        value = cached()
        if value is not None:
            return value, "cache"
        lock_key = f"{key}:lock"
        token = uuid.uuid4().hex
        try:
            owner = bool(call("add", lock_key, token, COMPUTE_LOCK_TTL))
        except CacheUnavailable:
            owner = True  # no shared cache: the per-process lock is all we have
        if not owner:
            deadline = time.monotonic() + COMPUTE_WAIT
            while time.monotonic() < deadline:
                time.sleep(_POLL)
                value = cached()
                if value is not None:
                    return value, "cache"
                if safe("get", lock_key) is None:
                    break
        try:
            value = compute()
            safe("set", key, value, ttl)
            return value, "db"
        finally:
            if owner and safe("get", lock_key) == token:
                safe("delete", lock_key)
