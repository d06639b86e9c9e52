"""The five served payloads: read from the cache, or computed from the database on a miss.

The sync loop publishes all of them every cycle (``publish``); a request computes only when
the loop is not running (cold start, stopped loop), and then keeps the result briefly.
Both also keep each payload's last good value without expiry (``visitors:last:<name>``),
which ``response_body`` serves, marked stale, while the database is unreachable.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from visitors import cache, metrics, rendered, rollup
from visitors.breaker import Breaker
from visitors.clock import local_now, next_day, seconds_until_midnight
from visitors.queries import VisitorQueries, get_queries

logger = logging.getLogger(__name__)


class DatabaseUnavailable(OperationalError):
    """The visitor database failed moments ago; it is not retried until the breaker allows."""


class NoData(Exception):
    """The database is unreachable and no last good value was ever stored."""


def _retry_after() -> float:
    return settings.VISITORS_OUTAGE_RETRY_MS / 1000


# Request path only: while MySQL is known down, serve the last good values at once.
db_breaker = Breaker("visitor database", _retry_after)


class GuardedQueries:
    """The request path's queries, behind ``db_breaker``."""

    def __init__(self, queries: VisitorQueries) -> None:
        self.queries = queries
        self.using = queries.using

    def _run(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        if not db_breaker.allow():
            raise DatabaseUnavailable("the visitor database is unreachable (retrying shortly)")
        try:
            result = fn(**kwargs)
        except (OperationalError, InterfaceError) as exc:
            db_breaker.record_failure(exc)
            raise
        db_breaker.record_success()
        return result

    def count(self, *, start: date, end: date) -> int:
        return self._run(self.queries.count, start=start, end=end)

    def count_after_id(self, *, start: date, end: date, after_id: int) -> tuple[int, int]:
        return self._run(self.queries.count_after_id, start=start, end=end, after_id=after_id)

    def daily_counts(self, *, start: date, end: date) -> dict[date, int]:
        return self._run(self.queries.daily_counts, start=start, end=end)


def _request_queries(queries: VisitorQueries | None) -> VisitorQueries:
    return queries if queries is not None else GuardedQueries(get_queries())


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
    queries = _request_queries(queries)
    count, source = cache.get_or_compute(
        cache.TODAY_KEY,
        lambda: queries.count(start=today, end=next_day(today)),
        ttl=_ttl(cache.FALLBACK_TTL, now),
        validate=_is_count,
    )
    _remember_computed("today", count, source, now)
    return count, source


def series(
    spec: Series, *, now: datetime | None = None, queries: VisitorQueries | None = None
) -> tuple[list[Any], str]:
    now = now or local_now()
    today = now.date()
    queries = _request_queries(queries)

    def compute() -> list[Any]:
        closed = rollup.closed_days(today=today, queries=queries)
        count, _ = today_count(now=now, queries=queries)
        return spec.build(today=today, closed=closed, today_count=count)

    values, source = cache.get_or_compute(
        spec.key,
        compute,
        ttl=_ttl(cache.FALLBACK_TTL, now),
        validate=spec.validate,
        fresh=spec.fresh_for(today),
    )
    _remember_computed(spec.name, values, source, now)
    return values, source


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
    queries = _request_queries(queries)
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
    _remember_computed("summary", body, source, now)
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
    """Write every payload at once (the sync loop's job); raises ``CacheUnavailable``.

    Also replaces each payload's last good value (no expiry), stamped with ``now``.
    """
    values = build_all(today=now.date(), closed=closed, today_count=today_count)
    cache.call("set_many", values, _ttl(ttl, now))
    rendered.store({name: values[key] for name, key in KEYS.items()}, ttl=_ttl(ttl, now))
    as_of = now.isoformat()
    cache.call(
        "set_many",
        {
            cache.last_key(name): {"value": values[key], "as_of": as_of}
            for name, key in KEYS.items()
        },
        None,
    )


# --- last good values and response bodies ----------------------------------------------
NAMES = ("today", *SERIES_BY_NAME, "summary")
KEYS = {
    "today": cache.TODAY_KEY,
    **{spec.name: spec.key for spec in SERIES},
    "summary": cache.SUMMARY_KEY,
}
VALIDATORS: dict[str, Callable[[Any], bool]] = {
    "today": _is_count,
    **{spec.name: spec.validate for spec in SERIES},
    "summary": _is_summary,
}


@dataclass(frozen=True)
class LastGood:
    value: Any
    as_of: str  # ISO 8601, library-local: when the data was read from the database


def _remember_computed(name: str, value: Any, source: str, now: datetime) -> None:
    if source == "db" and not cache.breaker.is_open:
        cache.safe("set", cache.last_key(name), {"value": value, "as_of": now.isoformat()}, None)


def _is_last_good(validate: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not (isinstance(value, dict) and value.keys() == {"value", "as_of"}):
            return False
        try:
            datetime.fromisoformat(value["as_of"])
        except (TypeError, ValueError):
            return False
        return validate(value["value"])

    return check


def last_good(name: str) -> LastGood | None:
    """The last value served or published for ``name``, with the time of its data."""
    stored = cache.read_valid(cache.last_key(name), _is_last_good(VALIDATORS[name]))
    return None if stored is None else LastGood(stored["value"], stored["as_of"])


def _fresh_body(name: str, now: datetime | None) -> dict[str, Any]:
    if name == "today":
        total, source = today_count(now=now)
        return {"total": total, "source": source}
    if name == "summary":
        return summary(now=now)
    spec = SERIES_BY_NAME[name]
    values, source = series(spec, now=now)
    return {spec.field: values, "source": source}


def _stale_body(name: str, last: LastGood) -> dict[str, Any]:
    if name == "today":
        body: dict[str, Any] = {"total": last.value, "source": "cache"}
    elif name == "summary":
        body = {**last.value, "source": ",".join(f"{part}:cache" for part in last.value)}
    else:
        body = {SERIES_BY_NAME[name].field: last.value, "source": "cache"}
    return {**body, "stale": True, "as_of": last.as_of}


def response_body(name: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The JSON body of one endpoint; while the database is down, the last good value, stale.

    Raises ``NoData`` when the database is down and nothing was ever stored.
    """
    try:
        return _fresh_body(name, now)
    except DatabaseError as exc:
        last = last_good(name)
        if last is None:
            raise NoData(f"the visitor database is unreachable: {exc}") from exc
        logger.log(
            logging.DEBUG if isinstance(exc, DatabaseUnavailable) else logging.WARNING,
            "serving the last good %s (as of %s): %s",
            name,
            last.as_of,
            exc,
        )
        return _stale_body(name, last)
