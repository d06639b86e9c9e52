"""Today's check-ins row by row, as the sync loop keeps them, for today's breakdowns.

Today's parts of the hourly chart, the rooms and the rankings are computed from these rows.
Each cycle asks only for rows with a higher id than the last one seen (today's index range:
a handful of rows); at every reconcile (``VISITOR_RECONCILE_INTERVAL_MS``) and at local
midnight it reads today's rows again in full, which also drops deleted rows and picks up
late ones with lower ids. The count itself stays with the configured mode (``today.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from visitors import cache
from visitors.clock import next_day
from visitors.queries import VisitorQueries
from visitors.queries.base import Checkin
from visitors.today import Reconciling


class Appended(tuple):  # type: ignore[type-arg]
    """Today's rows after new ones arrived; ``before`` is the tuple they extend (only the
    latest link is kept), so a tally of them counts only the new rows."""

    before: tuple[Checkin, ...] | None = None


class TodayRows(Reconciling):
    def __init__(self, queries: VisitorQueries, reconcile_interval: timedelta) -> None:
        super().__init__(queries, reconcile_interval)
        self.rows: tuple[Checkin, ...] = ()
        self.version = 0  # grows whenever ``rows`` changed

    def refresh(self, *, now: datetime) -> bool:
        """Bring ``rows`` up to date; True when they changed."""
        today = now.date()
        if self.reconcile_due(now):
            rows = tuple(self.queries.rows_after(start=today, end=next_day(today), after_id=0))
            self.mark_reconciled(now)
            changed = rows != self.rows
            if changed:  # unchanged: keep the same object, so what was computed from it holds
                self.rows = rows
        else:
            last = self.rows[-1].visitor_id if self.rows else 0  # the query orders by id
            new = self.queries.rows_after(start=today, end=next_day(today), after_id=last)
            changed = bool(new)
            if changed:
                if isinstance(self.rows, Appended):
                    self.rows.before = None  # one link, not a chain of every earlier tuple
                appended = Appended(self.rows + tuple(new))
                appended.before = self.rows
                self.rows = appended
        if changed:
            self.version += 1
        return changed


def tally(rows: Iterable[Checkin], key: Callable[[Checkin], object]) -> Counter[object]:
    """How many of ``rows`` fall under each ``key(row)`` (e.g. the hour, the room)."""
    return Counter(key(row) for row in rows)


_tallies: dict[Callable[[Checkin], object], tuple[Sequence[Checkin], Counter[object]]] = {}
# The loop's tallies only (``keep``): a web process tallies on Django's path (a miss), from
# rows it read for that request; kept, those rows (thousands of small objects made among an
# outage's garbage) pinned its heap after the outage (docs/BENCHMARKS.md, soak).
cache.breaker.when_reachable(_tallies.clear)


def kept_tally(
    rows: Sequence[Checkin], key: Callable[[Checkin], object], *, keep: bool
) -> Counter[object]:
    """``tally``, reused while ``rows`` is the same object (the loop's rows between
    changes), and extended by the new rows only when ``rows`` appends to the last ones
    (``Appended``); the result is shared: do not mutate it. Only ``keep`` tallies are
    remembered (``Facts.keeps_results``)."""
    if not keep:
        return tally(rows, key)
    last = _tallies.get(key)
    if last is not None and last[0] is rows:
        return last[1]
    before = getattr(rows, "before", None)
    if last is not None and before is not None and last[0] is before:
        counts = last[1].copy()
        counts.update(key(row) for row in rows[len(before) :])
    else:
        counts = tally(rows, key)
    _tallies[key] = (rows, counts)
    return counts
