"""Publishing: every served payload written at once, by the sync loop and the daily job.

Each publish writes, for every entry of the catalogue, its value (with a TTL of a few loop
intervals, never past local midnight), its pre-rendered response (``visitors.rendered``)
and its last good copy (no expiry, stamped with the time of its data); then, when any
response changed, it announces a new version (``visitors.changes``), which wakes every web
and stream process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from visitors import cache, changes, last_good, rendered
from visitors.breakdowns import Breakdown
from visitors.endpoints import CATALOGUE, Endpoint
from visitors.queries.base import Checkin
from visitors.series import ClosedTotals, closed_totals
from visitors.serving import ttl_until_midnight


@dataclass(frozen=True)
class CycleFacts:
    """The facts as the sync loop gathered them for one cycle."""

    now: datetime
    closed: ClosedTotals
    today_count: int
    today_rows: Sequence[Checkin] = ()
    # Per breakdown, what the loop keeps of its closed days (``Breakdown.kept``).
    breakdowns: Mapping[str, Any] = field(default_factory=dict)
    faculty_names: Mapping[str, str] = field(default_factory=dict)
    # The compared days' minutes of the current hour (``visitors.hourly.PastMinutes``).
    minutes: Mapping[tuple[date, int], Mapping[int, int]] = field(default_factory=dict)
    cache_era: int = field(default_factory=cache.era)
    keeps_results = True  # ``Facts.keeps_results``: the loop builds every cycle

    @property
    def today(self) -> date:
        return self.now.date()

    def count_today(self) -> int:
        return self.today_count

    def closed_breakdown(self, breakdown: Breakdown) -> Any:
        kept = self.breakdowns.get(breakdown.name)
        return breakdown.kept(self.today, {}) if kept is None else kept

    def hour_minutes(self, day: date, hour: int) -> Mapping[int, int]:
        return self.minutes.get((day, hour), {})

    @classmethod
    def of(
        cls,
        *,
        now: datetime,
        closed: Mapping[date, int] | ClosedTotals,
        today_count: int,
        today_rows: Sequence[Checkin] = (),
        breakdowns: Mapping[str, Any] | None = None,
        faculty_names: Mapping[str, str] | None = None,
        minutes: Mapping[tuple[date, int], Mapping[int, int]] | None = None,
    ) -> CycleFacts:
        return cls(
            now,
            closed_totals(closed, now.date()),
            today_count,
            today_rows,
            breakdowns or {},
            faculty_names or {},
            minutes or {},
        )


def build_all(facts: CycleFacts) -> dict[Endpoint, Any]:
    """Every payload's value for these facts (a composite reuses its parts' values)."""
    values: dict[Endpoint, Any] = {}
    for endpoint in CATALOGUE:
        values[endpoint] = (
            {part.name: values[part] for part in endpoint.parts}
            if endpoint.parts
            else endpoint.build(facts)
        )
    return values


# This process's side of the change notices.
announcer = changes.Announcer()


@dataclass
class Rewrites:
    """The loop's memory of its last full write: while no response changed, writing the
    same bytes again every cycle only costs time, so an unchanged cycle writes nothing as
    long as the keys it wrote still have two thirds of their TTL left (they are rewritten
    then, and last good copies get a fresh ``as_of``)."""

    digest: str = ""
    at: float = -math.inf
    ttl: float = 0.0
    clock: Callable[[], float] = time.monotonic

    def unchanged(self, digest: str) -> bool:
        return digest == self.digest and self.clock() - self.at < self.ttl / 3

    def wrote(self, digest: str, ttl: int) -> None:
        self.digest, self.at, self.ttl = digest, self.clock(), ttl


def publish(
    facts: CycleFacts, *, ttl: int, rewrites: Rewrites | None = None
) -> changes.Notice | None:
    """Write every payload (raises ``CacheUnavailable``); see the module docstring. With
    ``rewrites`` (the loop's), a cycle in which no response changed writes nothing while the
    last write is fresh.

    Returns the notice announced, or None when no response changed.
    """
    values = build_all(facts)
    ttl = ttl_until_midnight(ttl, facts.now)
    responses = rendered.render_all(values)
    digest = changes.digest_of(r.etag for r in responses.values())
    if rewrites is not None and rewrites.unchanged(digest):
        return None
    notice = announcer.prepare(etags=(r.etag for r in responses.values()), now=facts.now)
    cache.call("set_many", {endpoint.key: value for endpoint, value in values.items()}, ttl)
    rendered.write(responses, ttl=ttl, notice=notice)  # the notice with what it stands for
    last_good.store_many(values, now=facts.now)
    if notice is not None:
        announcer.stored(notice)
    if rewrites is not None:
        rewrites.wrote(digest, ttl)
    return notice
