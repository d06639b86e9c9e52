"""The one way the service talks to its cache: calls that classify failures, a breaker
while the cache is down, and get-or-compute (single flight, corrupt-value guard).

The keys themselves are in ``visitors.keys`` and in the catalogue (``visitors.endpoints``).
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from django.core.cache import cache, caches
from redis import exceptions as redis_exceptions

from visitors import keys, prometheus
from visitors.breaker import Breaker
from visitors.memo import Memo

logger = logging.getLogger(__name__)

# How long one computation may hold the single-flight lock, and how long others wait on it.
COMPUTE_LOCK_TTL = 30
COMPUTE_WAIT = 10.0
_POLL = 0.02
# While the cache is unreachable, how long this process reuses a value stored "without expiry".
MEMO_UNBOUNDED_TTL = 600

Source = Literal["cache", "db"]
T = TypeVar("T")


def verbatim_key(key: str, key_prefix: str, version: int) -> str:
    """KEY_FUNCTION for CACHES: the key exactly as given."""
    return key


class CacheUnavailable(Exception):
    """The cache backend could not be reached (or was skipped because it just failed)."""


class CacheCorrupt(CacheUnavailable):
    """The key holds something that cannot be decoded: garbage bytes or a wrong Redis type."""


# While Redis is known down, requests skip it instead of each paying a connect timeout.
breaker = Breaker("cache (Redis)")

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis_exceptions.ConnectionError,
    redis_exceptions.TimeoutError,
    OSError,
)
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    EOFError,
    pickle.UnpicklingError,
)


_READS = frozenset({"get", "get_many"})


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _is_connection_error(exc: BaseException) -> bool:
    return any(isinstance(e, _CONNECTION_ERRORS) for e in _causes(exc))


def _is_corrupt_value(exc: BaseException) -> bool:
    return any(
        isinstance(e, _DECODE_ERRORS)
        or (isinstance(e, redis_exceptions.ResponseError) and "WRONGTYPE" in str(e))
        for e in _causes(exc)
    )


def call(operation: str, *args: Any, **kwargs: Any) -> Any:
    """Run a cache operation; raises ``CacheUnavailable`` (``CacheCorrupt`` for bad values)."""
    if not breaker.allow():
        raise CacheUnavailable(f"cache {operation} skipped: the cache is unreachable")
    try:
        result = getattr(cache, operation)(*args, **kwargs)
    except Exception as exc:  # any backend error (connection, timeout, DB lock, decoding)
        if operation in _READS and _is_corrupt_value(exc):
            breaker.record_success()
            raise CacheCorrupt(f"cache {operation} {args[:1]!r}: undecodable value: {exc}") from exc
        if _is_connection_error(exc):
            breaker.record_failure(exc)
        raise CacheUnavailable(f"cache {operation} failed: {exc}") from exc
    breaker.record_success()
    return result


def safe(operation: str, *args: Any, default: Any = None, **kwargs: Any) -> Any:
    """Run a cache operation; on backend failure log and return ``default``."""
    try:
        return call(operation, *args, **kwargs)
    except CacheUnavailable as exc:
        logger.log(logging.DEBUG if breaker.is_open else logging.WARNING, "%s", exc)
        return default


def is_redis() -> bool:
    """True when the cache is Redis (django-redis): atomic INCRBY and real locks."""
    from django_redis.cache import RedisCache

    return isinstance(caches["default"], RedisCache)  # the backend, not the proxy


def raw_redis(operation: Callable[[Any], T], what: str) -> T:
    """Run ``operation(client)`` on the raw redis-py client (bytes in, bytes out), behind
    the breaker like ``call``; raises ``CacheUnavailable``. Only when ``is_redis()``."""
    if not breaker.allow():
        raise CacheUnavailable(f"{what} skipped: the cache is unreachable")
    from django_redis import get_redis_connection

    try:
        result = operation(get_redis_connection("default"))
    except Exception as exc:
        if _is_connection_error(exc):
            breaker.record_failure(exc)
        raise CacheUnavailable(f"{what} failed: {exc}") from exc
    breaker.record_success()
    return result


def increment(key: str, delta: int) -> int:
    """Atomically add ``delta`` to the integer at ``key``, creating it (no expiry) if absent."""
    if is_redis():
        return call("incr", key, delta, ignore_key_check=True)
    call("add", key, 0, None)
    return call("incr", key, delta)


_warned_corrupt: set[str] = set()


def _report_corrupt(key: str, what: str) -> None:
    """Log a corrupt key once (until it holds a good value again); it is then overwritten."""
    if key not in _warned_corrupt:
        _warned_corrupt.add(key)
        logger.warning("cache key %s holds %s; treating it as a miss and recomputing", key, what)


def _read(key: str, validate: Callable[[Any], bool]) -> tuple[Any | None, bool]:
    """(the valid cached value or None, whether the cache answered at all)."""
    try:
        value = call("get", key)
    except CacheCorrupt as exc:
        _report_corrupt(key, f"an undecodable value ({exc.__cause__ or exc})")
        return None, True
    except CacheUnavailable as exc:
        logger.log(logging.DEBUG if breaker.is_open else logging.WARNING, "%s", exc)
        return None, False
    if value is None:
        return None, True
    if validate(value):
        _warned_corrupt.discard(key)
        return value, True
    _report_corrupt(key, f"an unexpected value {value!r:.80}")
    return None, True


def read_valid(key: str, validate: Callable[[Any], bool]) -> Any | None:
    """The cached value, or None when absent, unreachable or not of the expected shape."""
    return _read(key, validate)[0]


# This process's own computed values, used only while the shared cache is unreachable.
memo: Memo[Any] = Memo()
breaker.when_reachable(memo.clear)


def era() -> int:
    """This process's cache era: it changes each time the cache answers again after an
    outage. A per-process copy built from facts of an earlier era (counted from the database
    for the outage) is not kept: ``breaker.when_reachable`` drops what is held, and a
    computation that spans the change does not store its result."""
    return breaker.recoveries


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: tuple[Any, Source] | None = None
        self.error: BaseException | None = None

    def wait(self) -> tuple[Any, Source]:
        self.done.wait()
        error, result = self.error, self.result
        del self  # a failure's traceback keeps this frame: let it not keep the flight too
        if error is not None:
            try:
                raise error
            finally:
                del error  # nor the error itself: no cycle for the collector to find
        assert result is not None
        return result


_flights: dict[str, _Flight] = {}
_flights_guard = threading.Lock()


def _always(value: Any) -> bool:
    return True


@prometheus.counted_lookups
def get_or_compute(
    key: str,
    compute: Callable[[], T],
    *,
    ttl: int | None,
    validate: Callable[[Any], bool],
    fresh: Callable[[Any], bool] = _always,
    apart_while_unreachable: str | None = None,
) -> tuple[T, Source]:
    """Serve ``key`` from the cache, or compute it once (per process and across processes).

    ``validate`` checks the shape (a failure is logged once as corruption, and the value is
    overwritten); ``fresh`` says whether a well-formed value is still usable. Concurrent
    callers in this process share one computation, a flight named ``key`` (its value, or its
    exception); other processes wait on a lock in the cache. While the cache is unreachable
    there is no such lock, and the value this process computed is reused for ``ttl``; callers
    that pass ``apart_while_unreachable`` then share a flight of that name instead (their
    ``compute`` may end differently: ``serving``'s kept copies). ``ttl=None`` stores without
    expiry.
    """

    def usable() -> tuple[Any | None, bool]:
        value, reachable = _read(key, validate)
        if value is not None and fresh(value):
            return value, reachable
        if not reachable:
            value = memo.get(key)
            if value is not None and validate(value) and fresh(value):
                return value, reachable
        return None, reachable

    value, reachable = usable()
    if value is not None:
        return value, "cache" if reachable else "db"

    name = key if reachable or apart_while_unreachable is None else apart_while_unreachable
    with _flights_guard:
        shared = _flights.get(name)
        leader = shared is None
        if leader:
            shared = _flights[name] = _Flight()
    assert shared is not None
    if not leader:
        try:
            return shared.wait()
        finally:
            del shared  # see below
    try:
        shared.result = _compute_once(key, compute, ttl=ttl, usable=usable)
        return shared.result
    except BaseException as exc:
        shared.error = exc
        raise
    finally:
        try:
            with _flights_guard:
                del _flights[name]
        finally:
            shared.done.set()  # whatever happens, no waiter is left waiting
            # A failure's traceback keeps this frame; without this the frame would keep the
            # flight and so the failure: a cycle per failed request that only the collector
            # frees (while a backend is down, that is every request).
            del shared


def _compute_once(
    key: str,
    compute: Callable[[], T],
    *,
    ttl: int | None,
    usable: Callable[[], tuple[Any | None, bool]],
) -> tuple[T, Source]:
    value, reachable = usable()  # another caller may have stored it a moment ago
    if value is not None:
        return value, "cache" if reachable else "db"
    lock_key = keys.compute_lock(key)
    token = uuid.uuid4().hex
    try:
        owner = bool(call("add", lock_key, token, COMPUTE_LOCK_TTL))
    except CacheUnavailable:
        owner = True  # no shared cache: this process's flight is all we have
    if not owner:
        deadline = time.monotonic() + COMPUTE_WAIT
        while time.monotonic() < deadline:
            time.sleep(_POLL)
            value, reachable = usable()
            if value is not None:
                return value, "cache" if reachable else "db"
            if safe("get", lock_key) is None:
                break
    try:
        value = compute()
        try:
            call("set", key, value, ttl)
        except CacheUnavailable as exc:
            logger.log(logging.DEBUG if breaker.is_open else logging.WARNING, "%s", exc)
            memo.put(key, value, MEMO_UNBOUNDED_TTL if ttl is None else ttl)
        return value, "db"
    finally:
        if owner and safe("get", lock_key) == token:
            safe("delete", lock_key)
