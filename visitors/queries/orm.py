"""The same questions through the Django ORM."""

from __future__ import annotations

from datetime import date

from django.db.models import Count, Max, QuerySet
from django.db.models.functions import TruncDate

from visitors.clock import aware_day_start
from visitors.models import Visitor
from visitors.prometheus import timed_question
from visitors.routers import VISITORS_DB


class OrmQueries:
    def __init__(self, using: str = VISITORS_DB) -> None:
        self.using = using

    def _range(self, start: date, end: date) -> QuerySet[Visitor]:
        return Visitor.objects.using(self.using).filter(
            checkin_date__gte=aware_day_start(start), checkin_date__lt=aware_day_start(end)
        )

    @timed_question("orm")
    def count(self, *, start: date, end: date) -> int:
        return self._range(start, end).count()

    @timed_question("orm")
    def count_after_id(self, *, start: date, end: date, after_id: int) -> tuple[int, int]:
        result = (
            self._range(start, end)
            .filter(visitor_id__gt=after_id)
            .aggregate(n=Count("visitor_id"), top=Max("visitor_id"))
        )
        return result["n"], result["top"] if result["top"] is not None else after_id

    @timed_question("orm")
    def daily_counts(self, *, start: date, end: date) -> dict[date, int]:
        rows = (
            self._range(start, end)
            .order_by()
            .annotate(day=TruncDate("checkin_date"))
            .values_list("day")
            .annotate(n=Count("visitor_id"))
        )
        return {day: n for day, n in rows if day is not None}
