"""The same questions through the Django ORM."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from django.db.models import CharField, Count, Max, Min, QuerySet, Sum, Value
from django.db.models.functions import (
    Cast,
    Coalesce,
    Concat,
    ExtractHour,
    ExtractMinute,
    LPad,
    TruncDate,
)
from django.utils import timezone

from visitors.clock import aware_day_start
from visitors.models import Visitor
from visitors.prometheus import timed_question
from visitors.queries.base import Checkin, GroupColumn, MemberDay
from visitors.routers import VISITORS_DB

_SEP = "\x1f"  # ASCII unit separator: never in a name


def _grouped(rows: Any) -> dict[date, dict[Any, int]]:
    result: dict[date, dict[Any, int]] = defaultdict(dict)
    for day, value, count in rows:
        if day is not None:
            group = result[day]
            key = None if value in (None, "") else value
            group[key] = group.get(key, 0) + count
    return dict(result)


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

    @timed_question("orm")
    def day_prints(self, *, start: date, end: date) -> dict[date, tuple[int, int]]:
        rows = (
            self._range(start, end)
            .order_by()
            .annotate(day=TruncDate("checkin_date"))
            .values_list("day")
            .annotate(n=Count("visitor_id"), ids=Sum("visitor_id"))
        )
        return {day: (n, int(ids)) for day, n, ids in rows if day is not None}

    @timed_question("orm")
    def rows_after(self, *, start: date, end: date, after_id: int) -> list[Checkin]:
        rows = (
            self._range(start, end)
            .filter(visitor_id__gt=after_id)
            .order_by("visitor_id")
            .values_list(
                "visitor_id", "member_id", "member_name", "institution", "room_code", "checkin_date"
            )
        )
        return [
            Checkin(
                vid,
                member,
                name,
                institution,
                room,
                timezone.localtime(moment).replace(tzinfo=None),
            )
            for vid, member, name, institution, room, moment in rows
        ]

    @timed_question("orm")
    def counts_by(
        self, *, column: GroupColumn, start: date, end: date
    ) -> dict[date, dict[str | None, int]]:
        rows = (
            self._range(start, end)
            .order_by()
            .annotate(day=TruncDate("checkin_date"))
            .values_list("day", column)
            .annotate(n=Count("visitor_id"))
        )
        return _grouped(rows)

    @timed_question("orm")
    def member_days(self, *, start: date, end: date) -> dict[date, dict[str, MemberDay]]:
        # The ORM cannot join a grouped subquery back to its rows, so the last row's name
        # and institution ride in the group's MAX: "<visitor_id, 10 digits><US><name><US>..."
        last = Max(
            Concat(
                LPad(Cast("visitor_id", CharField()), 10, Value("0")),
                Value(_SEP),
                Coalesce("member_name", Value("")),
                Value(_SEP),
                Coalesce("institution", Value("")),
                output_field=CharField(),
            )
        )
        rows = (
            self._range(start, end)
            .exclude(member_id__isnull=True)
            .exclude(member_id="")
            .order_by()
            .annotate(day=TruncDate("checkin_date"))
            .values_list("day", "member_id")
            .annotate(n=Count("visitor_id"), last=last)
        )
        result: dict[date, dict[str, MemberDay]] = defaultdict(dict)
        for day, member, count, packed in rows:
            if day is not None:
                name, _, institution = packed[10:].removeprefix(_SEP).rpartition(_SEP)
                result[day][member] = (count, name or None, institution or None)
        return dict(result)

    @timed_question("orm")
    def hourly_counts(self, *, start: date, end: date) -> dict[date, dict[int, int]]:
        rows = (
            self._range(start, end)
            .order_by()
            .annotate(day=TruncDate("checkin_date"), hour=ExtractHour("checkin_date"))
            .values_list("day", "hour")
            .annotate(n=Count("visitor_id"))
        )
        return _grouped(rows)

    @timed_question("orm")
    def minute_counts(self, *, start: datetime, end: datetime) -> dict[int, int]:
        zone = timezone.get_default_timezone()
        rows = (
            Visitor.objects.using(self.using)
            .filter(
                checkin_date__gte=timezone.make_aware(start.replace(tzinfo=None), zone),
                checkin_date__lt=timezone.make_aware(end.replace(tzinfo=None), zone),
            )
            .order_by()
            .annotate(minute=ExtractMinute("checkin_date"))
            .values_list("minute")
            .annotate(n=Count("visitor_id"))
        )
        return {minute: n for minute, n in rows if minute is not None}

    @timed_question("orm")
    def first_day(self) -> date | None:
        first = Visitor.objects.using(self.using).aggregate(first=Min("checkin_date"))["first"]
        return None if first is None else timezone.localtime(first).date()
