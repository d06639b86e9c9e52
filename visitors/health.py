"""Is the service able to serve, and how fresh are its numbers? (``/health``, ``visitors_status``)

Plain functions over the visitor database, the cache and the sync loop's heartbeat. Cheap
enough to run every second: the database ping is remembered for ``DB_PING_MAX_AGE`` seconds
per process, and everything read from Redis comes back in one pipelined round trip.

Status:
- ``ok``: database and cache reachable, loop heartbeat fresh and without error, every
  served payload present in the cache;
- ``degraded``: requests can still be served (from the database, or from cached values),
  but something is wrong (see ``reasons``);
- ``down``: neither the database nor the cached values (the live keys, or the last good
  copies that requests serve marked stale while the database is down) can serve a request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connections

from visitors import cache, keys
from visitors.clock import local_now
from visitors.conf import visitor_settings
from visitors.endpoints import CATALOGUE
from visitors.routers import VISITORS_DB

Status = Literal["ok", "degraded", "down"]
AgeFrom = Literal["heartbeat", "unknown"]

DB_PING_MAX_AGE = 1.0  # seconds a database ping result is reused in this process

# The payloads a request reads; all present = the cache alone can serve every endpoint.
PAYLOAD_KEYS = tuple(endpoint.key for endpoint in CATALOGUE)
# Rewritten by every successful loop cycle: their age is the age of that cycle.
LOOP_PUBLISHED_KEYS = frozenset(PAYLOAD_KEYS)
WATCHED_KEYS = (*PAYLOAD_KEYS, keys.ROLLUP_DAILY)


def last_good_keys() -> dict[str, str]:
    """Payload key -> the copy of its last good value (no expiry), served stale while MySQL
    is down."""
    return {endpoint.key: keys.last_good(endpoint.name) for endpoint in CATALOGUE}


@dataclass(frozen=True)
class Probe:
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def ping_database(alias: str = VISITORS_DB) -> Probe:
    """``SELECT 1`` on the visitor database (connect timeout from settings, 3 s on MySQL)."""
    start = time.perf_counter()
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        # A broken connection must not be reused by the next probe.
        connections[alias].close_if_unusable_or_obsolete()
        return Probe(False, error=_error_text(exc))
    return Probe(True, latency_ms=round((time.perf_counter() - start) * 1000, 2))


class RememberedProbe:
    """Runs a probe at most once per ``max_age`` seconds; concurrent callers share the result.

    While one thread probes (a database that is down may take its connect timeout), the
    others get the previous result instead of queueing behind it.
    """

    def __init__(
        self,
        probe: Callable[[], Probe],
        *,
        max_age: float = DB_PING_MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe = probe
        self.max_age = max_age
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._last: tuple[float, Probe] | None = None

    def __call__(self) -> Probe:
        last = self._last
        if last is not None and self.monotonic() - last[0] < self.max_age:
            return last[1]
        if not self._lock.acquire(blocking=last is None):
            return last[1]  # type: ignore[index]  # someone else is probing; last is set
        try:
            result = self.probe()
            self._last = (self.monotonic(), result)
            return result
        finally:
            self._lock.release()

    def forget(self) -> None:
        self._last = None


database_probe = RememberedProbe(ping_database)


@dataclass
class KeyState:
    present: bool
    ttl_s: int | None = None  # None: no expiry (or, with ttl_known False, unknown)
    ttl_known: bool = True
    age_s: float | None = None
    age_from: AgeFrom = "unknown"
    last_good: bool | None = None  # payload keys: a last good copy exists


@dataclass
class CacheState:
    probe: Probe
    backend: str
    heartbeat: dict[str, Any] | None = None
    leader_held: bool | None = None
    leader_ttl_ms: int | None = None
    keys: dict[str, KeyState] = field(default_factory=dict)


def _backend() -> Any:
    return caches["default"]


def backend_name() -> str:
    if cache.is_redis():
        return "redis"
    return "database" if isinstance(_backend(), DatabaseCache) else type(_backend()).__name__


def _decoded(django_cache: Any, raw: bytes | None) -> Any:
    """A stored value, or None when absent or undecodable (garbage is not an outage)."""
    if raw is None:
        return None
    try:
        return django_cache.client.decode(raw)
    except Exception:
        return None


def _redis_state(watched: tuple[str, ...]) -> CacheState:
    django_cache = _backend()
    client = django_cache.client.get_client(write=False)
    start = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    pipe.get(django_cache.make_key(keys.SYNC_HEARTBEAT))
    pipe.pttl(django_cache.make_key(keys.SYNC_LEADER))
    for key in watched:
        pipe.ttl(django_cache.make_key(key))
    copies = last_good_keys()
    for key in watched:
        pipe.exists(django_cache.make_key(copies.get(key, key)))
    replies = pipe.execute(raise_on_error=False)
    if isinstance(replies[0], Exception):
        raise replies[0]
    latency = round((time.perf_counter() - start) * 1000, 2)
    state = CacheState(Probe(True, latency_ms=latency), "redis")
    raw_beat, leader_pttl = replies[0], replies[1]
    state.heartbeat = _as_heartbeat(_decoded(django_cache, raw_beat))
    state.leader_held = isinstance(leader_pttl, int) and leader_pttl != -2
    state.leader_ttl_ms = leader_pttl if state.leader_held and leader_pttl >= 0 else None
    for index, key in enumerate(watched):
        ttl = replies[2 + index]
        present = isinstance(ttl, int) and ttl != -2
        state.keys[key] = KeyState(
            present=present,
            ttl_s=ttl if present and ttl >= 0 else None,
            last_good=bool(replies[2 + len(watched) + index]) if key in copies else None,
        )
    return state


def _other_backend_state(watched: tuple[str, ...]) -> CacheState:
    """Django's database cache (the embedded default): presence only, TTLs unknown."""
    start = time.perf_counter()
    copies = last_good_keys()
    values = _backend().get_many(
        [
            keys.SYNC_HEARTBEAT,
            keys.SYNC_LEADER,
            *watched,
            *(copies[k] for k in watched if k in copies),
        ]
    )
    latency = round((time.perf_counter() - start) * 1000, 2)
    state = CacheState(Probe(True, latency_ms=latency), backend_name())
    state.heartbeat = _as_heartbeat(values.get(keys.SYNC_HEARTBEAT))
    state.leader_held = keys.SYNC_LEADER in values
    for key in watched:
        state.keys[key] = KeyState(
            present=key in values,
            ttl_known=False,
            last_good=copies[key] in values if key in copies else None,
        )
    return state


def _as_heartbeat(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) and isinstance(value.get("at"), str) else None


def read_cache_state(watched: tuple[str, ...] = WATCHED_KEYS) -> CacheState:
    """Heartbeat, leader lock and per-key TTLs in one round trip; never raises."""
    try:
        return _redis_state(watched) if cache.is_redis() else _other_backend_state(watched)
    except Exception as exc:
        return CacheState(Probe(False, error=_error_text(exc)), backend_name())


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def stale_after(heartbeat: dict[str, Any] | None) -> float:
    """Seconds without a heartbeat after which the loop counts as stopped.

    Three intervals, and never less than the leader-lock TTL plus one interval: the time a
    standby needs to notice a dead leader and run its first cycle.
    """
    conf = visitor_settings()
    interval = conf.VISITOR_SYNC_MIN_INTERVAL_MS / 1000
    if heartbeat and isinstance(heartbeat.get("interval_ms"), int | float):
        interval = max(interval, heartbeat["interval_ms"] / 1000)
    return max(3 * interval, conf.VISITOR_SYNC_LOCK_TTL_MS / 1000 + interval)


@dataclass
class LoopState:
    heartbeat: dict[str, Any] | None
    age_s: float | None = None
    last_success_age_s: float | None = None
    stale_after_s: float = 0.0
    fresh: bool = False


def loop_state(heartbeat: dict[str, Any] | None, *, now: datetime) -> LoopState:
    state = LoopState(heartbeat, stale_after_s=stale_after(heartbeat))
    if heartbeat is None:
        return state
    at = _parse_time(heartbeat.get("at"))
    success = _parse_time(heartbeat.get("last_success_at"))
    if at is not None:
        state.age_s = round((now - at).total_seconds(), 3)
        state.fresh = state.age_s <= state.stale_after_s
    if success is not None:
        state.last_success_age_s = round((now - success).total_seconds(), 3)
    return state


def with_ages(keys: dict[str, KeyState], loop: LoopState) -> dict[str, KeyState]:
    """Fill each key's age: from the loop's last successful cycle for the keys it publishes
    (an upper bound: a request may have rewritten the key since), else unknown.

    Not Redis OBJECT IDLETIME: a small integer (today's count) is a shared object whose idle
    time is that of the shared integer, not of the key (1775 s reported for a key written
    seconds before), reads reset it, and it fails under an LFU eviction policy."""
    for key, state in keys.items():
        if not state.present:
            continue
        if key in LOOP_PUBLISHED_KEYS and loop.last_success_age_s is not None:
            state.age_s, state.age_from = loop.last_success_age_s, "heartbeat"
    return keys


def overall(
    *,
    database_ok: bool,
    cache_ok: bool,
    payloads_cached: bool,
    loop: LoopState,
    last_good_cached: bool = False,
) -> tuple[Status, list[str]]:
    """The status and, when not ok, why.

    ``last_good_cached``: every payload has a last good copy, which requests serve (marked
    stale) while the database is unreachable.
    """
    reasons: list[str] = []
    if not database_ok:
        reasons.append("visitor database unreachable")
    if not cache_ok:
        reasons.append("cache unreachable")
    elif not payloads_cached:
        reasons.append("served values missing from the cache")
        if not database_ok and last_good_cached:
            reasons.append("serving the last good values, marked stale")
    if loop.heartbeat is None:
        reasons.append("no sync-loop heartbeat")
    elif not loop.fresh:
        reasons.append(f"sync-loop heartbeat older than {loop.stale_after_s:g}s")
    elif loop.heartbeat.get("error"):
        reasons.append(f"last sync cycle failed: {loop.heartbeat['error']}")
    can_serve = database_ok or (cache_ok and (payloads_cached or last_good_cached))
    if not can_serve:
        return "down", reasons
    return ("degraded" if reasons else "ok"), reasons


@dataclass
class Health:
    status: Status
    reasons: list[str]
    checked_at: datetime
    database: Probe
    cache: CacheState
    loop: LoopState

    @property
    def reason_classes(self) -> list[str]:
        """Each reason without its detail (the text after ``:``, e.g. a driver's message)."""
        return [reason.split(":", 1)[0] for reason in self.reasons]

    def as_public_dict(self) -> dict[str, Any]:
        """What anyone may see: the status and the reasons' classes (no hosts, no errors)."""
        return {
            "status": self.status,
            "reasons": self.reason_classes,
            "checked_at": self.checked_at.isoformat(),
        }

    def as_dict(self) -> dict[str, Any]:
        beat = self.loop.heartbeat or {}
        return {
            "status": self.status,
            "reasons": self.reasons,
            "checked_at": self.checked_at.isoformat(),
            "database": {
                "reachable": self.database.ok,
                "vendor": connections[VISITORS_DB].vendor,
                "latency_ms": self.database.latency_ms,
                "error": self.database.error,
            },
            "cache": {
                "reachable": self.cache.probe.ok,
                "backend": self.cache.backend,
                "latency_ms": self.cache.probe.latency_ms,
                "error": self.cache.probe.error,
            },
            "loop": {
                "fresh": self.loop.fresh,
                "stale_after_s": self.loop.stale_after_s,
                "heartbeat_at": beat.get("at"),
                "heartbeat_age_s": self.loop.age_s,
                "last_success_at": beat.get("last_success_at"),
                "last_success_age_s": self.loop.last_success_age_s,
                "leader": beat.get("identity"),
                "leader_lock_held": self.cache.leader_held,
                "mode": beat.get("mode"),
                "db_layer": beat.get("db_layer"),
                "interval_ms": beat.get("interval_ms"),
                "cycle": beat.get("cycle"),
                "count": beat.get("count"),
                "cycle_ms": beat.get("total_ms"),
                "steps_ms": beat.get("steps_ms"),
                "error": beat.get("error"),
            },
            "keys": {key: asdict(state) for key, state in self.cache.keys.items()},
        }


def check(*, now: datetime | None = None, database: Callable[[], Probe] | None = None) -> Health:
    """The whole health picture; never raises for an unreachable dependency."""
    now = now or local_now()
    db = (database or database_probe)()
    state = read_cache_state()
    loop = loop_state(state.heartbeat, now=now)
    with_ages(state.keys, loop)
    payload_states = [state.keys.get(key, KeyState(False)) for key in PAYLOAD_KEYS]
    status, reasons = overall(
        database_ok=db.ok,
        cache_ok=state.probe.ok,
        payloads_cached=state.probe.ok and all(k.present for k in payload_states),
        last_good_cached=state.probe.ok and all(k.present or k.last_good for k in payload_states),
        loop=loop,
    )
    return Health(status, reasons, now, db, state, loop)
