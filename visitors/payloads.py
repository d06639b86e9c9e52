"""The five served payloads: read from the cache, or computed from the database on a miss.

The sync loop publishes all of them every cycle (``publish``); a request computes only when
the loop is not running (cold start, stopped loop), and then keeps the result briefly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from visitors import cache, metrics, rollup
from visitors.clock import local_now, next_day, seconds_until_midnight
from visitors.queries import VisitorQueries, get_queries


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _is_series(length: int, label: str, label_type: type) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return (
            isinstance(value, list)
            and len(value) == length
            and all(
                isinstance(item, dict)
                and item.keys() == {label, "total"}
                and type(item[label]) is label_type
                and _is_count(item["total"])
                for item in value
            )
        )

    return check


@dataclass(frozen=True)
class Series:
    """One of the three series: its cache key, shape, and how it is built."""

    name: str
    key: str
    field: str
    label: str
    build: Callable[..., list[Any]]
    current_label: Callable[[date], Any]
    validate: Callable[[Any], bool]

    def fresh_for(self, today: date) -> Callable[[Any], bool]:
        current = self.current_label(today)
        return lambda value: value[-1][self.label] == current


WEEKLY = Series(
    "weekly",
    cache.WEEK_KEY,
    "days",
    "date",
    metrics.weekly,
    lambda today: today.isoformat(),
    _is_series(metrics.WEEK_DAYS, "date", str),
)
MONTHLY = Series(
    "monthly",
    cache.MONTH_KEY,
    "months",
    "month",
    metrics.monthly,
    lambda today: f"{today.year:04d}-{today.month:02d}",
    _is_series(metrics.MONTHS, "month", str),
)
YEARLY = Series(
    "yearly",
    cache.YEAR_KEY,
    "years",
    "year",
    metrics.yearly,
    lambda today: today.year,
    _is_series(metrics.YEARS, "year", int),
)
SERIES = (WEEKLY, MONTHLY, YEARLY)
SERIES_BY_NAME = {series.name: series for series in SERIES}


def _ttl(seconds: int, now: datetime) -> int:
    """Never keep a value that depends on 'today' past the library's midnight."""
    return max(1, min(seconds, math.ceil(seconds_until_midnight(now))))


def today_count(
    *, now: datetime | None = None, queries: VisitorQueries | None = None
) -> tuple[int, str]:
    now = now or local_now()
    today = now.date()
    queries = queries or get_queries()
    return cache.get_or_compute(
        cache.TODAY_KEY,
        lambda: queries.count(start=today, end=next_day(today)),
        ttl=_ttl(cache.FALLBACK_TTL, now),
        validate=_is_count,
    )


def series(
    spec: Series, *, now: datetime | None = None, queries: VisitorQueries | None = None
) -> tuple[list[Any], str]:
    now = now or local_now()
    today = now.date()
    queries = queries or get_queries()

    def compute() -> list[Any]:
        closed = rollup.closed_days(today=today, queries=queries)
        count, _ = today_count(now=now, queries=queries)
        return spec.build(today=today, closed=closed, today_count=count)

    return cache.get_or_compute(
        spec.key,
        compute,
        ttl=_ttl(cache.FALLBACK_TTL, now),
        validate=spec.validate,
        fresh=spec.fresh_for(today),
    )


def _is_summary(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {"today", *SERIES_BY_NAME}
        and _is_count(value["today"])
        and all(spec.validate(value[spec.name]) for spec in SERIES)
    )


def summary(
    *, now: datetime | None = None, queries: VisitorQueries | None = None
) -> dict[str, Any]:
    """Today plus the three series; ``source`` tells, per part, where it came from."""
    now = now or local_now()
    today = now.date()
    sources: dict[str, str] = {}

    def compose() -> dict[str, Any]:
        body: dict[str, Any] = {}
        body["today"], sources["today"] = today_count(now=now, queries=queries)
        for spec in SERIES:
            body[spec.name], sources[spec.name] = series(spec, now=now, queries=queries)
        return body

    def fresh(value: dict[str, Any]) -> bool:
        return all(spec.fresh_for(today)(value[spec.name]) for spec in SERIES)

    body, source = cache.get_or_compute(
        cache.SUMMARY_KEY,
        compose,
        ttl=_ttl(cache.SUMMARY_FALLBACK_TTL, now),
        validate=_is_summary,
        fresh=fresh,
    )
    parts = ("today", *SERIES_BY_NAME)
    source_text = ",".join(f"{part}:{sources.get(part, source)}" for part in parts)
    return {**body, "source": source_text}


def build_all(*, today: date, closed: Mapping[date, int], today_count: int) -> dict[str, Any]:
    """Every payload, keyed by its cache key, for one today count."""
    body: dict[str, Any] = {"today": today_count}
    for spec in SERIES:
        body[spec.name] = spec.build(today=today, closed=closed, today_count=today_count)
    return {
        cache.TODAY_KEY: today_count,
        **{spec.key: body[spec.name] for spec in SERIES},
        cache.SUMMARY_KEY: body,
    }


def publish(*, now: datetime, closed: Mapping[date, int], today_count: int, ttl: int) -> None:
    """Write every payload at once (the sync loop's job); raises ``CacheUnavailable``."""
    values = build_all(today=now.date(), closed=closed, today_count=today_count)
    cache.call("set_many", values, _ttl(ttl, now))
