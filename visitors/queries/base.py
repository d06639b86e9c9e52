"""The questions the service asks the visitor table: one interface, two implementations.

Every bound is a local calendar date, turned into ``[start 00:00, end 00:00)`` range
predicates on ``checkin_date`` so MySQL can use its index.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol


class VisitorQueries(Protocol):
    using: str

    def count(self, *, start: date, end: date) -> int:
        """Rows with ``start <= checkin_date < end``."""
        ...

    def count_after_id(self, *, start: date, end: date, after_id: int) -> tuple[int, int]:
        """Rows in the range with ``visitor_id > after_id``, and the largest such id.

        The id is ``after_id`` when there are no such rows.
        """
        ...

    def daily_counts(self, *, start: date, end: date) -> dict[date, int]:
        """Per-day counts in the range; days with no rows are absent."""
        ...
