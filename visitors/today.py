"""Today's count, refreshed by the sync loop in one of three modes (``TODAY_COUNT_MODE``).

- ``direct``: one indexed range COUNT per cycle.
- ``delta``: a baseline (COUNT, MAX(visitor_id)) once per local day, then only rows with a
  higher id; a periodic full reconcile heals late rows with lower ids and deletions.
- ``incremental``: a base counted from the DB plus a Redis counter that writers increase
  (``record_checkins`` or ``INCRBY visitors:today:incremental 1``), reconciled periodically.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from visitors import cache, keys
from visitors.clock import next_day
from visitors.conf import visitor_settings
from visitors.queries import VisitorQueries, get_queries

logger = logging.getLogger(__name__)


class TodayCounter(Protocol):
    def refresh(self, *, now: datetime) -> int:
        """Today's count (library-local ``now``)."""
        ...


class DirectCounter:
    def __init__(self, queries: VisitorQueries) -> None:
        self.queries = queries

    def refresh(self, *, now: datetime) -> int:
        today = now.date()
        return self.queries.count(start=today, end=next_day(today))


@dataclass
class _Reconciled:
    day: date
    at: datetime


class Reconciling:
    """Shared timing: reconcile on a new local day, or when the last one is too old."""

    def __init__(self, queries: VisitorQueries, reconcile_interval: timedelta) -> None:
        self.queries = queries
        self.reconcile_interval = reconcile_interval
        self.last: _Reconciled | None = None

    def reconcile_due(self, now: datetime) -> bool:
        last = self.last
        if last is None or last.day != now.date():
            return True
        # Elapsed real time (UTC): wall-clock subtraction in one zone runs backwards for the
        # repeated hour after a DST fall-back.
        return now.astimezone(UTC) - last.at >= self.reconcile_interval

    def mark_reconciled(self, now: datetime) -> None:
        self.last = _Reconciled(now.date(), now.astimezone(UTC))


class DeltaCounter(Reconciling):
    def __init__(self, queries: VisitorQueries, reconcile_interval: timedelta) -> None:
        super().__init__(queries, reconcile_interval)
        self.count = 0
        self.max_id = 0

    def refresh(self, *, now: datetime) -> int:
        today = now.date()
        if self.reconcile_due(now):
            self.count, self.max_id = self.queries.count_after_id(
                start=today, end=next_day(today), after_id=0
            )
            self.mark_reconciled(now)
        else:
            new, self.max_id = self.queries.count_after_id(
                start=today, end=next_day(today), after_id=self.max_id
            )
            self.count += new
        return self.count


class IncrementalCounter(Reconciling):
    """Base from the DB plus the writers' counter.

    Reconciling subtracts exactly the increments seen *before* counting (atomic DECRBY), so
    increments racing with it are never lost; those that land between the read and the
    count are counted twice until the next reconcile, and none once writes stop.
    """

    def __init__(self, queries: VisitorQueries, reconcile_interval: timedelta) -> None:
        super().__init__(queries, reconcile_interval)
        self.base = 0

    def refresh(self, *, now: datetime) -> int:
        today = now.date()
        if self.reconcile_due(now):
            seen = _increments_or_reset()
            self.base = self.queries.count(start=today, end=next_day(today))
            if seen:
                cache.increment(keys.INCREMENTAL, -seen)
            cache.safe("set", keys.INCREMENTAL_BASE, self.base, None)
            self.mark_reconciled(now)
        return self.base + pending_increments()


COUNTERS: dict[str, type[TodayCounter]] = {
    "direct": DirectCounter,
    "delta": DeltaCounter,
    "incremental": IncrementalCounter,
}


def make_counter(
    mode: str | None = None,
    *,
    queries: VisitorQueries | None = None,
    reconcile_interval: timedelta | None = None,
) -> TodayCounter:
    conf = visitor_settings()
    queries = queries or get_queries()
    counter = COUNTERS[mode or conf.TODAY_COUNT_MODE]
    if counter is DirectCounter:
        return DirectCounter(queries)
    interval = reconcile_interval or timedelta(milliseconds=conf.VISITOR_RECONCILE_INTERVAL_MS)
    return counter(queries, interval)  # type: ignore[call-arg]


def pending_increments() -> int:
    """Increments recorded by writers since the last reconcile (0 if absent or garbage)."""
    value = cache.read_valid(keys.INCREMENTAL, lambda v: type(v) is int)
    return value or 0


def _increments_or_reset() -> int:
    """Like ``pending_increments``, but a garbage counter is reset so writers can go on."""
    value = cache.read_valid(keys.INCREMENTAL, lambda v: type(v) is int)
    if value is None and cache.safe("has_key", keys.INCREMENTAL, default=False):
        logger.warning("%s is not an integer; resetting it to 0", keys.INCREMENTAL)
        cache.safe("set", keys.INCREMENTAL, 0, None)
    return value or 0


def record_checkins(n: int = 1) -> int:
    """Write-path hook for ``incremental`` mode: call after inserting ``n`` check-ins for today.

    Equivalent for programs outside Django: ``INCRBY visitors:today:incremental <n>`` on the
    service's Redis. Returns the counter's new value.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    return cache.increment(keys.INCREMENTAL, n)
