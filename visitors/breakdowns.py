"""Closed days broken down by a column (hour, room, institution, ...): counted once, kept.

The same bargain as the daily rollup (``visitors.rollup``): each closed day is counted once,
with one grouped query per contiguous range of days that are missing; the daily job
re-counts the last ``VISITOR_ROLLUP_RECHECK_DAYS`` for rows that arrive late; today is
never stored (it is live, from the loop's rows of today). A ``Breakdown`` says what a day is
broken down by, which grouped query counts a range, and how far back its payloads look.

Each closed day is one key, ``visitors:rollup:<name>:<YYYY-MM-DD>`` (no expiry): closing a
day or re-counting one writes one key, and days that fall out of the window are deleted as
it moves. ``visitors:rollup:<name>`` records the range held and a stamp that changes with
every write, so the loop reloads only then.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from visitors import cache, keys
from visitors.queries import VisitorQueries
from visitors.rollup import missing_ranges

logger = logging.getLogger(__name__)

# Per folded breakdown, the stored fold this process read last: (for, stamp, fold).
_held_folds: dict[str, tuple[str, str, Any]] = {}

# A day's counts as stored: JSON object keys are strings, so a value is its string and NULL
# (or empty) is "". ``value_of`` turns a key back into a value for the payloads.
Counts = dict[str, int]
NONE_KEY = ""
# When the window moves, this many days before its start are deleted (the loop runs daily).
_FORGET_DAYS = 7
# A folded breakdown (members) is filled, counted and folded this many days at a time: the
# days of a whole year never exist at once, only the fold and one chunk. (A year of members
# counted at once was 29 MB of Python objects at 100,000 rows; a web worker that did it
# during a Redis outage kept that much more RSS from then on: docs/BENCHMARKS.md, soak.)
FOLD_CHUNK_DAYS = 31


def encode(counts: Mapping[Any, int]) -> Counts:
    return {NONE_KEY if value is None else str(value): n for value, n in counts.items()}


def value_of(key: str) -> str | None:
    return None if key == NONE_KEY else key


def _is_counts(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and type(n) is int and n >= 0 for k, n in value.items()
    )


def _is_coverage(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {"from", "to", "stamp"}


@dataclass(frozen=True)
class Breakdown:
    name: str
    # The oldest closed day any payload built from it looks at, for a given today.
    keep_from: Callable[[date], date]
    # The grouped query: per day in [start, end), the count per value.
    count: Callable[[VisitorQueries, date, date], Mapping[date, Mapping[Any, Any]]]
    # A day as stored (JSON-friendly), and the check a stored day must pass.
    encode: Callable[[Mapping[Any, Any]], Any] = encode
    is_day: Callable[[Any], bool] = _is_counts
    # What the loop keeps of the closed days, when not the days themselves: a breakdown
    # too large to hold day by day is folded once per load (``kept``).
    fold: Callable[[date, Mapping[date, Any]], Any] | None = None
    is_fold: Callable[[Any], bool] = lambda value: False  # a stored fold is well-formed
    # Moves a stored fold forward: (fold, its day, today, the re-counted days as they were,
    # the days counted now) -> the fold for today. Closing a day or re-counting a few then
    # reads only those days, never the whole window (``_advanced``).
    advance: Callable[[Any, date, date, Mapping[date, Any], Mapping[date, Any]], Any] | None = None

    def kept(self, today: date, days: Mapping[date, Any]) -> Any:
        return days if self.fold is None else self.fold(today, days)

    @property
    def coverage_key(self) -> str:
        return keys.breakdown(self.name)

    def day_key(self, day: date) -> str:
        return keys.breakdown(self.name, day)

    def wanted_days(self, today: date) -> list[date]:
        first = self.keep_from(today)
        return [first + timedelta(days=n) for n in range((today - first).days)]

    def load(self, days: list[date]) -> dict[date, Counts]:
        """The stored days of ``days`` (absent or damaged ones are left out)."""
        stored = cache.call("get_many", [self.day_key(day) for day in days])
        return {
            day: value
            for day in days
            if (value := stored.get(self.day_key(day))) is not None and self.is_day(value)
        }

    def stamp(self) -> str | None:
        """Changes with every write; raises ``CacheUnavailable`` when unreadable."""
        try:
            value = cache.call("get", self.coverage_key)
        except cache.CacheCorrupt:
            return None
        return value["stamp"] if _is_coverage(value) else None

    def update(
        self, *, today: date, queries: VisitorQueries, recheck_days: int = 0
    ) -> tuple[dict[date, Counts], list[tuple[date, date]]]:
        """Fill the missing closed days (and re-count the last ``recheck_days``), store them;
        returns every kept day and the ranges that were queried."""
        wanted = self.wanted_days(today)
        days = self.load(wanted)
        recheck_from = today - timedelta(days=recheck_days)
        ranges = missing_ranges({day for day in days if day < recheck_from}, wanted)
        written: dict[date, Counts] = {}
        for start, end in ranges:
            written.update(self._counted_range(queries, start, end))
        if written:
            cache.call("set_many", {self.day_key(d): c for d, c in written.items()}, None)
            days.update(written)
        self._wrote(today, wanted, ranges, len(days))
        return days, ranges

    def _counted_range(self, queries: VisitorQueries, start: date, end: date) -> dict[date, Any]:
        """Each day of ``[start, end)`` as stored, counted by one grouped query."""
        counts = self.count(queries, start, end)
        return {
            start + timedelta(days=n): self.encode(counts.get(start + timedelta(days=n), {}))
            for n in range((end - start).days)
        }

    def _wrote(
        self, today: date, wanted: list[date], ranges: list[tuple[date, date]], kept: int
    ) -> None:
        """After days were written (``ranges``): forget the days that left the window and
        write the coverage with a new stamp (also when the coverage itself is gone)."""
        if ranges:
            first = wanted[0] if wanted else today
            gone = [self.day_key(first - timedelta(days=n)) for n in range(1, _FORGET_DAYS + 1)]
            cache.call("delete_many", gone)
            logger.info(
                "breakdown %s: %d closed days kept, queried %s",
                self.name,
                kept,
                ", ".join(f"{s}..{e - timedelta(days=1)}" for s, e in ranges),
            )
        if ranges or not _is_coverage(cache.read_valid(self.coverage_key, _is_coverage)):
            coverage = {
                "from": wanted[0].isoformat() if wanted else today.isoformat(),
                "to": today.isoformat(),
                "stamp": uuid.uuid4().hex,
            }
            cache.call("set", self.coverage_key, coverage, None)

    def folded(
        self, *, today: date, queries: VisitorQueries, recheck_days: int = 0, store: bool = True
    ) -> Any:
        """``update`` then ``kept`` for a folded breakdown, ``FOLD_CHUNK_DAYS`` at a time:
        each chunk's stored days are read, its missing (and re-checked) days counted by one
        grouped query per range and stored, then added to the fold (``advance``) and
        dropped. With ``store=False`` (the cache is unreachable) every day is counted and
        nothing is read or written. Equal to ``fold`` over every day, at the memory cost of
        the fold and one chunk."""
        assert self.fold is not None and self.advance is not None
        wanted = self.wanted_days(today)
        recheck_from = today - timedelta(days=recheck_days)
        fold = self.fold(today, {})
        queried: list[tuple[date, date]] = []
        for at in range(0, len(wanted), FOLD_CHUNK_DAYS):
            chunk = wanted[at : at + FOLD_CHUNK_DAYS]
            days = self.load(chunk) if store else {}
            ranges = missing_ranges({day for day in days if day < recheck_from}, chunk)
            for start, end in ranges:
                counted = self._counted_range(queries, start, end)
                if store:
                    cache.call("set_many", {self.day_key(d): c for d, c in counted.items()}, None)
                days.update(counted)
            queried += ranges
            # The fold for today, plus this chunk's days (none of them folded yet).
            fold = self.advance(fold, today, today, {}, days)
        if store:
            self._wrote(today, wanted, queried, len(wanted))
        return fold

    def closed(self, *, today: date, queries: VisitorQueries) -> dict[date, Counts]:
        """Every kept closed day for ``today`` (the request path): a cold store is filled
        once across processes (single flight)."""
        wanted = self.wanted_days(today)
        days = self.load(wanted)
        if len(days) == len(wanted):
            return days
        span = (wanted[0].isoformat() if wanted else today.isoformat(), today.isoformat())
        cache.get_or_compute(
            self.coverage_key,
            lambda: self._filled(today, queries),
            ttl=None,
            validate=_is_coverage,
            fresh=lambda value: (value["from"], value["to"]) == span,
        )
        days = self.load(wanted)
        if len(days) < len(wanted):  # covered, yet some days are gone (evicted): refill them
            days = self.update(today=today, queries=queries)[0]
        return days

    def _filled(self, today: date, queries: VisitorQueries) -> dict[str, str]:
        self.update(today=today, queries=queries)
        return cache.call("get", self.coverage_key)

    # -- a folded breakdown: its fold is stored too, so a reader skips the days ------------
    @property
    def kept_key(self) -> str:
        return self.coverage_key + ":kept"

    def _stored_fold(self, today: date) -> Any | None:
        """The stored fold, if it was made for ``today`` from the days as they are now. The
        one this process read last is reused while the coverage's stamp is the same: each
        request for a ranking then reads the small coverage key, not the whole fold again."""
        coverage = cache.read_valid(self.coverage_key, _is_coverage)
        if coverage is None or coverage["to"] != today.isoformat():
            return None
        held = _held_folds.get(self.name)
        if held is not None and held[:2] == (today.isoformat(), coverage["stamp"]):
            return held[2]
        stored = cache.read_valid(self.kept_key, _is_fold)
        if stored is None:
            return None
        current = stored["for"] == today.isoformat() and stored["stamp"] == coverage["stamp"]
        if not (current and self.is_fold(stored["value"])):
            return None
        _held_folds[self.name] = (stored["for"], stored["stamp"], stored["value"])
        return stored["value"]

    def _store_fold(self, today: date, value: Any) -> Any:
        coverage = cache.read_valid(self.coverage_key, _is_coverage)
        if coverage is not None:
            stored = {"for": today.isoformat(), "stamp": coverage["stamp"], "value": value}
            cache.safe("set", self.kept_key, stored, None)
        return value

    def keep(self, *, today: date, queries: VisitorQueries, recheck_days: int = 0) -> Any:
        """``update``, then what the loop keeps of the days (``kept``). A folded breakdown's
        fold is stored with the stamp of the days it was made from: the next reader for the
        same days (a restarted loop, a request) reads that one key, not every day."""
        if self.fold is not None and not recheck_days:
            stored = self._stored_fold(today)
            if stored is not None:
                return stored
        if self.advance is not None:
            advanced = self._advanced(today, queries, recheck_days)
            if advanced is not None:
                return advanced
        if self.advance is not None:
            folded = self.folded(today=today, queries=queries, recheck_days=recheck_days)
            return self._store_fold(today, folded)
        days, _ = self.update(today=today, queries=queries, recheck_days=recheck_days)
        if self.fold is None:
            return days
        return self._store_fold(today, self.fold(today, days))

    def _advanced(self, today: date, queries: VisitorQueries, recheck_days: int) -> Any | None:
        """The stored fold moved to ``today`` by counting only the days after it (and the
        re-checked ones); None when there is no usable fold to move (then the full way)."""
        assert self.advance is not None
        coverage = cache.read_valid(self.coverage_key, _is_coverage)
        stored = cache.read_valid(self.kept_key, _is_fold)
        if coverage is None or stored is None or not self.is_fold(stored["value"]):
            return None
        try:
            folded_for = date.fromisoformat(stored["for"])
        except (TypeError, ValueError):
            return None
        first = self.keep_from(today)
        if (
            stored["stamp"] != coverage["stamp"]
            or coverage["to"] != stored["for"]
            or coverage["from"] != first.isoformat()  # the window moved (a new year)
            or not first <= folded_for <= today
        ):
            return None
        start = max(first, min(folded_for, today - timedelta(days=recheck_days)))
        if start >= today:
            return stored["value"]
        recounted = [start + timedelta(days=n) for n in range((folded_for - start).days)]
        before = self.load(recounted)
        if len(before) < len(recounted):  # a folded day is gone: its share is unknown
            return None
        counts = self.count(queries, start, today)
        now = {
            start + timedelta(days=n): self.encode(counts.get(start + timedelta(days=n), {}))
            for n in range((today - start).days)
        }
        cache.call("set_many", {self.day_key(d): c for d, c in now.items()}, None)
        stamp = uuid.uuid4().hex
        cache.call(
            "set",
            self.coverage_key,
            {"from": first.isoformat(), "to": today.isoformat(), "stamp": stamp},
            None,
        )
        value = self.advance(stored["value"], folded_for, today, before, now)
        cache.safe(
            "set", self.kept_key, {"for": today.isoformat(), "stamp": stamp, "value": value}, None
        )
        logger.info(
            "breakdown %s: fold moved from %s to %s, queried %s..%s",
            self.name,
            folded_for,
            today,
            start,
            today - timedelta(days=1),
        )
        return value

    def kept_closed(self, *, today: date, queries: VisitorQueries) -> Any:
        """``closed`` (the request path), then ``kept``; a folded breakdown's stored fold
        when it is current. While the cache is unreachable, the window is counted from the
        database, as every other payload is then: once per process and kept for the outage
        (``while_unreachable``), since every request for a ranking, the hours or the rooms
        needs it and the closed days do not change meanwhile."""
        try:
            kept = self._kept_closed(today=today, queries=queries)
        except cache.CacheUnavailable as exc:
            logger.debug("breakdown %s: counting from the database: %s", self.name, exc)
            return while_unreachable.get(
                self.name, today, lambda: self._counted_kept(today, queries)
            )
        while_unreachable.forget(self.name)
        return kept

    def _counted_kept(self, today: date, queries: VisitorQueries) -> Any:
        if self.advance is not None:
            return self.folded(today=today, queries=queries, store=False)
        return self.kept(today, self.counted(today=today, queries=queries))

    def counted(self, *, today: date, queries: VisitorQueries) -> dict[date, Counts]:
        """Every closed day of the window, counted from the database, nothing stored."""
        wanted = self.wanted_days(today)
        if not wanted:
            return {}
        counts = self.count(queries, wanted[0], today)
        return {day: self.encode(counts.get(day, {})) for day in wanted}

    def _kept_closed(self, *, today: date, queries: VisitorQueries) -> Any:
        if self.fold is not None:
            stored = self._stored_fold(today)
            if stored is not None:
                return stored
            if self.advance is not None:
                advanced = self._advanced(today, queries, 0)
                if advanced is not None:
                    return advanced
                return self._shared_fold(today, queries)
        days = self.closed(today=today, queries=queries)
        if self.fold is None:
            return days
        return self._store_fold(today, self.fold(today, days))

    def _shared_fold(self, today: date, queries: VisitorQueries) -> Any:
        """A cold folded store, from the request path: filled and folded chunk by chunk
        (``folded``) once across processes; the others wait for the stored fold."""

        def current(stored: dict[str, Any]) -> bool:
            coverage = cache.read_valid(self.coverage_key, _is_coverage)
            return (
                coverage is not None
                and stored["for"] == today.isoformat()
                and stored["stamp"] == coverage["stamp"]
                and self.is_fold(stored["value"])
            )

        def fill() -> dict[str, Any]:
            value = self.folded(today=today, queries=queries)
            coverage = cache.read_valid(self.coverage_key, _is_coverage) or {"stamp": ""}
            return {"for": today.isoformat(), "stamp": coverage["stamp"], "value": value}

        stored, _ = cache.get_or_compute(
            self.kept_key, fill, ttl=None, validate=_is_fold, fresh=current
        )
        return stored["value"]


class WhileUnreachable:
    """What this process counted from the database per breakdown while the cache was
    unreachable: computed once (concurrent requests wait for it, as in
    ``cache.get_or_compute``), reused for ``cache.MEMO_UNBOUNDED_TTL`` on the same day (the
    rule for values the cache keeps without expiry; closed days do not change), and
    dropped once the cache answers again. Without it, every request thread of every process
    counted the whole window again each time a payload's fallback value expired."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._kept: dict[str, tuple[date, float, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _held(self, name: str, today: date) -> Any | None:
        held = self._kept.get(name)
        if held is None or held[0] != today or self.clock() >= held[1]:
            return None
        return held[2]

    def get(self, name: str, today: date, compute: Callable[[], Any]) -> Any:
        held = self._held(name, today)
        if held is not None:
            return held
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            held = self._held(name, today)
            if held is None:
                held = compute()
                self._kept[name] = (today, self.clock() + cache.MEMO_UNBOUNDED_TTL, held)
            return held

    def forget(self, name: str) -> None:
        if name in self._kept:
            self._kept.pop(name, None)

    def clear(self) -> None:
        self._kept.clear()
        _held_folds.clear()


while_unreachable = WhileUnreachable()


def _is_fold(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {"for", "stamp", "value"}


def _first_of_year(today: date) -> date:
    return date(today.year, 1, 1)


def _first_of_month(today: date) -> date:
    return today.replace(day=1)


def _a_year_and_a_week(today: date) -> date:
    # The same weekday a year ago is 364 days back; a week more for its hourly comparison.
    return today - timedelta(days=371)


HOURS = Breakdown("hours", _a_year_and_a_week, lambda q, s, e: q.hourly_counts(start=s, end=e))
ROOMS = Breakdown(
    "rooms", _first_of_month, lambda q, s, e: q.counts_by(column="room_code", start=s, end=e)
)
INSTITUTIONS = Breakdown(
    "institutions",
    _first_of_year,
    lambda q, s, e: q.counts_by(column="institution", start=s, end=e),
)


# --- members: per day, each member's count and the name and institution last seen -------
def _encode_members(members: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {member: [n, name, institution] for member, (n, name, institution) in members.items()}


def _is_members(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, list)
        and len(v) == 3
        and type(v[0]) is int
        and v[0] > 0
        and all(x is None or isinstance(x, str) for x in v[1:])
        for v in value.values()
    )


# This year's and this month's closed days per member, and each member's name and
# institution as last seen (the latest day wins): {"month": {id: n}, "year": {id: n},
# "latest": {id: [name, institution, "YYYY-MM-DD"]}}; plain JSON, as the cache stores it.
MemberTotals = dict[str, dict[str, Any]]


def fold_members(today: date, days: Mapping[date, Mapping[str, list[Any]]]) -> MemberTotals:
    month_start, year_start = _first_of_month(today), _first_of_year(today)
    month: dict[str, int] = {}
    year: dict[str, int] = {}
    latest: dict[str, list[str | None]] = {}
    for day in sorted(d for d in days if year_start <= d < today):
        in_month = day >= month_start
        for member, (n, name, institution) in days[day].items():
            year[member] = year.get(member, 0) + n
            if in_month:
                month[member] = month.get(member, 0) + n
            latest[member] = [name, institution, day.isoformat()]
    return {"month": month, "year": year, "latest": latest}


def advance_members(
    fold: MemberTotals,
    folded_for: date,
    today: date,
    before: Mapping[date, Mapping[str, list[Any]]],
    now: Mapping[date, Mapping[str, list[Any]]],
) -> MemberTotals:
    """``fold`` (made for ``folded_for``, same year) moved to ``today``: the re-counted days'
    old counts out, the days counted now in; a new month starts from its own days."""
    month_start = _first_of_month(today)
    carried = folded_for >= month_start  # the fold's month is today's month
    month: dict[str, int] = dict(fold["month"]) if carried else {}
    year: dict[str, int] = dict(fold["year"])
    latest: dict[str, list[Any]] = dict(fold["latest"])

    def add(totals: dict[str, int], member: str, n: int) -> None:
        total = totals.get(member, 0) + n
        if total > 0:
            totals[member] = total
        else:
            totals.pop(member, None)

    for day, members in before.items():
        for member, (n, _, _) in members.items():
            add(year, member, -n)
            if carried and day >= month_start:
                add(month, member, -n)
    for day in sorted(now):
        for member, (n, name, institution) in now[day].items():
            add(year, member, n)
            if day >= month_start:
                add(month, member, n)
            seen = latest.get(member)
            if seen is None or len(seen) < 3 or str(seen[2]) <= day.isoformat():
                latest[member] = [name, institution, day.isoformat()]
    return {"month": month, "year": year, "latest": latest}


def is_member_totals(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {"month", "year", "latest"}
        and all(isinstance(part, dict) for part in value.values())
    )


MEMBERS = Breakdown(
    "members",
    _first_of_year,
    lambda q, s, e: q.member_days(start=s, end=e),
    encode=_encode_members,
    is_day=_is_members,
    fold=fold_members,
    is_fold=is_member_totals,
    advance=advance_members,
)
# Every breakdown the loop keeps current and the daily job re-counts.
BREAKDOWNS: tuple[Breakdown, ...] = (HOURS, ROOMS, INSTITUTIONS, MEMBERS)
