"""The series arithmetic: complete series built from closed-day counts plus today's count.

Pure functions, no I/O. Series are oldest first, end with the current day/month/year of the
library's calendar, and hold a zero wherever nobody came. Each series' ``Shape`` checks a
cached value: the right length and labels, and whether it still ends with the current one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypedDict

from visitors.clock import add_months

WEEK_DAYS = 7
MONTHS = 12
YEARS = 5


class DayTotal(TypedDict):
    date: str
    total: int


class MonthTotal(TypedDict):
    month: str
    total: int


class YearTotal(TypedDict):
    year: int
    total: int


def week_days(today: date) -> list[date]:
    return [today - timedelta(days=offset) for offset in range(WEEK_DAYS - 1, -1, -1)]


def months(today: date) -> list[tuple[int, int]]:
    return [add_months(today.year, today.month, -offset) for offset in range(MONTHS - 1, -1, -1)]


def years(today: date) -> list[int]:
    return list(range(today.year - YEARS + 1, today.year + 1))


def history_start(today: date) -> date:
    """The first day any series needs: 1 January of the oldest year shown."""
    return date(years(today)[0], 1, 1)


@dataclass(frozen=True)
class ClosedTotals:
    """Closed-day counts (days before ``today``) pre-summed by month and by year.

    Built once per rollup change, so each sync cycle only adds today's count.
    """

    today: date
    days: Mapping[date, int]
    months: Mapping[tuple[int, int], int]
    years: Mapping[int, int]


def closed_totals(closed: Mapping[date, int] | ClosedTotals, today: date) -> ClosedTotals:
    if isinstance(closed, ClosedTotals) and closed.today == today:
        return closed
    days = closed.days if isinstance(closed, ClosedTotals) else closed
    kept = {day: count for day, count in days.items() if day < today}
    months: Counter[tuple[int, int]] = Counter()
    years: Counter[int] = Counter()
    for day, count in kept.items():
        months[(day.year, day.month)] += count
        years[day.year] += count
    return ClosedTotals(today, kept, months, years)


Closed = Mapping[date, int] | ClosedTotals


def weekly(*, today: date, closed: Closed, today_count: int) -> list[DayTotal]:
    totals = closed_totals(closed, today)
    return [
        {"date": day.isoformat(), "total": today_count if day == today else totals.days.get(day, 0)}
        for day in week_days(today)
    ]


def monthly(*, today: date, closed: Closed, today_count: int) -> list[MonthTotal]:
    totals = closed_totals(closed, today)
    current = (today.year, today.month)
    return [
        {
            "month": f"{y:04d}-{m:02d}",
            "total": totals.months.get((y, m), 0) + (today_count if (y, m) == current else 0),
        }
        for y, m in months(today)
    ]


def yearly(*, today: date, closed: Closed, today_count: int) -> list[YearTotal]:
    totals = closed_totals(closed, today)
    return [
        {
            "year": year,
            "total": totals.years.get(year, 0) + (today_count if year == today.year else 0),
        }
        for year in years(today)
    ]


# --- shapes of cached values --------------------------------------------------------------
def is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


@dataclass(frozen=True)
class Shape:
    """A series as stored: ``length`` items ``{label: ..., "total": n}``, ending with the
    current label of the library's calendar."""

    length: int
    label: str
    label_type: type
    current: Callable[[date], Any]

    def validate(self, value: Any) -> bool:
        return (
            isinstance(value, list)
            and len(value) == self.length
            and all(
                isinstance(item, dict)
                and item.keys() == {self.label, "total"}
                and type(item[self.label]) is self.label_type
                and is_count(item["total"])
                for item in value
            )
        )

    def is_current(self, value: list[Any], today: date) -> bool:
        return value[-1][self.label] == self.current(today)


WEEK = Shape(WEEK_DAYS, "date", str, lambda today: today.isoformat())
MONTH = Shape(MONTHS, "month", str, lambda today: f"{today.year:04d}-{today.month:02d}")
YEAR = Shape(YEARS, "year", int, lambda today: today.year)
