"""The catalogue: one entry per served payload, with everything the rest of the code asks.

An entry says where the payload is served (``/api/visitors/<path>``), where its value is
cached, how the value is built from the facts (the closed-day rollup and today's count),
how a cached value is checked, how long a request-path computation is kept, whether it is
part of ``/summary``, and its serializer for the OpenAPI schema. ``body`` is the one place
a response body is made, for the DRF view, the pre-rendered bytes and the last good copies.

Everything else reads this module: the request path (``visitors.serving``), publishing
(``visitors.publishing``), the pre-rendered bytes (``visitors.rendered``), the WSGI layer
that serves them (``visitors.api.prerendered``), ``/health``, ``visitors_status``, the
viewset and its URLs, and the OpenAPI schema. To serve a new payload: add an entry here
with its builder, and a test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rest_framework.serializers import Serializer

from visitors import hourly, rankings, rooms, series
from visitors.api import serializers
from visitors.conf import visitor_settings

if TYPE_CHECKING:
    from visitors.breakdowns import Breakdown
    from visitors.queries.base import Checkin

Source = Literal["cache", "db"]
PREFIX = "/api/visitors/"
# Not in the catalogue (its answer depends on its query parameters): ``visitors.api.report``.
REPORT_PATH = PREFIX + "report"
# How long a value computed by a request (cold cache, stopped loop) is kept; never past
# local midnight (``visitors.serving``). Every payload holds today's count: kept longer, an
# answer would lag the table more with the loop stopped than with it running.
FALLBACK_TTL = 5


class Facts(Protocol):
    """What every payload is built from (``visitors.publishing.CycleFacts`` in the sync loop,
    ``visitors.serving.RequestFacts`` for a request that missed the cache)."""

    now: datetime  # library-local
    cache_era: int  # ``visitors.cache.era()`` when the facts were gathered
    # Whether what is built from these facts may be kept in this process for the next build
    # (``visitors.memo.LastResult``, the rankings' ``_once``, today's tallies): the loop's,
    # which builds every cycle from the same objects until they change; never a request's,
    # which reads its inputs afresh each time (kept, they only held a web worker's memory
    # until the next outage: a year of days per ranking; docs/BENCHMARKS.md, soak).
    keeps_results: bool

    @property
    def today(self) -> date: ...

    @property
    def closed(self) -> series.ClosedTotals:
        """Counts of closed days (before today), pre-summed by month and year."""
        ...

    @property
    def today_count(self) -> int:
        """Today's count as every payload shows it (so that they all agree)."""
        ...

    def count_today(self) -> int:
        """Count today's check-ins afresh (the loop's counter, or one query)."""
        ...

    @property
    def today_rows(self) -> Sequence[Checkin]:
        """Today's rows so far (the loop's, or one query of today's range)."""
        ...

    def closed_breakdown(self, breakdown: Breakdown) -> Any:
        """The kept closed days of ``breakdown`` (``visitors.breakdowns``), or what the
        breakdown keeps of them (``Breakdown.kept``)."""
        ...

    @property
    def faculty_names(self) -> Mapping[str, str]:
        """Institution code -> faculty name (``visitors.faculties``)."""
        ...

    def hour_minutes(self, day: date, hour: int) -> Mapping[int, int]:
        """A closed day's check-ins in one local hour, per minute (``visitors.hourly``)."""
        ...


def _always(value: Any, today: date) -> bool:
    return True


@dataclass(frozen=True)
class Endpoint:
    name: str  # URL name visitors-<name>, keys visitors:last:<name> and visitors:http:<name>
    key: str  # where the value is cached
    title: str  # the OpenAPI summary
    serializer: type[Serializer]  # the response body, for the OpenAPI schema
    build: Callable[[Facts], Any]
    validate: Callable[[Any], bool]  # a cached value has the right shape
    # The response field that holds the value; None: the value's own fields are the body.
    field: str | None = None
    # A well-formed cached value is still the current one for ``today``.
    fresh: Callable[[Any, date], bool] = _always
    fallback_ttl: int = FALLBACK_TTL
    in_summary: bool = False
    # A composite payload: its value is its parts' values side by side, and its ``source``
    # says where each part came from.
    parts: tuple[Endpoint, ...] = dataclasses.field(default=(), repr=False)
    path: str = ""  # below PREFIX; the name when empty
    # Personal data: the form anonymous callers get (unless RANKINGS_PUBLIC_MEMBERS); the
    # published, pre-rendered and last good answers are this form, staff get the value.
    mask: Callable[[Any], Any] | None = None
    # Counting it from the database is costly in every process (a ranking of the year's
    # members: at 10M rows 30-40 s and 115 MB per web worker). While the cache is
    # unreachable, a request gets this process's last copy of the published answer instead,
    # marked stale (``visitors.serving.response_body``); staff asking for the full form,
    # or a process without a copy of today's, still count it.
    costly: bool = False

    @property
    def url_path(self) -> str:
        return PREFIX + (self.path or self.name)

    @property
    def url_name(self) -> str:
        return f"visitors-{self.name}"

    @property
    def masked(self) -> bool:
        """Anonymous callers get ``mask(value)``, staff the value itself."""
        return self.mask is not None and not visitor_settings().RANKINGS_PUBLIC_MEMBERS

    def body(
        self,
        value: Any,
        source: Source | Mapping[str, Source],
        *,
        as_of: str | None = None,
        full: bool = False,
    ) -> dict[str, Any]:
        """The response body: the value, where it came from, and, when it is the last good
        value served while the database is down, ``stale`` and the time of its data.
        Personal data is masked unless ``full`` (a staff request)."""
        if self.masked and not full:
            value = self.mask(value)  # type: ignore[misc]
        if self.field is not None:
            body = {self.field: value, "source": source}
        else:
            body = {**value, "source": joined_source(self.parts, source) if self.parts else source}
        if as_of is not None:
            body.update(stale=True, as_of=as_of)
        return body


def joined_source(parts: tuple[Endpoint, ...], source: Source | Mapping[str, Source]) -> str:
    """``today:cache,weekly:db,...``: per part, from a mapping or one source for all."""
    return ",".join(
        f"{part.name}:{source if isinstance(source, str) else source[part.name]}" for part in parts
    )


def composite(name: str, key: str, parts: tuple[Endpoint, ...], **options: Any) -> Endpoint:
    """An endpoint made of ``parts``: built, checked and kept fresh part by part."""
    names = {part.name for part in parts}
    return Endpoint(
        name=name,
        key=key,
        build=lambda facts: {part.name: part.build(facts) for part in parts},
        validate=lambda value: (
            isinstance(value, dict)
            and value.keys() == names
            and all(part.validate(value[part.name]) for part in parts)
        ),
        fresh=lambda value, today: all(part.fresh(value[part.name], today) for part in parts),
        parts=parts,
        **options,
    )


# --- the catalogue ------------------------------------------------------------------------
TODAY = Endpoint(
    name="today",
    key="visitors:today:count",
    title="Today's visitor count",
    serializer=serializers.TodaySerializer,
    field="total",
    build=lambda facts: facts.count_today(),
    validate=series.is_count,
    in_summary=True,
)


def _series(
    name: str, key: str, field: str, shape: series.Shape, build: Any, **kw: Any
) -> Endpoint:
    """A series of the summary: closed days from the rollup, plus today's count."""
    return Endpoint(
        name=name,
        key=key,
        field=field,
        build=lambda f: build(today=f.today, closed=f.closed, today_count=f.today_count),
        validate=shape.validate,
        fresh=shape.is_current,
        in_summary=True,
        **kw,
    )


WEEKLY = _series(
    "weekly",
    "visitors:week:daily",
    "days",
    series.WEEK,
    series.weekly,
    title="Last 7 days, daily counts",
    serializer=serializers.WeeklySerializer,
)
MONTHLY = _series(
    "monthly",
    "visitors:month:totals",
    "months",
    series.MONTH,
    series.monthly,
    title="Last 12 months, monthly totals",
    serializer=serializers.MonthlySerializer,
)
YEARLY = _series(
    "yearly",
    "visitors:year:totals",
    "years",
    series.YEAR,
    series.yearly,
    title="Last 5 years, annual totals",
    serializer=serializers.YearlySerializer,
)
_SINGLE = (TODAY, WEEKLY, MONTHLY, YEARLY)
SUMMARY = composite(
    "summary",
    "visitors:summary",
    tuple(endpoint for endpoint in _SINGLE if endpoint.in_summary),
    title="Today, weekly, monthly and yearly in one response",
    serializer=serializers.SummarySerializer,
)


def _ranking(name: str, path: str, period: rankings.Period, field: str, **kw: Any) -> Endpoint:
    """A ranking: the period's closed days plus today's rows (``visitors.rankings``)."""
    personal = field == "visitors"
    return Endpoint(
        name=name,
        key=f"visitors:rank:{name}",
        path=path,
        build=(rankings.members if personal else rankings.faculties)(period),
        validate=rankings.validator(period, field),
        fresh=rankings.freshness(period),
        mask=rankings.mask if personal else None,
        costly=personal,
        **kw,
    )


MONTHLY_TOP, YEARLY_TOP, FACULTIES_MONTHLY, FACULTIES_YEARLY = RANKINGS = (
    _ranking(
        "monthly-top",
        "monthly/top",
        "month",
        "visitors",
        title="This month's most frequent visitors",
        serializer=serializers.MonthlyTopSerializer,
    ),
    _ranking(
        "yearly-top",
        "yearly/top",
        "year",
        "visitors",
        title="This year's most frequent visitors",
        serializer=serializers.YearlyTopSerializer,
    ),
    _ranking(
        "faculties-monthly-top",
        "faculties/monthly/top",
        "month",
        "faculties",
        title="This month's faculties by visits",
        serializer=serializers.FacultiesMonthlyTopSerializer,
    ),
    _ranking(
        "faculties-yearly-top",
        "faculties/yearly/top",
        "year",
        "faculties",
        title="This year's faculties by visits",
        serializer=serializers.FacultiesYearlyTopSerializer,
    ),
)

# When and where (``visitors.hourly``, ``visitors.rooms``): not part of the summary.
TODAY_HOURLY = Endpoint(
    name="today_hourly",
    path="today/hourly",
    key="visitors:today:hourly",
    title="Today by local hour, with last week's same weekday and the peak hour so far",
    serializer=serializers.TodayHourlySerializer,
    build=hourly.today_hourly,
    validate=hourly.is_today_hourly,
    fresh=hourly.is_dated,
)
TODAY_COMPARE = Endpoint(
    name="today_compare",
    path="today/compare",
    key="visitors:today:compare",
    title="Today so far against the same weekday last week and last year, same local time",
    serializer=serializers.TodayCompareSerializer,
    build=hourly.compare,
    validate=hourly.is_compare,
    fresh=hourly.is_dated,
)
ROOMS_TODAY = Endpoint(
    name="rooms_today",
    path="rooms/today",
    key="visitors:rooms:today",
    title="Today's check-ins per room",
    serializer=serializers.RoomsTodaySerializer,
    build=rooms.rooms_today,
    validate=rooms.is_rooms_today,
    fresh=hourly.is_dated,
)
ROOMS_MONTHLY = Endpoint(
    name="rooms_monthly",
    path="rooms/monthly",
    key="visitors:rooms:monthly",
    title="This month's check-ins per room",
    serializer=serializers.RoomsMonthlySerializer,
    build=rooms.rooms_monthly,
    validate=rooms.is_rooms_monthly,
    fresh=rooms.is_this_month,
)
HEATMAP = Endpoint(
    name="heatmap",
    key="visitors:heatmap",
    title="Average check-ins per weekday and local hour over the last closed weeks",
    serializer=serializers.HeatmapSerializer,
    build=lambda facts: hourly.heatmap(facts, visitor_settings().HEATMAP_WEEKS),
    validate=hourly.is_heatmap,
    fresh=lambda value, today: hourly.is_heatmap_current(
        value, today, visitor_settings().HEATMAP_WEEKS
    ),
)
WHEN_AND_WHERE = (TODAY_HOURLY, TODAY_COMPARE, ROOMS_TODAY, ROOMS_MONTHLY, HEATMAP)

# Every served payload, in the order the API documents them.
CATALOGUE: tuple[Endpoint, ...] = (*_SINGLE, SUMMARY, *RANKINGS, *WHEN_AND_WHERE)
BY_NAME: dict[str, Endpoint] = {endpoint.name: endpoint for endpoint in CATALOGUE}
