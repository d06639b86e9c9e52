"""Closed days older than the rollup's window, so reports reach back to the table's first day.

The rollup (``visitors.rollup``) keeps the days its series show, since 1 January four years
ago. The days before that, back to the oldest check-in, are kept here the same way: counted
once, with one grouped query per missing range, and kept without expiry under
``visitors:rollup:history`` as ``{"from", "to", "days"}`` (``[from, to)`` counted; ``days``
holds the days with check-ins). The loop extends it on a new day: when the year turns, the
year that leaves the rollup is one range; an older first check-in (a back-fill) is another.
Days this old are not re-counted for late rows.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from visitors import cache, keys
from visitors.queries import VisitorQueries
from visitors.series import history_start

logger = logging.getLogger(__name__)


def is_valid(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {"from", "to", "days"}
        and isinstance(value["from"], str)
        and isinstance(value["to"], str)
        and isinstance(value["days"], dict)
        and all(type(n) is int and n >= 0 for n in value["days"].values())
    )


def _decode(value: dict[str, Any]) -> tuple[date, date, dict[date, int]]:
    days = {date.fromisoformat(day): n for day, n in value["days"].items()}
    return date.fromisoformat(value["from"]), date.fromisoformat(value["to"]), days


def _encode(start: date, end: date, days: dict[date, int]) -> dict[str, Any]:
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "days": {day.isoformat(): n for day, n in sorted(days.items()) if n},
    }


def _stored() -> tuple[date, date, dict[date, int]] | None:
    value = cache.read_valid(keys.ROLLUP_HISTORY, is_valid)
    try:
        return None if value is None else _decode(value)
    except ValueError:
        logger.warning("history: malformed dates in %s; counting again", keys.ROLLUP_HISTORY)
        return None


def _computed(
    today: date, queries: VisitorQueries
) -> tuple[dict[str, Any], list[tuple[date, date]], bool]:
    end = history_start(today)
    first = queries.first_day()
    start = end if first is None or first >= end else first
    stored = _stored()
    if stored is None or stored[1] > end:
        have_from, have_to, days = end, end, {}
    else:
        have_from, have_to, days = stored
    if have_from == have_to:
        ranges = [(start, end)] if start < end else []
    else:
        ranges = [r for r in ((start, have_from), (have_to, end)) if r[0] < r[1]]
    for range_start, range_end in ranges:
        days.update(queries.daily_counts(start=range_start, end=range_end))
    start = min(start, have_from) if have_from < have_to else start
    value = _encode(start, end, {d: n for d, n in days.items() if start <= d < end})
    return value, ranges, stored is None or bool(ranges) or stored[:2] != (start, end)


def update(*, today: date, queries: VisitorQueries) -> list[tuple[date, date]]:
    """Count the missing older days and store them; returns the ranges queried."""
    value, ranges, changed = _computed(today, queries)
    if changed:
        cache.call("set", keys.ROLLUP_HISTORY, value, None)
        logger.info(
            "history: %s..%s kept, queried %s",
            value["from"],
            value["to"],
            ", ".join(f"{s}..{e - timedelta(days=1)}" for s, e in ranges) or "nothing",
        )
    return ranges


def closed_days(*, today: date, queries: VisitorQueries) -> dict[date, int]:
    """The older days for ``today`` (the request path): counted once across processes."""
    end = history_start(today).isoformat()
    value, _ = cache.get_or_compute(
        keys.ROLLUP_HISTORY,
        lambda: _computed(today, queries)[0],
        ttl=None,
        validate=is_valid,
        fresh=lambda stored: stored["to"] == end,
    )
    return _decode(value)[2]
