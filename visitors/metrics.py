"""What the numbers are: complete series built from closed-day counts plus today's live count.

Pure functions, no I/O. Series are oldest first, end with the current day/month/year of the
library's calendar, and hold a zero wherever nobody came.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import TypedDict

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


def _with_today(
    closed: Mapping[date, int], today: date, today_count: int
) -> Iterable[tuple[date, int]]:
    yield from ((day, count) for day, count in closed.items() if day < today)
    yield today, today_count


def weekly(*, today: date, closed: Mapping[date, int], today_count: int) -> list[DayTotal]:
    counts = dict(_with_today(closed, today, today_count))
    return [{"date": day.isoformat(), "total": counts.get(day, 0)} for day in week_days(today)]


def monthly(*, today: date, closed: Mapping[date, int], today_count: int) -> list[MonthTotal]:
    totals: Counter[tuple[int, int]] = Counter()
    for day, count in _with_today(closed, today, today_count):
        totals[(day.year, day.month)] += count
    return [{"month": f"{y:04d}-{m:02d}", "total": totals[(y, m)]} for y, m in months(today)]


def yearly(*, today: date, closed: Mapping[date, int], today_count: int) -> list[YearTotal]:
    totals: Counter[int] = Counter()
    for day, count in _with_today(closed, today, today_count):
        totals[day.year] += count
    return [{"year": year, "total": totals[year]} for year in years(today)]
