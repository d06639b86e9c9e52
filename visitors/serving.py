"""What a request gets: the cached value, or one computed from the database on a miss.

While the sync loop runs every read is a cache hit (and most never reach this module: the
pre-rendered bytes answer first). A miss (cold start, stopped loop) computes once across
processes (``cache.get_or_compute``), keeps the value for the entry's fallback TTL (never
past local midnight) and remembers it as the last good value. While the database is down,
``response_body`` serves that last good value, marked stale.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import cached_property
from typing import Any

from django.db import DatabaseError

from visitors import cache, faculties, hourly, last_good, live, prometheus, rendered, rollup
from visitors.breakdowns import Breakdown
from visitors.clock import local_now, next_day, seconds_until_midnight
from visitors.endpoints import TODAY, Endpoint, Source
from visitors.queries import VisitorQueries, get_queries
from visitors.queries.base import Checkin
from visitors.queries.guarded import DatabaseUnavailable, guarded
from visitors.series import ClosedTotals, closed_totals

logger = logging.getLogger(__name__)


class NoData(Exception):
    """The database is unreachable and no last good value was ever stored."""


def ttl_until_midnight(seconds: int, now: datetime) -> int:
    """Never keep a value that depends on 'today' past the library's midnight."""
    return max(1, min(seconds, math.ceil(seconds_until_midnight(now))))


class RequestFacts:
    """The facts for a request that missed the cache: each gathered at most once, and from
    the cache when it can be (the rollup, and today's count as the today endpoint serves
    it), so a cold series costs one grouped query at most."""

    keeps_results = False  # ``Facts.keeps_results``: a miss's inputs are its own

    def __init__(self, now: datetime, queries: VisitorQueries) -> None:
        self.now = now
        self.queries = queries
        self.cache_era = cache.era()
        self._breakdowns: dict[str, Any] = {}
        self._minutes: dict[tuple[date, int], Mapping[int, int]] = {}

    @property
    def today(self) -> date:
        return self.now.date()

    @cached_property
    def closed(self) -> ClosedTotals:
        return closed_totals(rollup.closed_days(today=self.today, queries=self.queries), self.today)

    @cached_property
    def today_count(self) -> int:
        return value(TODAY, self)[0]

    def count_today(self) -> int:
        return self.queries.count(start=self.today, end=next_day(self.today))

    @cached_property
    def today_rows(self) -> list[Checkin]:
        return self.queries.rows_after(start=self.today, end=next_day(self.today), after_id=0)

    def closed_breakdown(self, breakdown: Breakdown) -> Any:
        if breakdown.name not in self._breakdowns:
            self._breakdowns[breakdown.name] = breakdown.kept_closed(
                today=self.today, queries=self.queries
            )
        return self._breakdowns[breakdown.name]

    @cached_property
    def faculty_names(self) -> dict[str, str]:
        return faculties.names()

    def hour_minutes(self, day: date, hour: int) -> Mapping[int, int]:
        if (day, hour) not in self._minutes:
            self._minutes[(day, hour)] = hourly.minutes_of(self.queries, day, hour)
        return self._minutes[(day, hour)]


def request_facts(now: datetime | None = None) -> RequestFacts:
    return RequestFacts(now or local_now(), guarded(get_queries()))


class ServedInstead(Exception):
    """A costly payload's kept copy, found when it was about to be counted while the cache
    is unreachable: ``response_body`` answers with ``body``."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__("served from the kept copy")
        self.body = body


def _kept_copy(endpoint: Endpoint, today: date) -> dict[str, Any] | None:
    """This process's last copy of ``endpoint``'s published answer (of ``today``), in the
    last good answer's form: marked stale, with the time of its data."""
    kept = live.kept_copy(endpoint, today=today)
    if kept is None:
        return None
    published, as_of = kept
    return {**published, "stale": True, "as_of": as_of}


def value(
    endpoint: Endpoint,
    facts: RequestFacts,
    *,
    instead: Callable[[], dict[str, Any] | None] | None = None,
) -> tuple[Any, Source | dict[str, Source]]:
    """The endpoint's value and where it came from (per part, for a composite). When it
    would be counted while the cache is unreachable and ``instead()`` gives a body, raises
    ``ServedInstead`` with it (to the flight's waiters too). While the cache is known to be
    unreachable, callers with ``instead`` share a flight apart from those without: in this
    process an anonymous request does not wait behind a staff count (half a minute for a
    members' ranking at 10M rows), and staff do not get a copy."""
    part_sources: dict[str, Source] = {}

    def compute() -> Any:
        if instead is not None and cache.breaker.is_open:
            body = instead()
            if body is not None:
                raise ServedInstead(body)
        if not endpoint.parts:
            return endpoint.build(facts)
        composed = {}
        for part in endpoint.parts:
            composed[part.name], part_sources[part.name] = value(part, facts)  # type: ignore[assignment]
        return composed

    result, source = cache.get_or_compute(
        endpoint.key,
        compute,
        ttl=ttl_until_midnight(endpoint.fallback_ttl, facts.now),
        validate=endpoint.validate,
        fresh=lambda cached: endpoint.fresh(cached, facts.today),
        apart_while_unreachable=None if instead is None else f"{endpoint.key}|may-take-the-copy",
    )
    if source == "db":  # computed here: keep it as the last good value and pre-rendered
        last_good.remember(endpoint, result, now=facts.now)
        rendered.store({endpoint: result}, ttl=ttl_until_midnight(endpoint.fallback_ttl, facts.now))
    if endpoint.parts:
        return result, {part.name: part_sources.get(part.name, source) for part in endpoint.parts}
    return result, source


def response_body(
    endpoint: Endpoint, *, now: datetime | None = None, full: bool = False
) -> dict[str, Any]:
    """The JSON body of one endpoint; while the database is down, the last good value, stale.
    Personal data is masked unless ``full`` (``Endpoint.body``).

    While the cache is unreachable, a costly payload (``Endpoint.costly``) is this process's
    last copy of its published answer, marked stale, when the caller gets that form.

    Raises ``NoData`` when the database is down and nothing was ever stored.
    """
    now = now or local_now()
    instead = None
    if endpoint.costly and not (full and endpoint.masked):
        instead = functools.partial(_kept_copy, endpoint, now.date())
    try:
        return endpoint.body(*value(endpoint, request_facts(now), instead=instead), full=full)
    except ServedInstead as served:
        if instead is not None:
            prometheus.counted_copy(endpoint.key)
            return served.body
        # A staff request that joined the flight of one that found the cache unreachable
        # only once it had started (the flights part only after that): its own answer.
        return endpoint.body(*value(endpoint, request_facts(now)), full=full)
    except DatabaseError as exc:
        last = last_good.read(endpoint)
        if last is None:
            raise NoData(f"the visitor database is unreachable: {exc}") from exc
        logger.log(
            logging.DEBUG if isinstance(exc, DatabaseUnavailable) else logging.WARNING,
            "serving the last good %s (as of %s): %s",
            endpoint.name,
            last.as_of,
            exc,
        )
        return endpoint.body(last.value, "cache", as_of=last.as_of, full=full)
