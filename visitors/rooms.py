"""Where people go: check-ins per ``room_code`` today and this month.

Rows without a room (NULL or empty) are one group, ``room_code: null``. Rooms are ordered by
total, largest first; equal totals by room code, and the null group after every code.
Today's part comes from the loop's rows of today, the month's closed days from the kept
room breakdown (``visitors.breakdowns.ROOMS``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from visitors import cache
from visitors.breakdowns import ROOMS, Counts, value_of
from visitors.memo import LastResult
from visitors.queries.base import Checkin
from visitors.today_rows import kept_tally

if TYPE_CHECKING:
    from visitors.endpoints import Facts


def ranked(counts: Mapping[str | None, int]) -> list[dict[str, Any]]:
    """``[{"room_code", "total"}]`` by total (largest first), then code, null last."""
    order = sorted(
        ((code, n) for code, n in counts.items() if n > 0),
        key=lambda item: (-item[1], item[0] is None, item[0] or ""),
    )
    return [{"room_code": code, "total": n} for code, n in order]


def _room_of(row: Checkin) -> str | None:
    return row.room_code or None


def _today(facts: Facts) -> Counter[str | None]:
    return kept_tally(facts.today_rows, _room_of, keep=facts.keeps_results)  # type: ignore[return-value]


_months: LastResult[Counter[str | None]] = LastResult()
# Its inputs hold the month's closed days: kept for the loop only (``Facts.keeps_results``),
# and not past an outage (as ``hourly._heatmaps``).
cache.breaker.when_reachable(_months.clear)


def _closed_month(closed: Mapping[date, Counts], year: int, month: int) -> Counter[str | None]:
    counts: Counter[str | None] = Counter()
    for day, day_counts in closed.items():
        if (day.year, day.month) == (year, month):
            for key, n in day_counts.items():
                counts[value_of(key)] += n
    return counts


def rooms_today(facts: Facts) -> dict[str, Any]:
    return {"date": facts.today.isoformat(), "rooms": ranked(_today(facts))}


def rooms_monthly(facts: Facts) -> dict[str, Any]:
    today = facts.today
    closed = facts.closed_breakdown(ROOMS)
    counts = Counter(_today(facts))
    counts.update(
        _months.get(
            (closed, today.year, today.month),
            lambda: _closed_month(closed, today.year, today.month),
            keep=facts.keeps_results,
        )
    )
    return {"month": f"{today.year:04d}-{today.month:02d}", "rooms": ranked(counts)}


def _is_rooms(value: Any, label: str) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {label, "rooms"}
        and isinstance(value["rooms"], list)
        and all(
            isinstance(item, dict)
            and item.keys() == {"room_code", "total"}
            and (item["room_code"] is None or isinstance(item["room_code"], str))
            and type(item["total"]) is int
            for item in value["rooms"]
        )
    )


def is_rooms_today(value: Any) -> bool:
    return _is_rooms(value, "date")


def is_rooms_monthly(value: Any) -> bool:
    return _is_rooms(value, "month")


def is_this_month(value: Any, today: date) -> bool:
    return value["month"] == f"{today.year:04d}-{today.month:02d}"
