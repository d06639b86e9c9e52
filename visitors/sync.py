"""The sync loop: keeps every served number warm, one leader across hosts.

Each cycle refreshes today's count (the configured mode) and republishes every payload
(today, summary, and the series whose last entry is today). The next cycle starts at least
``interval`` after this one started and at least ``buffer`` after it finished; cycles never
overlap. Only the holder of the leader lock works; the others wait to take over.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connections

from visitors import (
    breakdowns,
    cache,
    faculties,
    history,
    hourly,
    keys,
    prometheus,
    publishing,
    rollup,
)
from visitors.breakdowns import BREAKDOWNS
from visitors.clock import local_now
from visitors.conf import visitor_settings
from visitors.day_prints import DayPrints
from visitors.locks import LeaderLock, leader_lock
from visitors.queries import VisitorQueries, get_queries
from visitors.series import ClosedTotals, closed_totals
from visitors.today import TodayCounter, make_counter
from visitors.today_rows import TodayRows

logger = logging.getLogger("visitors.sync")

ADAPTIVE_FACTOR = 10  # adaptive mode: a cycle may take at most ~1/10 of the interval


@dataclass(frozen=True)
class LoopConfig:
    """The loop's timing in seconds; ``from_settings`` reads it (the defaults live there)."""

    interval: float  # seconds between cycle starts, at least
    buffer: float  # seconds between a cycle's end and the next start, at least
    adaptive: bool
    max_interval: float
    lock_ttl: float
    # After a failed cycle the loop retries at most this far apart (``OUTAGE_RETRY_MS``, or
    # its interval, if longer): one failing connection attempt every few seconds costs
    # nothing, and an outage that ends is over for the dashboards within this time.
    retry_cap: float

    @classmethod
    def from_settings(
        cls, *, interval_ms: int | None = None, buffer_ms: int | None = None
    ) -> LoopConfig:
        """The settings, with the command's ``--interval`` / ``--buffer`` over them."""
        conf = visitor_settings()
        return cls(
            interval=(interval_ms or conf.VISITOR_SYNC_MIN_INTERVAL_MS) / 1000,
            buffer=(conf.VISITOR_SYNC_BUFFER_MS if buffer_ms is None else buffer_ms) / 1000,
            adaptive=conf.VISITOR_SYNC_ADAPTIVE,
            max_interval=max(conf.VISITOR_SYNC_MAX_INTERVAL_MS / 1000, (interval_ms or 0) / 1000),
            lock_ttl=conf.VISITOR_SYNC_LOCK_TTL_MS / 1000,
            retry_cap=conf.outage_retry_s,
        )

    def key_ttl(self, interval: float) -> int:
        """Published keys outlive a few cycles, so reads stay hits while the loop runs."""
        return max(5, math.ceil(3 * (interval + self.buffer)))


def next_delay(*, started: float, finished: float, interval: float, buffer: float) -> float:
    """Seconds to wait so the next start is >= started+interval and >= finished+buffer."""
    return max(started + interval - finished, buffer, 0.0)


def adapted_interval(config: LoopConfig, duration: float) -> float:
    """Adaptive mode: grow the interval with slow cycles, back to the base when fast again."""
    if not config.adaptive:
        return config.interval
    return min(max(config.interval, duration * ADAPTIVE_FACTOR), config.max_interval)


def backoff_delay(failures: int, config: LoopConfig) -> float:
    """Doubling from the interval, capped at ``retry_cap`` (``OUTAGE_RETRY_MS``)."""
    exponent = min(max(failures - 1, 0), 16)
    return min(config.interval * 2**exponent, max(config.retry_cap, config.interval))


@dataclass
class CycleReport:
    cycle: int
    count: int
    steps_ms: dict[str, float] = field(default_factory=dict)
    total_ms: float = 0.0

    def log_line(self, mode: str) -> str:
        steps = " ".join(f"{name}={ms:.1f}ms" for name, ms in self.steps_ms.items())
        return (
            f"cycle={self.cycle} mode={mode} count={self.count} {steps} total={self.total_ms:.1f}ms"
        )


def _drop_broken_connections() -> None:
    """What Django does between requests: close connections that broke or grew too old."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def closed_stamps() -> list[Any]:
    """The rollup's, every breakdown's and the faculty names' stamps, in one round trip:
    they change with every write of the closed days (or the names).

    Raises while the cache is unreachable: the cycle fails there, before an unreadable
    rollup could look empty and trigger a five-year refill.
    """
    names = [keys.ROLLUP_STAMP, *(b.coverage_key for b in BREAKDOWNS), keys.FACULTIES_STAMP]
    stored = cache.call("get_many", names)
    return [stored.get(name) for name in names]


class Cycle:
    """One refresh: the closed days if needed, today's count and rows, then every payload."""

    def __init__(
        self,
        *,
        counter: TodayCounter,
        queries: VisitorQueries,
        today_rows: TodayRows | None = None,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.counter = counter
        self.queries = queries
        self.today_rows = today_rows or TodayRows(
            queries, timedelta(milliseconds=visitor_settings().VISITOR_RECONCILE_INTERVAL_MS)
        )
        self.monotonic = monotonic
        self.past_minutes = hourly.PastMinutes(queries)
        self.closed: ClosedTotals | None = None
        self.breakdowns: dict[str, Any] = {}
        self._closed_for: tuple[date, list[Any]] | None = None
        self.faculty_names: dict[str, str] = {}
        self._faculties_for: list[Any] | None = None
        self.rewrites = publishing.Rewrites()
        self.number = 0

    def _timed(self, steps: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
        start = self.monotonic()
        result = fn()
        steps[name] = (self.monotonic() - start) * 1000
        return result

    def _refresh_closed(self, today: date) -> None:
        """Reload the closed days on a new day or when another process (the daily job)
        changed them: the day just closed costs one grouped query per store. Reload the
        faculty names when they were edited."""
        stamps = closed_stamps()
        if self._faculties_for != stamps[-1:]:
            self.faculty_names = faculties.names()
            self._faculties_for = stamps[-1:]
        if self._closed_for == (today, stamps[:-1]):
            return
        self.rewrites = publishing.Rewrites()  # a new day, or the cache lost its stamps:
        # the next publish writes everything, whether or not a response changed
        prints = DayPrints(self.queries, today)  # one read for the rollup and every store
        days, _ = rollup.update(today=today, queries=self.queries, prints=prints)
        history.update(today=today, queries=self.queries)  # for reports: older days, once
        self.closed = closed_totals(days, today)
        self.breakdowns = breakdowns.keep_all(today=today, queries=self.queries, prints=prints)
        self._closed_for = (today, closed_stamps()[:-1])

    def run(self, *, now: datetime, key_ttl: int) -> CycleReport:
        self.number += 1
        steps: dict[str, float] = {}
        start = self.monotonic()
        today = now.date()
        self._timed(steps, "rollup", lambda: self._refresh_closed(today))
        count = self._timed(steps, "count", lambda: self.counter.refresh(now=now))
        self._timed(steps, "rows", lambda: self.today_rows.refresh(now=now))
        minutes = self.past_minutes.refresh(now)  # two small queries once an hour
        assert self.closed is not None
        facts = publishing.CycleFacts(
            now,
            self.closed,
            count,
            self.today_rows.rows,
            self.breakdowns,
            self.faculty_names,
            minutes,
        )
        self._timed(
            steps,
            "publish",
            lambda: publishing.publish(facts, ttl=key_ttl, rewrites=self.rewrites),
        )
        return CycleReport(self.number, count, steps, (self.monotonic() - start) * 1000)


class _Renewer(threading.Thread):
    """Renews the leader lock every ttl/3 while a cycle (or a sleep) is under way."""

    def __init__(self, lock: LeaderLock, ttl: float) -> None:
        super().__init__(name="leader-lock-renewer", daemon=True)
        self.lock = lock
        self.period = ttl / 3
        self.lost = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.period):
            try:
                if not self.lock.renew():
                    self.lost.set()
                    return
            except Exception as exc:
                logger.warning("leader lock renewal failed: %s", exc)


class SyncLoop:
    def __init__(
        self,
        *,
        config: LoopConfig,
        mode: str | None = None,
        queries: VisitorQueries | None = None,
        counter: TodayCounter | None = None,
        lock: LeaderLock | None = None,
        now: Callable[[], datetime] = local_now,
        monotonic: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.config = config
        self.mode = mode or visitor_settings().TODAY_COUNT_MODE
        self.queries = queries or get_queries()
        self.counter = counter or make_counter(self.mode, queries=self.queries)
        self.lock = lock or leader_lock(config.lock_ttl)
        self.now = now
        self.monotonic = monotonic
        self.stop = stop or threading.Event()
        self.wait = wait or self.stop.wait
        self.cycle = Cycle(counter=self.counter, queries=self.queries)
        self.interval = config.interval
        self.failures = 0
        self.is_leader = False
        self.last_success: datetime | None = None
        self._renewer: _Renewer | None = None

    # -- leadership ------------------------------------------------------------------
    def _become_leader(self) -> bool:
        try:
            acquired = self.lock.acquire()
        except Exception as exc:
            logger.warning("cannot reach the lock store: %s", exc)
            return False
        if acquired:
            logger.info("%s is now the sync leader", identity())
            # Renew from now on, so even a long first cycle (a rollup fill) keeps the lock.
            self._renewer = _Renewer(self.lock, self.config.lock_ttl)
            self._renewer.start()
        return acquired

    def _stop_renewing(self) -> None:
        if self._renewer is not None:
            self._renewer.done.set()
            self._renewer = None

    # -- one step of the loop --------------------------------------------------------
    def step(self) -> float:
        """Run one cycle (if leader) and return the delay before the next step."""
        if not self.is_leader:
            self.is_leader = self._become_leader()
            if not self.is_leader:
                return min(1.0, self.config.lock_ttl / 3)
        started = self.monotonic()
        try:
            _drop_broken_connections()
            key_ttl = self.config.key_ttl(self.interval)
            report = self.cycle.run(now=self.now(), key_ttl=key_ttl)
        except Exception as exc:
            self.failures += 1
            delay = backoff_delay(self.failures, self.config)
            logger.error(
                "cycle failed (%d in a row), retrying in %.1fs: %s", self.failures, delay, exc
            )
            self._heartbeat(error=str(exc))
            return delay
        self.failures = 0
        finished = self.monotonic()
        self.last_success = self.now()
        logger.info("%s", report.log_line(self.mode))
        self.interval = adapted_interval(self.config, finished - started)
        self._heartbeat(report=report)
        return next_delay(
            started=started, finished=finished, interval=self.interval, buffer=self.config.buffer
        )

    def _heartbeat(self, *, report: CycleReport | None = None, error: str | None = None) -> None:
        beat: dict[str, Any] = {
            "identity": identity(),
            "at": self.now().isoformat(),
            "mode": self.mode,
            "db_layer": visitor_settings().db_layer,
            "interval_ms": round(self.interval * 1000),
            "last_success_at": self.last_success.isoformat() if self.last_success else None,
            "error": error,
        }
        if report is not None:
            beat.update(asdict(report))
        cache.safe("set", keys.SYNC_HEARTBEAT, beat, None)
        prometheus.record_cycle(report=report, error=error, last_success=self.last_success)

    # -- the whole loop ----------------------------------------------------------------
    def run(self, *, once: bool = False) -> bool:
        """Loop until stopped; with ``once``, one cycle as leader. False if it never led."""
        give_up = self.monotonic() + 2 * self.config.lock_ttl
        try:
            while not self.stop.is_set():
                delay = self.step()
                if once and not self.is_leader and self.monotonic() > give_up:
                    logger.error("another process holds the sync leader lock; --once gave up")
                    return False
                if once and self.is_leader:
                    return self.failures == 0
                if self._renewer is not None and self._renewer.lost.is_set():
                    logger.warning("lost the leader lock; standing by")
                    self.is_leader = False
                    self._stop_renewing()
                self.wait(delay)
            return True
        finally:
            self._stop_renewing()
            if self.is_leader:
                self.lock.release()
                logger.info("released the sync leader lock")


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM / SIGINT: finish the current cycle, release the lock, exit cleanly."""

    def handler(signum: int, frame: object) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
