"""Day prints: per closed day, the number of rows and the sum of their ``visitor_id``.

Read from the date index alone (``VisitorQueries.day_prints``), a print changes when a row
arrives late for that day or one is deleted, so a re-check counts again only the days whose
print is not the one they were counted with (``visitors.breakdowns``), and the rollup takes
its counts of those days from the prints themselves (``visitors.rollup``). One read serves
every store of a loop refresh or a daily job.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from visitors.conf import visitor_settings
from visitors.queries import VisitorQueries

# A day's print as stored: [rows, the sum of their ids]; by day.
Prints = dict[date, list[int]]


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


def is_prints(value: Any) -> bool:
    """A stored ``{"YYYY-MM-DD": [rows, sum of ids]}``."""
    return isinstance(value, dict) and all(
        isinstance(v, list) and len(v) == 2 and all(type(n) is int for n in v)
        for v in value.values()
    )


class DayPrints:
    """The prints of the re-check window's days (``VISITOR_ROLLUP_RECHECK_DAYS``, or more),
    read once when first asked, before anything is counted: a row that arrives meanwhile
    shows at the next re-check."""

    def __init__(self, queries: VisitorQueries, today: date, recheck_days: int = 0) -> None:
        days = max(recheck_days, visitor_settings().VISITOR_ROLLUP_RECHECK_DAYS)
        self.queries, self.today = queries, today
        self.start = today - timedelta(days=days)
        self._found: Mapping[date, tuple[int, int]] | None = None

    def _read(self) -> Mapping[date, tuple[int, int]]:
        if self._found is None:
            self._found = self.queries.day_prints(start=self.start, end=self.today)
        return self._found

    def since(self, first: date) -> Prints:
        """The window's days from ``first`` on."""
        found = self._read()
        return {
            day: list(found.get(day, (0, 0)))
            for day in days_between(max(first, self.start), self.today)
        }

    def covers(self, start: date, end: date) -> bool:
        return self.start <= start <= end <= self.today

    def counts(self, start: date, end: date) -> dict[date, int]:
        """The rows of each day of ``[start, end)`` (within the window) that has any, as
        ``daily_counts`` answers."""
        found = self._read()
        return {day: found[day][0] for day in days_between(start, end) if day in found}
