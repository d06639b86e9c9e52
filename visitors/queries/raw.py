"""Raw SQL through ``connection.cursor()``; the same statements run on MySQL/MariaDB and SQLite."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from django.db import connections

from visitors.clock import day_start
from visitors.models import Visitor
from visitors.prometheus import timed_question
from visitors.queries.base import Checkin, GroupColumn, MemberDay
from visitors.routers import VISITORS_DB

# The local hour of checkin_date: the one expression the two vendors spell differently.
_HOUR = {"mysql": "HOUR(checkin_date)", "sqlite": "CAST(strftime('%%H', checkin_date) AS INTEGER)"}
_MINUTE = {
    "mysql": "MINUTE(checkin_date)",
    "sqlite": "CAST(strftime('%%M', checkin_date) AS INTEGER)",
}
_COLUMNS: dict[str, str] = {"institution": "institution", "room_code": "room_code"}


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _grouped(rows: list[tuple[Any, ...]]) -> dict[date, dict[Any, int]]:
    result: dict[date, dict[Any, int]] = defaultdict(dict)
    for day, value, count in rows:
        if day is not None:
            group = result[_as_date(day)]
            key = None if value in (None, "") else value
            group[key] = group.get(key, 0) + int(count)
    return dict(result)


class RawQueries:
    def __init__(self, using: str = VISITORS_DB) -> None:
        self.using = using
        connection = connections[using]
        table = connection.ops.quote_name(Visitor._meta.db_table)
        self._range = f"FROM {table} WHERE checkin_date >= %s AND checkin_date < %s"
        # Each member's day grouped, joined back to its last row for the name shown.
        self._member_days = (
            "SELECT g.day, g.member_id, g.n, v.member_name, v.institution FROM ("
            "SELECT DATE(checkin_date) AS day, member_id, COUNT(*) AS n, "
            f"MAX(visitor_id) AS last_id {self._range} "
            "AND member_id IS NOT NULL AND member_id <> '' "
            f"GROUP BY DATE(checkin_date), member_id) g JOIN {table} v ON v.visitor_id = g.last_id"
        )
        self._hour = _HOUR[connection.vendor]
        self._minute = _MINUTE[connection.vendor]
        self._table = table

    def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    @timed_question("raw")
    def count(self, *, start: date, end: date) -> int:
        rows = self._fetch(f"SELECT COUNT(*) {self._range}", [day_start(start), day_start(end)])
        return int(rows[0][0])

    @timed_question("raw")
    def count_after_id(self, *, start: date, end: date, after_id: int) -> tuple[int, int]:
        rows = self._fetch(
            f"SELECT COUNT(*), MAX(visitor_id) {self._range} AND visitor_id > %s",
            [day_start(start), day_start(end), after_id],
        )
        count, top = rows[0]
        return int(count), int(top) if top is not None else after_id

    @timed_question("raw")
    def daily_counts(self, *, start: date, end: date) -> dict[date, int]:
        rows = self._fetch(
            f"SELECT DATE(checkin_date) AS day, COUNT(*) {self._range} GROUP BY DATE(checkin_date)",
            [day_start(start), day_start(end)],
        )
        return {_as_date(day): int(count) for day, count in rows if day is not None}

    @timed_question("raw")
    def day_prints(self, *, start: date, end: date) -> dict[date, tuple[int, int]]:
        rows = self._fetch(
            f"SELECT DATE(checkin_date), COUNT(*), SUM(visitor_id) {self._range} "
            "GROUP BY DATE(checkin_date)",
            [day_start(start), day_start(end)],
        )
        return {_as_date(day): (int(n), int(ids)) for day, n, ids in rows if day is not None}

    @timed_question("raw")
    def rows_after(self, *, start: date, end: date, after_id: int) -> list[Checkin]:
        rows = self._fetch(
            "SELECT visitor_id, member_id, member_name, institution, room_code, checkin_date "
            f"{self._range} AND visitor_id > %s ORDER BY visitor_id",
            [day_start(start), day_start(end), after_id],
        )
        return [
            Checkin(int(vid), member, name, institution, room, _as_datetime(moment))
            for vid, member, name, institution, room, moment in rows
        ]

    @timed_question("raw")
    def counts_by(
        self, *, column: GroupColumn, start: date, end: date
    ) -> dict[date, dict[str | None, int]]:
        name = _COLUMNS[column]
        return _grouped(
            self._fetch(
                f"SELECT DATE(checkin_date), {name}, COUNT(*) {self._range} "
                f"GROUP BY DATE(checkin_date), {name}",
                [day_start(start), day_start(end)],
            )
        )

    @timed_question("raw")
    def member_days(self, *, start: date, end: date) -> dict[date, dict[str, MemberDay]]:
        result: dict[date, dict[str, MemberDay]] = defaultdict(dict)
        for day, member, count, name, institution in self._fetch(
            self._member_days, [day_start(start), day_start(end)]
        ):
            if day is not None:
                result[_as_date(day)][member] = (int(count), name or None, institution or None)
        return dict(result)

    @timed_question("raw")
    def hourly_counts(self, *, start: date, end: date) -> dict[date, dict[int, int]]:
        return _grouped(
            self._fetch(
                f"SELECT DATE(checkin_date), {self._hour}, COUNT(*) {self._range} "
                f"GROUP BY DATE(checkin_date), {self._hour}",
                [day_start(start), day_start(end)],
            )
        )

    @timed_question("raw")
    def minute_counts(self, *, start: datetime, end: datetime) -> dict[int, int]:
        rows = self._fetch(
            f"SELECT {self._minute}, COUNT(*) {self._range} GROUP BY {self._minute}",
            [start.replace(tzinfo=None), end.replace(tzinfo=None)],
        )
        return {int(minute): int(count) for minute, count in rows if minute is not None}

    @timed_question("raw")
    def first_day(self) -> date | None:
        first = self._fetch(f"SELECT MIN(checkin_date) FROM {self._table}", [])[0][0]
        return None if first is None else _as_datetime(first).date()
