"""Publishing: every served payload written at once, by the sync loop and the daily job.

Each publish writes, for every entry of the catalogue, its value (with a TTL of a few loop
intervals, never past local midnight), its pre-rendered response (``visitors.rendered``)
and its last good copy (no expiry, stamped with the time of its data); then, when any
response changed, it announces a new version (``visitors.changes``), which wakes every web
and stream process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def publish(facts: CycleFacts, *, ttl: int) -> changes.Notice | None:
    """Write every payload (raises ``CacheUnavailable``); see the module docstring.

    Returns the notice announced, or None when no response changed.
    """
    values = build_all(facts)
    ttl = ttl_until_midnight(ttl, facts.now)
    cache.call("set_many", {endpoint.key: value for endpoint, value in values.items()}, ttl)
    responses = rendered.store(values, ttl=ttl)
    last_good.store_many(values, now=facts.now)
    return announcer.announce(etags=(r.etag for r in responses.values()), now=facts.now)
