"""The questions the service asks the visitor table: one interface, two implementations.

Every bound is a local calendar date, turned into ``[start 00:00, end 00:00)`` range
predicates on ``checkin_date`` so MySQL can use its index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

# The columns a closed day is broken down by (``counts_by``); NULL and '' count as None.
GroupColumn = Literal["institution", "room_code"]
# A member's day: their check-ins, and the name and institution on the last of them.
MemberDay = tuple[int, str | None, str | None]


@dataclass(frozen=True)
class Checkin:
    """One row of ``visitor_count``; ``checkin_date`` naive, library-local."""

    visitor_id: int
    member_id: str | None
    member_name: str | None
    institution: str | None
    room_code: str | None
    checkin_date: datetime


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

    def day_prints(self, *, start: date, end: date) -> dict[date, tuple[int, int]]:
        """Per day, (rows, the sum of their ``visitor_id``): a fingerprint that a late row
        or a deleted one changes, read from the date index alone; days with no rows are
        absent."""
        ...

    def rows_after(self, *, start: date, end: date, after_id: int) -> list[Checkin]:
        """The rows in the range with ``visitor_id > after_id``, in id order (today's new
        rows for the loop; ``after_id=0`` for all of them)."""
        ...

    def counts_by(
        self, *, column: GroupColumn, start: date, end: date
    ) -> dict[date, dict[str | None, int]]:
        """Per day, the count per value of ``column`` (None for NULL or empty); days with no
        rows are absent."""
        ...

    def member_days(self, *, start: date, end: date) -> dict[date, dict[str, MemberDay]]:
        """Per day, per ``member_id`` (rows without one are left out): the count, and the
        ``member_name`` and ``institution`` (NULL or '' as None) of that day's row with the highest
        ``visitor_id``; days with no such rows are absent. One grouped statement."""
        ...

    def hourly_counts(self, *, start: date, end: date) -> dict[date, dict[int, int]]:
        """Per day, the count per local hour 0-23 (wall-clock hours: a DST day has 23 or
        25 of them, folded into these 24); days and hours with no rows are absent."""
        ...

    def minute_counts(self, *, start: datetime, end: datetime) -> dict[int, int]:
        """Per minute of the hour 0-59, the rows with ``start <= checkin_date < end`` (naive
        local wall-clock times, at most an hour apart); minutes with no rows are absent."""
        ...

    def first_day(self) -> date | None:
        """The local day of the oldest check-in (the index's first entry); None when empty."""
        ...
