"""Raw SQL through ``connection.cursor()``; the same statements run on MySQL/MariaDB and SQLite."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import connections

from visitors.clock import day_start
from visitors.models import Visitor
from visitors.prometheus import timed_question
from visitors.routers import VISITORS_DB


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


class RawQueries:
    def __init__(self, using: str = VISITORS_DB) -> None:
        self.using = using
        connection = connections[using]
        table = connection.ops.quote_name(Visitor._meta.db_table)
        self._range = f"FROM {table} WHERE checkin_date >= %s AND checkin_date < %s"

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
