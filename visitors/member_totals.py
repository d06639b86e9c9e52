"""This year's and this month's closed days per member: the fold behind the member rankings.

``visitors.breakdowns.MEMBERS`` keeps each closed day per member. A ranking needs, for its
period, the best members of the closed days and the closed totals of the members seen today
(today's rows only raise totals), then the names of the ten it shows. The fold of a year's
days holds every member of the year (about 150,000 at 10M rows), so where it lives decides
what a re-count and a cold ranking cost:

- **Redis** (``RedisFold``): two sorted sets, ``visitors:rollup:members:kept:year`` and
  ``...:month``, scored with *minus* the total, so that Redis's own order (score, then
  member) is the ranking's order (total descending, ``member_id`` ascending); and a hash
  ``...:latest`` (member -> ``[name, institution, "YYYY-MM-DD"]``). Closing a day or
  re-counting a few adds only the members whose totals changed (``ZINCRBY``, in one
  transaction), and a reader asks only for the leaders and today's members (``ZRANGE``,
  ``ZMSCORE``) and the names it shows (``HMGET``). ``visitors:rollup:members:kept`` says
  which days the sets were made from (``{"for", "stamp"}``).
- **Any other cache** (the embedded default, ``JsonFold``): the whole fold is one cached
  value, ``{"for", "stamp", "value"}``; a small library's members fit in it.

Both hand the rankings a ``ClosedMembers``.
"""

from __future__ import annotations

import heapq
import json
import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import date
from typing import Any, Literal, Protocol

from visitors import cache, keys

logger = logging.getLogger(__name__)

Period = Literal["month", "year"]
PERIODS: tuple[Period, ...] = ("month", "year")
Latest = tuple[str | None, str | None]  # (member_name, institution)
# A closed day as stored: member -> [count, name, institution].
MemberDays = Mapping[date, Mapping[str, list[Any]]]
# This year's and this month's closed days per member, and each member's name and
# institution as last seen (the latest day wins): {"month": {id: n}, "year": {id: n},
# "latest": {id: [name, institution, "YYYY-MM-DD"]}}; plain JSON, as the cache stores it.
MemberTotals = dict[str, dict[str, Any]]


def _first_of_month(today: date) -> date:
    return today.replace(day=1)


def _first_of_year(today: date) -> date:
    return date(today.year, 1, 1)


def by_rank(item: tuple[str, int]) -> tuple[int, str]:
    """The ranking order: total descending, then ``member_id`` ascending."""
    return -item[1], item[0]


# --- the fold as one value -------------------------------------------------------------------
def fold_members(today: date, days: MemberDays) -> MemberTotals:
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


def changes(
    fold_month: date, today: date, before: MemberDays, now: MemberDays
) -> tuple[dict[str, int], dict[str, int], bool]:
    """What moving a fold made for a day of ``fold_month`` to ``today`` (same year) adds to
    each member: (year deltas, month deltas, whether the month carries over). The re-counted
    days' old counts go out, the days counted now come in; a new month starts from its own
    days. A re-counted day that did not change, and members whose totals did not, are left
    out: a re-check that found no late rows changes nothing."""
    month_start = _first_of_month(today)
    carried = fold_month >= month_start
    year: dict[str, int] = {}
    month: dict[str, int] = {}
    for sign, days in ((-1, before), (1, now)):
        for day, members in days.items():
            in_month = day >= month_start and (carried or sign > 0)
            if in_month == (day >= month_start) and before.get(day) == now.get(day):
                continue  # the same counts out and in
            for member, (n, _, _) in members.items():
                year[member] = year.get(member, 0) + sign * n
                if in_month:
                    month[member] = month.get(member, 0) + sign * n
    return (
        {m: n for m, n in year.items() if n},
        {m: n for m, n in month.items() if n},
        carried,
    )


def newest_seen(before: MemberDays, now: MemberDays) -> dict[str, list[Any]]:
    """The members of the days of ``now`` that changed (or are new), each as last seen in
    ``now``: [name, institution, "YYYY-MM-DD"]. ``now`` reaches the last closed day, so a
    member's day there is their latest."""
    changed = {
        member for day, members in now.items() if before.get(day) != members for member in members
    }
    latest: dict[str, list[Any]] = {}
    for day in sorted(now):
        seen_on = day.isoformat()
        for member, (_, name, institution) in now[day].items():
            if member in changed:
                latest[member] = [name, institution, seen_on]
    return latest


def advance_members(
    fold: MemberTotals, folded_for: date, today: date, before: MemberDays, now: MemberDays
) -> MemberTotals:
    """``fold`` (made for ``folded_for``, same year) moved to ``today``."""
    year_deltas, month_deltas, carried = changes(folded_for, today, before, now)
    moved: MemberTotals = {
        "month": dict(fold["month"]) if carried else {},
        "year": dict(fold["year"]),
        "latest": dict(fold["latest"]),
    }
    _apply(moved, year_deltas, month_deltas, newest_seen(before, now))
    return moved


def _apply(
    fold: MemberTotals,
    year_deltas: Mapping[str, int],
    month_deltas: Mapping[str, int],
    seen: Mapping[str, list[Any]],
) -> None:
    """Add the deltas to ``fold``'s totals (a total that falls to 0 leaves) and ``seen`` to
    its last seen, in place."""
    for totals, deltas in ((fold["year"], year_deltas), (fold["month"], month_deltas)):
        for member, delta in deltas.items():
            total = totals.get(member, 0) + delta
            if total > 0:
                totals[member] = total
            else:
                totals.pop(member, None)
    fold["latest"].update(seen)


def fold_chunks(today: date, chunks: Iterable[MemberDays]) -> MemberTotals:
    """``fold_members`` over consecutive chunks of days (ascending), each added to the fold
    then dropped: the days of the whole window never exist at once. The fold is this
    function's own, so each chunk is added in place (``advance_members`` for a new day,
    ``{}`` before): copying a year of members' three dicts for every chunk (52 a year) was
    most of what a worker allocated to count the members for an outage."""
    fold = fold_members(today, {})
    for days in chunks:
        year_deltas, month_deltas, _ = changes(today, today, {}, days)
        _apply(fold, year_deltas, month_deltas, newest_seen({}, days))
    return fold


def is_member_totals(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {"month", "year", "latest"}
        and all(isinstance(part, dict) for part in value.values())
    )


# --- what the rankings read ------------------------------------------------------------------
class ClosedMembers(Protocol):
    """The closed days of this year and this month, per member."""

    def leaders(self, period: Period, n: int) -> list[tuple[str, int]]:
        """The first ``n`` members of the period's closed ranking (``by_rank``)."""
        ...

    def totals(self, period: Period, members: Collection[str]) -> dict[str, int]:
        """The closed totals of ``members`` (0 when absent)."""
        ...

    def latest(self, members: Collection[str]) -> dict[str, Latest]:
        """Each of ``members``' name and institution as last seen (absent: unknown)."""
        ...


class FoldedMembers:
    """``ClosedMembers`` over a fold held in memory; each period's leaders are sorted once
    per fold."""

    def __init__(self, fold: MemberTotals) -> None:
        self.fold = fold
        self._leaders: dict[tuple[Period, int], list[tuple[str, int]]] = {}

    def leaders(self, period: Period, n: int) -> list[tuple[str, int]]:
        found = self._leaders.get((period, n))
        if found is None:
            found = heapq.nsmallest(n, self.fold[period].items(), key=by_rank)
            self._leaders[(period, n)] = found
        return found

    def totals(self, period: Period, members: Collection[str]) -> dict[str, int]:
        totals = self.fold[period]
        return {member: totals.get(member, 0) for member in members}

    def latest(self, members: Collection[str]) -> dict[str, Latest]:
        latest = self.fold["latest"]
        return {m: (latest[m][0], latest[m][1]) for m in members if m in latest}


# --- where the fold is kept --------------------------------------------------------------
class JsonFold:
    """The whole fold as one cached value, ``{"for", "stamp", "value"}``."""

    def __init__(self, key: str) -> None:
        self.key = key

    def _stored(self) -> dict[str, Any] | None:
        stored = cache.read_valid(self.key, _is_stored)
        return stored if stored is not None and is_member_totals(stored["value"]) else None

    def made_for(self) -> tuple[str, str] | None:
        stored = self._stored()
        return None if stored is None else (stored["for"], stored["stamp"])

    def current(self, made_for: tuple[str, str]) -> ClosedMembers | None:
        """The stored fold, if it was made for ``made_for`` (day, stamp)."""
        stored = self._stored()
        if stored is None or (stored["for"], stored["stamp"]) != made_for:
            return None
        return FoldedMembers(stored["value"])

    def whole(self) -> MemberTotals | None:
        """The stored fold as one value (checks and tests)."""
        stored = self._stored()
        return None if stored is None else stored["value"]

    def write(self, today: date, stamp: str, kept: FoldedMembers) -> ClosedMembers:
        return self._write(today, stamp, kept.fold)

    def _write(self, today: date, stamp: str, fold: MemberTotals) -> ClosedMembers:
        stored = {"for": today.isoformat(), "stamp": stamp, "value": fold}
        cache.safe("set", self.key, stored, None)
        return FoldedMembers(fold)

    def advance(
        self, folded_for: date, today: date, stamp: str, before: MemberDays, now: MemberDays
    ) -> ClosedMembers | None:
        stored = self._stored()
        if stored is None:
            return None
        return self._write(
            today, stamp, advance_members(stored["value"], folded_for, today, before, now)
        )


def _is_stored(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {"for", "stamp", "value"}


def _is_made_for(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {"for", "stamp"}
        and all(isinstance(v, str) for v in value.values())
    )


_CHUNK = 5000  # members per command when a whole set is written
_BESIDE_TTL_S = 600


def _chunks(mapping: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    items = list(mapping.items())
    for start in range(0, len(items), _CHUNK):
        yield dict(items[start : start + _CHUNK])


class RedisFold:
    """The fold as two sorted sets and a hash (the module docstring)."""

    def __init__(self, key: str) -> None:
        self.key = key  # {"for", "stamp"} of the sets
        self.sets = {period: keys.member_fold(key, period) for period in PERIODS}
        self.latest_key = keys.member_fold(key, "latest")

    def made_for(self) -> tuple[str, str] | None:
        raw = cache.raw_redis(lambda client: client.get(self.key), "reading the members' fold")
        value = _loads(raw)
        return (value["for"], value["stamp"]) if _is_made_for(value) else None

    def current(self, made_for: tuple[str, str]) -> ClosedMembers | None:
        return RedisMembers(self) if self.made_for() == made_for else None

    def whole(self) -> MemberTotals | None:
        """The stored fold as one value (checks and tests: it reads every member)."""

        def read(client: Any) -> list[Any]:
            with client.pipeline(transaction=True) as pipe:
                for period in PERIODS:
                    pipe.zrange(self.sets[period], 0, -1, withscores=True)
                pipe.hgetall(self.latest_key)
                return pipe.execute()

        if self.made_for() is None:
            return None
        month, year, latest = cache.raw_redis(read, "reading the members' fold")
        return {
            "month": {m.decode(): int(-score) for m, score in month},
            "year": {m.decode(): int(-score) for m, score in year},
            "latest": {m.decode(): _loads(seen) for m, seen in latest.items()},
        }

    def write(self, today: date, stamp: str, kept: FoldedMembers) -> ClosedMembers:
        """The sets made anew from ``kept``: written beside, then renamed in one step."""
        fold = kept.fold
        parts = {
            **{self.sets[p]: {m: -n for m, n in fold[p].items()} for p in PERIODS},
            self.latest_key: {m: json.dumps(seen) for m, seen in fold["latest"].items()},
        }

        # Each writer its own keys beside (two processes may fold at once), expiring should
        # it die before the swap.
        beside = {key: f"{key}:new:{uuid.uuid4().hex}" for key in parts}

        def write(client: Any) -> None:
            for key, mapping in parts.items():
                for chunk in _chunks(mapping):
                    if key == self.latest_key:
                        client.hset(beside[key], mapping=chunk)
                    else:
                        client.zadd(beside[key], chunk)
                    client.expire(beside[key], _BESIDE_TTL_S)
            with client.pipeline(transaction=True) as swap:
                for key, mapping in parts.items():
                    if mapping:
                        swap.rename(beside[key], key)
                        swap.persist(key)
                    else:
                        swap.delete(key)
                swap.set(self.key, _made_for(today, stamp))
                swap.execute()

        cache.raw_redis(write, "writing the members' fold")
        return RedisMembers(self)

    def advance(
        self, folded_for: date, today: date, stamp: str, before: MemberDays, now: MemberDays
    ) -> ClosedMembers | None:
        """Only the members whose totals (or last seen day) changed, in one transaction."""
        year, month, carried = changes(folded_for, today, before, now)
        seen = newest_seen(before, now)
        newer = {member: json.dumps(value) for member, value in seen.items()}

        def advance(client: Any) -> None:
            with client.pipeline(transaction=True) as pipe:
                if not carried:
                    pipe.delete(self.sets["month"])
                for period, deltas in (("year", year), ("month", month)):
                    for member, delta in deltas.items():
                        pipe.zincrby(self.sets[period], -delta, member)
                    if deltas:  # a total that fell to 0 leaves the ranking
                        pipe.zremrangebyscore(self.sets[period], 0, "+inf")
                for chunk in _chunks(newer):
                    pipe.hset(self.latest_key, mapping=chunk)
                pipe.set(self.key, _made_for(today, stamp))
                pipe.execute()

        cache.raw_redis(advance, "moving the members' fold")
        logger.debug(
            "members' fold: %d year and %d month totals changed, %d last seen",
            len(year),
            len(month),
            len(seen),
        )
        return RedisMembers(self)


def _made_for(today: date, stamp: str) -> str:
    return json.dumps({"for": today.isoformat(), "stamp": stamp})


def _loads(raw: bytes | None) -> Any:
    try:
        return None if raw is None else json.loads(raw)
    except ValueError:
        return None


def _latest_of(raw: bytes | None) -> Latest | None:
    kept = _loads(raw)
    if not (isinstance(kept, list) and len(kept) == 3):
        return None
    name, institution = kept[0], kept[1]
    return (
        name if isinstance(name, str) else None,
        institution if isinstance(institution, str) else None,
    )


class RedisMembers:
    """``ClosedMembers`` read from the sorted sets when asked (the leaders, the few members
    of today who could pass them, the names shown; never the whole year). While Redis is
    unreachable, ``fallback`` (when given) supplies them instead, once."""

    def __init__(self, fold: RedisFold, fallback: Callable[[], ClosedMembers] | None = None):
        self.fold = fold
        self.fallback = fallback
        self._instead: ClosedMembers | None = None
        # The sets change only with the stamp, and a new stamp makes a new object.
        self._leaders: dict[tuple[Period, int], list[tuple[str, int]]] = {}

    def _or_fallback(self, read: Callable[[Any], Any], what: str) -> Any:
        if self._instead is None:
            try:
                return cache.raw_redis(read, what)
            except cache.CacheUnavailable:
                if self.fallback is None:
                    raise
                logger.debug("members' fold unreachable: %s from the database", what)
                self._instead = self.fallback()
        return None

    def leaders(self, period: Period, n: int) -> list[tuple[str, int]]:
        found = self._leaders.get((period, n))
        if found is not None:
            return found
        replies = self._or_fallback(
            lambda client: client.zrange(self.fold.sets[period], 0, n - 1, withscores=True),
            "reading the members' leaders",
        )
        if self._instead is not None:
            return self._instead.leaders(period, n)
        found = [(member.decode(), int(-score)) for member, score in replies]
        self._leaders[(period, n)] = found
        return found

    def totals(self, period: Period, members: Collection[str]) -> dict[str, int]:
        wanted = list(members)
        if not wanted:
            return {}
        replies = self._or_fallback(
            lambda client: client.zmscore(self.fold.sets[period], wanted),
            "reading members' totals",
        )
        if self._instead is not None:
            return self._instead.totals(period, members)
        return {m: 0 if s is None else int(-s) for m, s in zip(wanted, replies, strict=True)}

    def latest(self, members: Collection[str]) -> dict[str, Latest]:
        wanted = list(members)
        if not wanted:
            return {}
        replies = self._or_fallback(
            lambda client: client.hmget(self.fold.latest_key, wanted), "reading members' names"
        )
        if self._instead is not None:
            return self._instead.latest(members)
        found = {m: _latest_of(raw) for m, raw in zip(wanted, replies, strict=True)}
        return {m: seen for m, seen in found.items() if seen is not None}


def members_fold(key: str) -> JsonFold | RedisFold:
    """Where the members' fold is kept with this cache (the module docstring)."""
    return RedisFold(key) if cache.is_redis() else JsonFold(key)
