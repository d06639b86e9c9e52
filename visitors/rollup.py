"""The daily rollup: counts of closed days, computed once and kept without expiry.

Series are this rollup plus today's live count. Filling only ever queries the days that
are missing (one grouped query per contiguous range) plus an optional short re-check window
for rows that arrive late, so nothing rescans five years of check-ins.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from typing import Any

from visitors import cache, keys
from visitors.day_prints import DayPrints
from visitors.queries import VisitorQueries, get_queries
from visitors.series import history_start

logger = logging.getLogger(__name__)

Rollup = dict[date, int]


def is_valid(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and len(k) == 10 and type(v) is int and v >= 0 for k, v in value.items()
    )


def _decode(value: dict[str, int]) -> Rollup:
    days: Rollup = {}
    for key, count in value.items():
        try:
            days[date.fromisoformat(key)] = count
        except ValueError:
            logger.warning("rollup: ignoring malformed day %r", key)
    return days


def _encode(days: Rollup) -> dict[str, int]:
    return {day.isoformat(): count for day, count in sorted(days.items())}


def wanted_days(today: date) -> list[date]:
    start = history_start(today)
    return [start + timedelta(days=i) for i in range((today - start).days)]


def missing_ranges(have: set[date] | Rollup, days: list[date]) -> list[tuple[date, date]]:
    """Contiguous ``[start, end)`` ranges of ``days`` (ascending) that ``have`` lacks."""
    ranges: list[tuple[date, date]] = []
    for day in days:
        if day in have:
            continue
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], day + timedelta(days=1))
        else:
            ranges.append((day, day + timedelta(days=1)))
    return ranges


def load() -> Rollup:
    value = cache.read_valid(keys.ROLLUP_DAILY, is_valid)
    return _decode(value) if value is not None else {}


def save(days: Rollup) -> None:
    cache.call(
        "set_many",
        {keys.ROLLUP_DAILY: _encode(days), keys.ROLLUP_STAMP: uuid.uuid4().hex},
        None,
    )


def stamp() -> str | None:
    """Changes whenever the stored rollup does: lets the loop reload only then.

    Raises ``CacheUnavailable`` when the cache cannot be read (absent is None).
    """
    try:
        return cache.call("get", keys.ROLLUP_STAMP)
    except cache.CacheCorrupt:
        return None


def update(
    *,
    today: date,
    recheck_days: int = 0,
    queries: VisitorQueries | None = None,
    store: bool = True,
    prints: DayPrints | None = None,
) -> tuple[Rollup, list[tuple[date, date]]]:
    """Fill the missing closed days (and re-count the last ``recheck_days``); store the result.
    A range within ``prints``' window takes its counts from them (already read).

    Returns the rollup and the ranges that were counted.
    """
    queries = queries or get_queries()
    stored = load()
    wanted = wanted_days(today)
    oldest = wanted[0]
    days = {day: n for day, n in stored.items() if oldest <= day < today}
    recheck_from = today - timedelta(days=recheck_days)
    have = {day for day in days if day < recheck_from}
    ranges = missing_ranges(have, wanted)
    for start, end in ranges:
        if prints is not None and prints.covers(start, end):
            counts = prints.counts(start, end)
        else:
            counts = queries.daily_counts(start=start, end=end)
        day = start
        while day < end:
            days[day] = counts.get(day, 0)
            day += timedelta(days=1)
    if store and days != stored:  # a re-check that found the same counts writes nothing
        save(days)
    if ranges:
        logger.info(
            "rollup: %d closed days kept, queried %s",
            len(days),
            ", ".join(f"{s}..{e - timedelta(days=1)}" for s, e in ranges) or "nothing",
        )
    return days, ranges


def closed_days(*, today: date, queries: VisitorQueries | None = None) -> Rollup:
    """The complete rollup for ``today``'s series, filling holes once (single flight)."""
    wanted = wanted_days(today)
    first, last = wanted[0].isoformat(), wanted[-1].isoformat()

    def complete(value: dict[str, int]) -> bool:
        # Stored keys are distinct days; the right count between the right ends means no hole.
        return len(value) == len(wanted) and min(value) == first and max(value) == last

    value, _ = cache.get_or_compute(
        keys.ROLLUP_DAILY,
        lambda: _encode(update(today=today, queries=queries, store=False)[0]),
        ttl=None,
        validate=is_valid,
        fresh=complete,
    )
    return _decode(value)
