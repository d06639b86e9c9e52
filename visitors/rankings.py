"""Rankings: the most frequent members and institutions (faculties) this month and this year.

Every ranking is the closed days of the period plus today's rows, so it agrees with
``/summary``. The closed days come from the breakdowns (``visitors.breakdowns``: members and
institutions, counted once per day and kept); today's part is tallied from the loop's rows
of today, at most every ``RANKING_REFRESH_S``. Nothing groups a whole month or year.

Order: ``total`` descending; ties by ``member_id`` ascending (members) or by institution
code ascending with the NULL group last (faculties), so equal totals keep one stable order.
A member is a ``member_id`` (rows without one are not ranked); the name and institution
shown are those of their latest check-in. Rows without an institution rank as one group,
``institution: null``. ``fakultas`` is the name the faculty mapping (``visitors.faculties``)
gives the institution code, or null.

Members' names and ids are personal data: ``mask`` is the form anonymous callers get
(unless ``RANKINGS_PUBLIC_MEMBERS``): the name as initials ("Ani Sri" -> "A. S."), the id
null. Many people share initials, so the mask cannot be reversed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from visitors import cache
from visitors.breakdowns import INSTITUTIONS, MEMBERS
from visitors.conf import visitor_settings
from visitors.faculties import name_of
from visitors.member_totals import ClosedMembers, Latest, Period, by_rank

if TYPE_CHECKING:
    from visitors.endpoints import Facts
    from visitors.queries.base import Checkin


def period_of(period: Period, today: date) -> str | int:
    """The value of the ``month`` ("YYYY-MM") or ``year`` field for ``today``."""
    return today.strftime("%Y-%m") if period == "month" else today.year


def _starts(period: Period, today: date) -> date:
    return today.replace(day=1) if period == "month" else date(today.year, 1, 1)


# --- today's part -------------------------------------------------------------------------
@dataclass(frozen=True)
class TodayTally:
    day: date
    checked_at: datetime  # when the rows were last tallied
    generated_at: datetime  # when the tally last changed
    members: dict[str, int]
    latest: dict[str, Latest]
    institutions: dict[str | None, int]


def tally(rows: Sequence[Checkin]) -> tuple[dict[str, int], dict[str, Latest], dict[Any, int]]:
    members: dict[str, int] = {}
    latest: dict[str, Latest] = {}
    institutions: dict[str | None, int] = {}
    for row in sorted(rows, key=lambda r: r.visitor_id):
        place = row.institution or None
        institutions[place] = institutions.get(place, 0) + 1
        if row.member_id:
            members[row.member_id] = members.get(row.member_id, 0) + 1
            latest[row.member_id] = (row.member_name or None, place)
    return members, latest, institutions


# This process's last tally: re-tallied at most every RANKING_REFRESH_S, and on a new day.
# Kept for requests too: today's members only, and it spares each miss a read of today's rows.
_today: TodayTally | None = None


def forget() -> None:
    """Drop this process's tally and built rankings (tests; a new clock)."""
    global _today
    _today = None
    _built.clear()


def today_tally(facts: Facts) -> TodayTally:
    global _today
    last = _today
    refresh = visitor_settings().RANKING_REFRESH_S
    if last is not None and last.day == facts.today:
        age = (facts.now - last.checked_at).total_seconds()
        if 0 <= age < refresh:
            return last
    members, latest, institutions = tally(facts.today_rows)
    unchanged = (
        last is not None
        and last.day == facts.today
        and (last.members, last.latest, last.institutions) == (members, latest, institutions)
    )
    generated = last.generated_at if unchanged and last is not None else facts.now
    _today = TodayTally(facts.today, facts.now, generated, members, latest, institutions)
    return _today


# --- the closed part, summed once per load ---------------------------------------------------
def _closed_members(facts: Facts) -> ClosedMembers:
    return facts.closed_breakdown(MEMBERS)


def _institution_totals(days: Mapping[date, Mapping[str, int]], since: date, today: date) -> dict:
    totals: dict[str | None, int] = {}
    for day, counts in days.items():
        if since <= day < today:
            for key, n in counts.items():
                code = key or None
                totals[code] = totals.get(code, 0) + n
    return totals


# Built rankings by name, with the inputs they were built from: the loop publishes every
# cycle, and a ranking is only rebuilt when an input changed (the same object: no compare).
# The loop's only (``Facts.keeps_results``): a request's would hold a year of days.
_built: dict[str, tuple[tuple[Any, ...], Any]] = {}
# Inputs counted for an outage (a year of members) are not kept once the cache answers.
cache.breaker.when_reachable(_built.clear)


def _once(name: str, inputs: tuple[Any, ...], build: Callable[[], Any], facts: Facts) -> Any:
    """The ranking ``name`` built from ``inputs``, reused while they are equal; kept only
    for facts that keep results (``Facts.keeps_results``: the loop's), and not when they
    are of an earlier cache era (``cache.era``)."""
    if not facts.keeps_results:
        return build()
    era = facts.cache_era
    last = _built.get(name)
    if last is not None and all(a is b or a == b for a, b in zip(last[0], inputs, strict=True)):
        # Equal but not the same objects (days read again): keep these, so the next
        # cycle's check is by identity, not a compare of a year of days.
        _built[name] = (inputs, last[1])
        return last[1]
    value = build()
    if era == cache.era():
        _built[name] = (inputs, value)
    return value


def _top(totals: Mapping[Any, int], order: Callable[[tuple[Any, int]], Any]) -> list[Any]:
    return heapq.nsmallest(visitor_settings().RANKING_SIZE, totals.items(), key=order)


def _top_members(
    closed: ClosedMembers, period: Period, today: Mapping[str, int]
) -> list[tuple[str, int]]:
    """The top of ``closed + today`` without adding the whole period up: the best closed
    members (a prefix of the closed ranking) and those seen today who could pass them.

    Exact: a member outside the prefix has at most the prefix's last total, so one not
    seen today ranks below every prefix member (today only raises totals), and one seen
    today ``n`` times, at most that plus ``n``: below the ``size``-th prefix member's total,
    they cannot place. Only the others' closed totals are asked for."""
    size = visitor_settings().RANKING_SIZE
    length = max(64, 4 * size)
    prefix = closed.leaders(period, length)
    known = dict(prefix)
    if len(prefix) < length:  # the whole period: everyone else has no closed visit
        outside = [member for member in today if member not in known]
        known.update(dict.fromkeys(outside, 0))
    else:
        last, placed = prefix[-1][1], prefix[size - 1][1]
        hopeful = [m for m, n in today.items() if m not in known and last + n >= placed]
        known.update(closed.totals(period, hopeful))
    candidates = [(member, known[member] + n) for member, n in today.items() if member in known]
    others = [item for item in prefix if item[0] not in today][:size]
    return heapq.nsmallest(size, candidates + others, key=by_rank)


def _by_institution(item: tuple[str | None, int]) -> tuple[int, bool, str]:
    return -item[1], item[0] is None, item[0] or ""


# --- the builders ------------------------------------------------------------------------
def members(period: Period) -> Callable[[Facts], dict[str, Any]]:
    """The builder of ``/visitors/{monthly,yearly}/top``."""

    def build(facts: Facts) -> dict[str, Any]:
        # Today's rows first: while MySQL is down this fails before the closed part is read.
        today = today_tally(facts)
        closed = _closed_members(facts)
        names = facts.faculty_names
        key = (facts.today, closed, today, names, visitor_settings().RANKING_SIZE)

        def ranked() -> dict[str, Any]:
            top = _top_members(closed, period, today.members)
            seen = closed.latest([member for member, _ in top if member not in today.latest])
            visitors = []
            for member, total in top:
                name, place = today.latest.get(member) or seen.get(member) or (None, None)
                visitors.append(
                    {
                        "member_id": member,
                        "member_name": name,
                        "institution": place,
                        "fakultas": name_of(place, names),
                        "total": total,
                    }
                )
            return {
                period: period_of(period, facts.today),
                "visitors": visitors,
                "generated_at": today.generated_at.isoformat(),
            }

        return _once(f"members-{period}", key, ranked, facts)

    return build


def faculties(period: Period) -> Callable[[Facts], dict[str, Any]]:
    """The builder of ``/visitors/faculties/{monthly,yearly}/top``."""

    def build(facts: Facts) -> dict[str, Any]:
        today = today_tally(facts)  # first: see ``members``
        days = facts.closed_breakdown(INSTITUTIONS)
        names = facts.faculty_names
        key = (facts.today, days, today, names, visitor_settings().RANKING_SIZE)

        def ranked() -> dict[str, Any]:
            totals = _institution_totals(days, _starts(period, facts.today), facts.today)
            for place, n in today.institutions.items():
                totals[place] = totals.get(place, 0) + n
            return {
                period: period_of(period, facts.today),
                "faculties": [
                    {"institution": place, "fakultas": name_of(place, names), "total": total}
                    for place, total in _top(totals, _by_institution)
                ],
                "generated_at": today.generated_at.isoformat(),
            }

        return _once(f"faculties-{period}", key, ranked, facts)

    return build


# --- privacy -----------------------------------------------------------------------------
def initials(name: str | None) -> str | None:
    """ "Ani Sri Wulandari" -> "A. S. W."; None stays None."""
    if name is None:
        return None
    letters = [word[0].upper() + "." for word in name.split() if word[0].isalnum()]
    return " ".join(letters) or None


def mask(value: dict[str, Any]) -> dict[str, Any]:
    """A member ranking as anonymous callers see it: initials, no id."""
    return {
        **value,
        "visitors": [
            {**entry, "member_id": None, "member_name": initials(entry["member_name"])}
            for entry in value["visitors"]
        ],
    }


# --- checks of a cached value ---------------------------------------------------------------
def _is_total(value: Any) -> bool:
    return type(value) is int and value >= 0


def _is_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _is_generated_at(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def validator(period: Period, field: str) -> Callable[[Any], bool]:
    entry_keys = (
        {"member_id", "member_name", "institution", "fakultas", "total"}
        if field == "visitors"
        else {"institution", "fakultas", "total"}
    )

    def check(value: Any) -> bool:
        return (
            isinstance(value, dict)
            and value.keys() == {period, field, "generated_at"}
            and _is_generated_at(value["generated_at"])
            and isinstance(value[field], list)
            and all(
                isinstance(entry, dict)
                and entry.keys() == entry_keys
                and _is_total(entry["total"])
                and all(_is_text(v) for k, v in entry.items() if k != "total")
                for entry in value[field]
            )
        )

    return check


def freshness(period: Period) -> Callable[[Any, date], bool]:
    """A cached ranking is current while its month (year) is today's."""
    return lambda value, today: value[period] == period_of(period, today)
