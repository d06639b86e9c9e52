"""When people come: today by hour, today against last week and last year, the busiest times.

Pure builders over the facts (``visitors.endpoints.Facts``): closed days come from the kept
hourly breakdown (``visitors.breakdowns.HOURS``), today from the loop's rows of today. Hours
are local wall-clock hours, the ones ``checkin_date`` holds: on a day that springs forward
the skipped hour stays empty, on a day that falls back both of its repeated hours count in
it, and every day shows the 24 hours 0-23.

The comparison counts the earlier days up to the same local time, to the minute: their
whole hours from the breakdown, and the current hour's minutes before now from one small
grouped query per earlier day (``minute_counts``), asked once per hour and kept
(``PastMinutes``). Today's side is today's count as ``/today`` serves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from visitors import cache
from visitors.breakdowns import HOURS, Counts
from visitors.conf import visitor_settings
from visitors.memo import LastResult
from visitors.queries.base import Checkin
from visitors.today_rows import kept_tally

if TYPE_CHECKING:
    from visitors.endpoints import Facts
    from visitors.queries import VisitorQueries

HOURS_OF_DAY = range(24)
LAST_WEEK = timedelta(days=7)
LAST_YEAR = timedelta(days=364)  # 52 weeks: the same weekday a year ago


def _hour_of(row: Checkin) -> int:
    return row.checkin_date.hour


def _count(counts: Counts, hour: int) -> int:
    return counts.get(str(hour), 0)


# --- today by hour ------------------------------------------------------------------------
def today_hourly(facts: Facts) -> dict[str, Any]:
    """Today's 24 hours (the current one live), last week's same weekday per hour, and the
    peak hour so far (the earliest of equal ones; null before the first check-in)."""
    today = facts.today
    week_ago = today - LAST_WEEK
    # First: with MySQL down this fails before the days are read.
    now = kept_tally(facts.today_rows, _hour_of, keep=facts.keeps_results)
    before = facts.closed_breakdown(HOURS).get(week_ago, {})
    hours = [
        {"hour": hour, "total": now.get(hour, 0), "last_week": _count(before, hour)}
        for hour in HOURS_OF_DAY
    ]
    current = facts.now.hour
    so_far = [item for item in hours if item["hour"] <= current and item["total"] > 0]
    peak = max(so_far, key=lambda item: (item["total"], -item["hour"]), default=None)
    return {
        "date": today.isoformat(),
        "last_week_date": week_ago.isoformat(),
        "current_hour": current,
        "hours": hours,
        "peak": None if peak is None else {"hour": peak["hour"], "total": peak["total"]},
    }


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def is_today_hourly(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {"date", "last_week_date", "current_hour", "hours", "peak"}
        and isinstance(value["hours"], list)
        and [item.get("hour") if isinstance(item, dict) else None for item in value["hours"]]
        == list(HOURS_OF_DAY)
        and all(
            _is_count(item["total"]) and _is_count(item["last_week"]) for item in value["hours"]
        )
        and (value["peak"] is None or isinstance(value["peak"], dict))
    )


def is_dated(value: Any, today: date) -> bool:
    return value["date"] == today.isoformat()


# --- today against last week and last year -----------------------------------------------
def compared_days(today: date) -> dict[str, date]:
    return {"last_week": today - LAST_WEEK, "last_year": today - LAST_YEAR}


def minutes_wanted(now: datetime) -> list[tuple[date, int]]:
    """The (day, hour) whose minutes the comparison needs at ``now``."""
    return [(day, now.hour) for day in compared_days(now.date()).values()]


def up_to(facts: Facts, day: date) -> int:
    """``day``'s check-ins before the current local time of day, to the minute."""
    hour, minute = facts.now.hour, facts.now.minute
    counts = facts.closed_breakdown(HOURS).get(day, {})
    whole = sum(_count(counts, h) for h in range(hour))
    part = sum(n for m, n in facts.hour_minutes(day, hour).items() if m < minute)
    return whole + part


def _against(today_count: int, day: date, total: int) -> dict[str, Any]:
    difference = today_count - total
    return {
        "date": day.isoformat(),
        "total": total,
        "difference": difference,
        "percent": round(100 * difference / total, 1) if total else None,
    }


def compare(facts: Facts) -> dict[str, Any]:
    today_count = facts.today_count
    return {
        "date": facts.today.isoformat(),
        "time": facts.now.strftime("%H:%M"),
        "today": today_count,
        **{
            name: _against(today_count, day, up_to(facts, day))
            for name, day in compared_days(facts.today).items()
        },
    }


def is_compare(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {"date", "time", "today", "last_week", "last_year"}
        and _is_count(value["today"])
        and all(
            isinstance(value[k], dict) and _is_count(value[k].get("total"))
            for k in ("last_week", "last_year")
        )
    )


class PastMinutes:
    """The loop's minutes of the compared days' current hour: asked once per hour per day."""

    def __init__(self, queries: VisitorQueries) -> None:
        self.queries = queries
        self.kept: dict[tuple[date, int], dict[int, int]] = {}

    def refresh(self, now: datetime) -> Mapping[tuple[date, int], Mapping[int, int]]:
        wanted = minutes_wanted(now)
        self.kept = {
            key: self.kept[key] if key in self.kept else minutes_of(self.queries, *key)
            for key in wanted
        }
        return self.kept


def minutes_of(queries: VisitorQueries, day: date, hour: int) -> dict[int, int]:
    start = datetime(day.year, day.month, day.day, hour)
    return queries.minute_counts(start=start, end=start + timedelta(hours=1))


# --- busiest times ------------------------------------------------------------------------
def heatmap_range(today: date, weeks: int) -> tuple[date, date]:
    """The first and last day of the last ``weeks`` closed weeks (Monday to Sunday)."""
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(weeks=weeks), monday - timedelta(days=1)


def days_read(today: date) -> list[date]:
    """Every closed day these payloads read of the hourly breakdown (``HOURS.read_days``):
    last week's and last year's same weekday, and the heatmap's weeks."""
    first, last = heatmap_range(today, visitor_settings().HEATMAP_WEEKS)
    days = {first + timedelta(days=n) for n in range((last - first).days + 1)}
    days.update(compared_days(today).values())
    return sorted(days)


_heatmaps: LastResult[dict[str, Any]] = LastResult()
# Kept for the loop only (``Facts.keeps_results``); nothing built amid an outage is kept
# once the cache answers.
cache.breaker.when_reachable(_heatmaps.clear)


def heatmap(facts: Facts, weeks: int) -> dict[str, Any]:
    """The average check-ins per ISO weekday (1 Monday .. 7 Sunday) and local hour."""
    closed = facts.closed_breakdown(HOURS)
    # Closed days only: the loop's cycles of one day reuse it; not kept when counted for an
    # outage that is over.
    return _heatmaps.get(
        (closed, facts.today, weeks),
        lambda: _heatmap(closed, facts.today, weeks),
        keep=facts.keeps_results and facts.cache_era == cache.era(),
    )


def _heatmap(closed: Mapping[date, Counts], today: date, weeks: int) -> dict[str, Any]:
    first, last = heatmap_range(today, weeks)
    sums = [[0] * 24 for _ in range(7)]
    day = first
    while day <= last:
        for key, n in closed.get(day, {}).items():
            sums[day.weekday()][int(key)] += n
        day += timedelta(days=1)
    return {
        "weeks": weeks,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "days": [
            {"weekday": weekday + 1, "hours": [round(n / weeks, 2) for n in sums[weekday]]}
            for weekday in range(7)
        ],
    }


def is_heatmap(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {"weeks", "from", "to", "days"}
        and isinstance(value["days"], list)
        and len(value["days"]) == 7
        and all(isinstance(d, dict) and len(d.get("hours", ())) == 24 for d in value["days"])
    )


def is_heatmap_current(value: Any, today: date, weeks: int) -> bool:
    first, last = heatmap_range(today, weeks)
    return (value["from"], value["to"]) == (first.isoformat(), last.isoformat())
