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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from visitors import cache, keys, member_totals
from visitors.day_prints import DayPrints, Prints, days_between, is_prints
from visitors.queries import VisitorQueries
from visitors.rollup import missing_ranges

logger = logging.getLogger(__name__)

# A day's counts as stored: JSON object keys are strings, so a value is its string and NULL
# (or empty) is "". ``value_of`` turns a key back into a value for the payloads.
Counts = dict[str, int]
NONE_KEY = ""
# When the window moves, this many days before its start are deleted (the loop runs daily).
_FORGET_DAYS = 7
# A folded breakdown (members) is filled, or counted from the database while the cache is
# unreachable, this many days at a time: only the fold and one chunk of days exist at once.
# (A year of members counted at once was a 29 MB heap peak at 100,000 rows, twice at once
# on a web worker's threads; the worker kept that RSS after the outage: BENCHMARKS, soak.
# A week, not a month: a month of rows was still 3.8 MB of the peak, a week about 1 MB, for
# a few more index range reads when a store is filled.)
FOLD_CHUNK_DAYS = 7
# How often a process waiting to move the fold looks whether it may (``_folding``).
_LOCK_POLL_S = 0.05


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
    # too large to hold day by day is folded (``kept``), and its fold is kept in the cache
    # by a ``FoldStore`` (made for the fold's key), which closing a day or re-counting a
    # few moves forward from those days only, never the whole window (``_advanced``).
    fold: Callable[[date, Mapping[date, Any]], Any] | None = None
    fold_store: Callable[[str], FoldStore] | None = None
    # The same fold made from chunks of days, each added then dropped (``counted_kept``).
    fold_chunks: Callable[[date, Iterable[Mapping[date, Any]]], Any] | None = None
    # The only closed days its payloads read, when they read fewer than the window holds
    # (ascending): while the cache is unreachable only these are counted (``counted``);
    # any other day reads as absent then, so this must name every day a payload reads.
    read_days: Callable[[date], list[date]] | None = None

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
        self,
        *,
        today: date,
        queries: VisitorQueries,
        recheck_days: int = 0,
        prints: DayPrints | None = None,
    ) -> tuple[dict[date, Counts], list[tuple[date, date]]]:
        """Fill the missing closed days (and re-count the last ``recheck_days``), store them;
        returns every kept day and the ranges that were queried."""
        wanted = self.wanted_days(today)
        days = self.load(wanted)
        recheck_from = today - timedelta(days=recheck_days)
        window: Prints = {}
        if wanted and (recheck_days or len(days) < len(wanted)):
            prints = prints or DayPrints(queries, today, recheck_days)
            window = prints.since(wanted[0])
            recheck_from = self._first_changed(window, max(recheck_from, wanted[0]), today)
        ranges = missing_ranges({day for day in days if day < recheck_from}, wanted)
        written: dict[date, Counts] = {}
        for start, end in ranges:
            written.update(self._counted_range(queries, start, end))
        if written:
            cache.call("set_many", {self.day_key(d): c for d, c in written.items()}, None)
            self._remember_prints(today, window, written)
            days.update(written)
        self._wrote(today, wanted, ranges)
        return days, ranges

    def _wrote(self, today: date, wanted: list[date], ranges: list[tuple[date, date]]) -> None:
        """After the days of ``ranges`` were counted and stored: forget the days that left
        the window, and write the coverage with a new stamp (also when it is gone)."""
        if ranges:
            first = wanted[0] if wanted else today
            gone = [self.day_key(first - timedelta(days=n)) for n in range(1, _FORGET_DAYS + 1)]
            cache.call("delete_many", gone)
            logger.info(
                "breakdown %s: %d closed days kept, queried %s",
                self.name,
                len(wanted),
                ", ".join(f"{s}..{e - timedelta(days=1)}" for s, e in ranges),
            )
        span = (wanted[0].isoformat() if wanted else today.isoformat(), today.isoformat())
        stored = cache.read_valid(self.coverage_key, _is_coverage)
        # Also when it covers another span: the 1st of January has no closed day to count,
        # and a coverage left at the 31st would make every reader rebuild the fold.
        if ranges or stored is None or (stored["from"], stored["to"]) != span:
            coverage = {"from": span[0], "to": span[1], "stamp": uuid.uuid4().hex}
            cache.call("set", self.coverage_key, coverage, None)

    def _folded_update(
        self,
        *,
        today: date,
        queries: VisitorQueries,
        recheck_days: int = 0,
        prints: DayPrints | None = None,
    ) -> Any:
        """``update`` then ``kept`` for a folded breakdown, ``FOLD_CHUNK_DAYS`` at a time:
        each chunk's stored days are read, its missing (and changed re-checked) days counted
        and stored, then folded in and dropped, so only the fold and one chunk of days exist
        at once (a year of members loaded at once stepped a web worker's RSS up by 15 MB at
        100,000 rows after Redis restarted empty: docs/BENCHMARKS.md, soak). The fold is
        then stored."""
        assert self.fold_chunks is not None
        with self._folding():  # not held after the wait: a rebuild writes whole sets anyway
            return self._folded_update_held(today, queries, recheck_days, prints)

    def _folded_update_held(
        self,
        today: date,
        queries: VisitorQueries,
        recheck_days: int,
        prints: DayPrints | None,
    ) -> Any:
        assert self.fold_chunks is not None
        wanted = self.wanted_days(today)
        prints = prints or DayPrints(queries, today, recheck_days)
        window = prints.since(wanted[0]) if wanted else {}
        recheck_from = today - timedelta(days=recheck_days)
        if wanted and recheck_days:
            recheck_from = self._first_changed(window, max(recheck_from, wanted[0]), today)
        ranges: list[tuple[date, date]] = []

        def chunks() -> Iterator[dict[date, Any]]:
            for at in range(0, len(wanted), FOLD_CHUNK_DAYS):
                chunk = wanted[at : at + FOLD_CHUNK_DAYS]
                days = self.load(chunk)
                missing = missing_ranges({day for day in days if day < recheck_from}, chunk)
                for start, end in missing:
                    counted = self._counted_range(queries, start, end)
                    cache.call("set_many", {self.day_key(d): c for d, c in counted.items()}, None)
                    self._remember_prints(today, window, counted)
                    days.update(counted)
                ranges.extend(missing)
                yield days

        kept = self.fold_chunks(today, chunks())
        self._wrote(today, wanted, ranges)
        return self._store_fold(today, kept)

    def _counted_range(self, queries: VisitorQueries, start: date, end: date) -> dict[date, Any]:
        """Each day of ``[start, end)`` as stored, counted by one grouped query."""
        counts = self.count(queries, start, end)
        return {day: self.encode(counts.get(day, {})) for day in days_between(start, end)}

    # -- late rows: a re-check counts again only the days whose rows changed ---------------
    @property
    def prints_key(self) -> str:
        return self.coverage_key + ":prints"

    def _first_changed(self, prints: Prints, start: date, end: date) -> date:
        """The first day of [start, end) whose print is not the one it was counted with (a
        late row, a deleted one, or never printed); ``end`` when every day is the same."""
        stored = cache.read_valid(self.prints_key, is_prints) or {}
        for day in days_between(start, end):
            if day not in prints or stored.get(day.isoformat()) != prints[day]:
                return day
        return end

    def _remember_prints(self, today: date, prints: Prints, counted: Iterable[date]) -> None:
        """The prints the days just counted were counted with (within the window)."""
        if not prints:
            return
        since = min(prints).isoformat()
        stored = {
            day: value
            for day, value in (cache.read_valid(self.prints_key, is_prints) or {}).items()
            if day >= since
        }
        stored.update({day.isoformat(): prints[day] for day in counted if day in prints})
        cache.call("set", self.prints_key, stored, None)

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

    def _folds(self) -> FoldStore:
        assert self.fold_store is not None
        return self.fold_store(self.kept_key)

    def _stored_fold(self, today: date) -> Any | None:
        """The stored fold, if it was made for ``today`` from the days as they are now."""
        coverage = cache.read_valid(self.coverage_key, _is_coverage)
        if coverage is None or coverage["to"] != today.isoformat():
            return None
        return self._folds().current((today.isoformat(), coverage["stamp"]))

    def _store_fold(self, today: date, kept: Any) -> Any:
        """Store ``kept`` (a fold in memory) with the coverage's stamp; returns it as the
        store keeps it (or as it is, when it cannot be stored)."""
        coverage = cache.read_valid(self.coverage_key, _is_coverage)
        if coverage is None:
            return kept
        try:
            return self._folds().write(today, coverage["stamp"], kept)
        except cache.CacheUnavailable as exc:
            logger.warning("breakdown %s: the fold is not stored: %s", self.name, exc)
            return kept

    def keep(
        self,
        *,
        today: date,
        queries: VisitorQueries,
        recheck_days: int = 0,
        prints: DayPrints | None = None,
    ) -> Any:
        """``update``, then what the loop keeps of the days (``kept``). A folded breakdown's
        fold is stored with the stamp of the days it was made from: the next reader for the
        same days (a restarted loop, a request) reads that, not every day."""
        if self.fold_store is not None:
            if not recheck_days:
                stored = self._stored_fold(today)
                if stored is not None:
                    return stored
            advanced = self._advanced(today, queries, recheck_days, prints)
            if advanced is not None:
                return advanced
            return self._folded_update(
                today=today, queries=queries, recheck_days=recheck_days, prints=prints
            )
        days, _ = self.update(
            today=today, queries=queries, recheck_days=recheck_days, prints=prints
        )
        return days

    @contextmanager
    def _folding(self) -> Iterator[bool]:
        """Held while this process moves or rebuilds the stored fold, one process at a time
        (moving adds the counted days' deltas: two processes moving the same fold, the loop
        and a request at midnight, would add a day twice). Yields False when another one
        held it for longer than ``cache.COMPUTE_WAIT``."""
        lock, token = keys.compute_lock(self.kept_key), uuid.uuid4().hex
        deadline = time.monotonic() + cache.COMPUTE_WAIT
        held = bool(cache.call("add", lock, token, cache.COMPUTE_LOCK_TTL))
        while not held and time.monotonic() < deadline:
            time.sleep(_LOCK_POLL_S)
            held = bool(cache.call("add", lock, token, cache.COMPUTE_LOCK_TTL))
        try:
            yield held
        finally:
            if held and cache.safe("get", lock) == token:
                cache.safe("delete", lock)

    def _advanced(
        self,
        today: date,
        queries: VisitorQueries,
        recheck_days: int,
        prints: DayPrints | None = None,
    ) -> Any | None:
        """The stored fold moved to ``today`` by counting only the days after it (and the
        re-checked ones); None when there is no usable fold to move (then the full way).
        One process at a time; a waiting one then finds the fold moved (``_folding``)."""
        with self._folding() as held:
            if not held:
                return self._stored_fold(today)
            return self._advance(today, queries, recheck_days, prints)

    def _advance(
        self,
        today: date,
        queries: VisitorQueries,
        recheck_days: int,
        prints: DayPrints | None,
    ) -> Any | None:
        folds = self._folds()
        coverage = cache.read_valid(self.coverage_key, _is_coverage)
        made_for = folds.made_for()
        if coverage is None or made_for is None:
            return None
        try:
            folded_for = date.fromisoformat(made_for[0])
        except ValueError:
            return None
        first = self.keep_from(today)
        if (
            made_for[1] != coverage["stamp"]
            or coverage["to"] != made_for[0]
            or coverage["from"] != first.isoformat()  # the window moved (a new year)
            or not first <= folded_for <= today
        ):
            return None
        start = max(first, min(folded_for, today - timedelta(days=recheck_days)))
        if start >= today:  # made for today, nothing to re-check (another process moved it)
            return folds.current(made_for)
        window = (prints or DayPrints(queries, today, recheck_days)).since(first)
        start = self._first_changed(window, start, folded_for)  # unchanged days stay
        if start >= today:
            return folds.current(made_for)
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
        self._remember_prints(today, window, now)
        stamp = uuid.uuid4().hex
        cache.call(
            "set",
            self.coverage_key,
            {"from": first.isoformat(), "to": today.isoformat(), "stamp": stamp},
            None,
        )
        value = folds.advance(folded_for, today, stamp, before, now)
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
        database, as every other payload is then (``counted_kept``): once per process and
        kept for the outage (``while_unreachable``); a fold read from the cache as it is
        needed falls back the same way."""

        def counted() -> Any:
            return while_unreachable.get(
                self.name, today, lambda: self.counted_kept(today=today, queries=queries)
            )

        try:
            kept = self._kept_closed(today=today, queries=queries)
        except cache.CacheUnavailable as exc:
            logger.debug("breakdown %s: counting from the database: %s", self.name, exc)
            return counted()
        while_unreachable.forget(self.name)  # the cache answers: drop the outage's count
        if hasattr(kept, "fallback"):  # read lazily (visitors.member_totals.RedisMembers)
            kept.fallback = counted
        return kept

    def counted_kept(self, *, today: date, queries: VisitorQueries) -> Any:
        """``kept`` of every closed day counted from the database, nothing stored; a
        folded breakdown ``FOLD_CHUNK_DAYS`` at a time (one grouped query per chunk)."""
        if self.fold_chunks is None:
            return self.kept(today, self.counted(today=today, queries=queries))
        wanted = self.wanted_days(today)

        def chunks() -> Iterator[dict[date, Any]]:
            for at in range(0, len(wanted), FOLD_CHUNK_DAYS):
                chunk = wanted[at : at + FOLD_CHUNK_DAYS]
                counts = self.count(queries, chunk[0], chunk[-1] + timedelta(days=1))
                yield {day: self.encode(counts.get(day, {})) for day in chunk}

        return self.fold_chunks(today, chunks())

    def counted(self, *, today: date, queries: VisitorQueries) -> dict[date, Counts]:
        """Every closed day of the window, counted from the database, nothing stored; only
        those of ``read_days`` when it is given (one grouped query per contiguous range)."""
        wanted = self.wanted_days(today)
        if not wanted:
            return {}
        if self.read_days is None:
            counts = self.count(queries, wanted[0], today)
            return {day: self.encode(counts.get(day, {})) for day in wanted}
        window = set(wanted)
        read = [day for day in self.read_days(today) if day in window]
        days: dict[date, Any] = {}
        for start, end in missing_ranges(set(), read):
            days.update(self._counted_range(queries, start, end))
        return days

    def _kept_closed(self, *, today: date, queries: VisitorQueries) -> Any:
        if self.fold_store is not None:
            stored = self._stored_fold(today)
            if stored is not None:
                return stored
            advanced = self._advanced(today, queries, 0)
            if advanced is not None:
                return advanced
            return self._folded_once(today, queries)
        return self.closed(today=today, queries=queries)

    def _folded_once(self, today: date, queries: VisitorQueries) -> Any:
        """A cold folded store on the request path: filled and folded once across processes
        (single flight on the coverage, as ``closed``), a chunk of days at a time."""
        wanted = self.wanted_days(today)
        span = (wanted[0].isoformat() if wanted else today.isoformat(), today.isoformat())
        made: list[Any] = []

        def fill() -> dict[str, str]:
            made.append(self._folded_update(today=today, queries=queries))
            return cache.call("get", self.coverage_key)

        cache.get_or_compute(
            self.coverage_key,
            fill,
            ttl=None,
            validate=_is_coverage,
            fresh=lambda value: (
                (value["from"], value["to"]) == span and self._stored_fold(today) is not None
            ),
        )
        if made:
            return made[0]
        stored = self._stored_fold(today)
        return stored if stored is not None else self._folded_update(today=today, queries=queries)


class WhileUnreachable:
    """What this process counted from the database per breakdown while the cache was
    unreachable: computed once (concurrent requests wait for it, as in
    ``cache.get_or_compute``), reused on the same day for ``cache.MEMO_UNBOUNDED_TTL`` (the
    rule for values the cache keeps without expiry: closed days do not change), dropped
    once the cache answers again. Without it every request thread of every process counted
    the whole window again each time a payload's fallback value expired (5 s)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._kept: dict[str, tuple[date, float, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _held(self, name: str, today: date) -> Any | None:
        held = self._kept.get(name)
        if held is None:
            return None
        if held[0] != today or self.clock() >= held[1]:
            self._kept.pop(name, None)  # not kept past its use
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
                era = cache.era()
                held = compute()
                if cache.era() == era:  # not when the cache came back meanwhile
                    self._kept[name] = (today, self.clock() + cache.MEMO_UNBOUNDED_TTL, held)
            return held

    def forget(self, name: str) -> None:
        if name in self._kept:
            self._kept.pop(name, None)

    def clear(self) -> None:
        self._kept.clear()


while_unreachable = WhileUnreachable()
cache.breaker.when_reachable(while_unreachable.clear)


class FoldStore(Protocol):
    """Where a folded breakdown's fold is kept (``visitors.member_totals``)."""

    def made_for(self) -> tuple[str, str] | None:
        """(day, stamp) the stored fold was made for; None when there is none (or damaged)."""
        ...

    def current(self, made_for: tuple[str, str]) -> Any | None:
        """The stored fold as the loop keeps it, if it was made for ``made_for``."""
        ...

    def write(self, today: date, stamp: str, kept: Any) -> Any:
        """Store ``kept`` (the fold for ``today`` in memory) with ``stamp``; return it as
        the store keeps it."""
        ...

    def advance(
        self,
        folded_for: date,
        today: date,
        stamp: str,
        before: Mapping[date, Any],
        now: Mapping[date, Any],
    ) -> Any | None:
        """Move the stored fold (made for ``folded_for``) to ``today``: the re-counted days
        as they were out, the days counted now in; None when there is none to move."""
        ...


def keep_all(
    *,
    today: date,
    queries: VisitorQueries,
    recheck_days: int = 0,
    prints: DayPrints | None = None,
) -> dict[str, Any]:
    """What the loop keeps of every breakdown (``Breakdown.keep``), with one read of the
    re-check window's prints for all of them."""
    prints = prints or DayPrints(queries, today, recheck_days)
    return {
        b.name: b.keep(today=today, queries=queries, recheck_days=recheck_days, prints=prints)
        for b in BREAKDOWNS
    }


def _first_of_year(today: date) -> date:
    return date(today.year, 1, 1)


def _first_of_month(today: date) -> date:
    return today.replace(day=1)


def _a_year_and_a_week(today: date) -> date:
    # The same weekday a year ago is 364 days back; a week more for its hourly comparison.
    return today - timedelta(days=371)


def _hours_read(today: date) -> list[date]:
    from visitors import hourly  # it builds on this module

    return hourly.days_read(today)


# A year and a week kept, for the comparison's same weekday a year ago; its payloads read
# that day, last week's and the heatmap's weeks: about 60 days counted during an outage.
HOURS = Breakdown(
    "hours",
    _a_year_and_a_week,
    lambda q, s, e: q.hourly_counts(start=s, end=e),
    read_days=_hours_read,
)
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


MEMBERS = Breakdown(
    "members",
    _first_of_year,
    lambda q, s, e: q.member_days(start=s, end=e),
    encode=_encode_members,
    is_day=_is_members,
    fold=lambda today, days: member_totals.FoldedMembers(member_totals.fold_members(today, days)),
    fold_store=member_totals.members_fold,
    fold_chunks=lambda today, chunks: member_totals.FoldedMembers(
        member_totals.fold_chunks(today, chunks)
    ),
)
# Every breakdown the loop keeps current and the daily job re-counts.
BREAKDOWNS: tuple[Breakdown, ...] = (HOURS, ROOMS, INSTITUTIONS, MEMBERS)
