"""visitors/rankings.py: the most frequent members and faculties, this month and this year.

Exact rankings against counts computed here from the inserted rows, through both DB layers
on MariaDB and SQLite; local (Asia/Jakarta) month and year edges with an injected clock;
ties, NULLs, a renamed member, late rows, the statements a cycle runs, masking, the faculty
names and their loader.
"""

from __future__ import annotations

import dataclasses
import io
import random
from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache as django_cache
from django.core.management import CommandError, call_command
from django.db import connections

from tests.clients import FrontClient
from tests.conftest import ALL_DATABASES
from tests.services import closed_port, redis_unreachable
from visitors import faculties, rankings, serving
from visitors.breakdowns import INSTITUTIONS, MEMBERS
from visitors.daily import warm_aggregates
from visitors.endpoints import FACULTIES_MONTHLY, FACULTIES_YEARLY, MONTHLY_TOP, YEARLY_TOP
from visitors.member_totals import FoldedMembers, RedisFold, fold_members, members_fold
from visitors.models import Faculty
from visitors.publishing import CycleFacts
from visitors.queries import get_queries
from visitors.status import faculty_coverage
from visitors.sync import Cycle
from visitors.today import make_counter

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

TZ = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 14, 10, 30, tzinfo=TZ)  # 03:30 UTC


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture
def conf(settings):
    """Change visitor settings for one test: ``conf(RANKING_SIZE=3)``."""

    def change(**values):
        settings.VISITORS = dataclasses.replace(settings.VISITORS, **values)

    return change


def build(endpoint, now: datetime, queries=None) -> dict:
    """What a request that missed the cache computes for ``endpoint`` at ``now``."""
    return endpoint.build(serving.RequestFacts(now, queries or get_queries()))


def cycle(queries=None) -> Cycle:
    queries = queries or get_queries()
    return Cycle(counter=make_counter("direct", queries=queries), queries=queries)


@contextmanager
def visitor_statements(alias: str = "visitors"):
    seen: list[str] = []

    def record(execute, sql, params, many, context):
        if "visitor_count" in sql:
            seen.append(sql)
        return execute(sql, params, many, context)

    with connections[alias].execute_wrapper(record):
        yield seen


# --- exact rankings, both layers ------------------------------------------------------------
MEMBERS_POOL = [(f"M{n:02d}", f"Name {n}", ["ENG", "LAW", "MED", None][n % 4]) for n in range(14)]


def _spread(rng: random.Random, now: datetime) -> list[tuple[datetime, str | None, str | None]]:
    """Rows over last December, this year's earlier months, this month and today."""
    rows = []
    first = date(now.year - 1, 12, 1)
    for n in range((now.date() - first).days + 1):
        day = first + timedelta(days=n)
        for _ in range(rng.randint(0, 4)):
            moment = datetime.combine(day, datetime.min.time()) + timedelta(
                minutes=rng.randint(0, 24 * 60 - 1)
            )
            if day == now.date() and moment >= now.replace(tzinfo=None):
                continue
            rows.append((moment, rng.choice([*MEMBERS_POOL, (None, None, "LAW")])))
    return rows


def expected(rows, since: date, size: int) -> tuple[list[dict], list[dict]]:
    members: Counter[str] = Counter()
    latest: dict[str, tuple] = {}
    places: Counter[str | None] = Counter()
    for moment, (member, name, place) in rows:  # in insertion (visitor_id) order
        if moment.date() >= since:
            places[place] += 1
            if member:
                members[member] += 1
        if member:
            latest[member] = (name, place)
    top_members = sorted(members.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
    top_places = sorted(places.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
    return (
        [
            {
                "member_id": m,
                "member_name": latest[m][0],
                "institution": latest[m][1],
                "fakultas": {"ENG": "Engineering"}.get(latest[m][1]),
                "total": n,
            }
            for m, n in top_members
        ],
        [
            {"institution": p, "fakultas": {"ENG": "Engineering"}.get(p), "total": n}
            for p, n in top_places[:size]
        ],
    )


def test_rankings_equal_counts_computed_here_on_every_layer(layer, conf):
    queries, insert = layer
    conf(RANKING_SIZE=5)
    Faculty.objects.create(code="ENG", name="Engineering")
    rows = _spread(random.Random(14), NOW)
    rows.sort(key=lambda row: row[0])
    for moment, (member, name, place) in rows:
        insert([moment], member_id=member, member_name=name, institution=place)
    # Names: each member's rows are inserted in time order, so the latest is the last one.
    month_members, month_places = expected(rows, date(2026, 3, 1), 5)
    year_members, year_places = expected(rows, date(2026, 1, 1), 5)
    month = build(MONTHLY_TOP, NOW, queries)
    assert month["month"] == "2026-03" and month["visitors"] == month_members
    assert build(YEARLY_TOP, NOW, queries)["visitors"] == year_members
    faculties_month = build(FACULTIES_MONTHLY, NOW, queries)
    assert faculties_month["faculties"] == month_places
    faculties_year = build(FACULTIES_YEARLY, NOW, queries)
    assert faculties_year["year"] == 2026 and faculties_year["faculties"] == year_places
    # And the loop, over the same rows, publishes the very same rankings.
    rankings.forget()
    cycle(queries).run(now=NOW, key_ttl=60)
    assert django_cache.get(MONTHLY_TOP.key)["visitors"] == month_members
    assert django_cache.get(FACULTIES_YEARLY.key)["faculties"] == year_places
    # While Redis is unreachable (the members counted from MySQL): the same rankings.
    rankings.forget()
    with redis_unreachable():
        assert build(MONTHLY_TOP, NOW, queries)["visitors"] == month_members
        assert build(YEARLY_TOP, NOW, queries)["visitors"] == year_members


def test_today_counts_and_a_ranking_agrees_with_today(insert_visits):
    insert_visits([at(2026, 3, 13, 9, 0)] * 2, member_id="A", member_name="Ani")
    insert_visits([at(2026, 3, 14, 8, 0)] * 3, member_id="B", member_name="Budi")
    top = build(MONTHLY_TOP, NOW)["visitors"]
    assert [(e["member_id"], e["total"]) for e in top] == [("B", 3), ("A", 2)]


# --- the local calendar ---------------------------------------------------------------------
def test_month_and_year_start_at_local_midnight(insert_visits):
    # 2026-12-31 23:59 Jakarta is 16:59 UTC; 2027-01-01 00:10 Jakarta is still Dec 31 in UTC.
    insert_visits([at(2026, 12, 31, 23, 59)], member_id="OLD", institution="LAW")
    insert_visits([at(2027, 1, 1, 0, 10)], member_id="NEW", institution="ENG")
    just_after = at(2027, 1, 1, 0, 30)
    year = build(YEARLY_TOP, just_after)
    assert year["year"] == 2027 and [e["member_id"] for e in year["visitors"]] == ["NEW"]
    assert build(MONTHLY_TOP, just_after)["month"] == "2027-01"
    assert build(FACULTIES_YEARLY, just_after)["faculties"] == [
        {"institution": "ENG", "fakultas": None, "total": 1}
    ]
    rankings.forget()
    before = build(YEARLY_TOP, at(2026, 12, 31, 23, 59, 30))
    assert before["year"] == 2026 and [e["member_id"] for e in before["visitors"]] == ["OLD"]


def test_a_new_month_keeps_the_year_and_resets_the_month(insert_visits):
    insert_visits([at(2026, 3, 31, 23, 50)] * 2, member_id="MAR")
    insert_visits([at(2026, 4, 1, 0, 5)], member_id="APR")
    now = at(2026, 4, 1, 0, 20)
    assert [(e["member_id"], e["total"]) for e in build(MONTHLY_TOP, now)["visitors"]] == [
        ("APR", 1)
    ]
    assert [(e["member_id"], e["total"]) for e in build(YEARLY_TOP, now)["visitors"]] == [
        ("MAR", 2),
        ("APR", 1),
    ]


def test_the_loop_resets_cleanly_at_new_year(insert_visits):
    insert_visits([at(2026, 12, 31, 22, 0)] * 2, member_id="OLD", institution="LAW")
    loop = cycle()
    loop.run(now=at(2026, 12, 31, 23, 59, 50), key_ttl=60)
    assert django_cache.get(YEARLY_TOP.key)["visitors"][0]["total"] == 2
    insert_visits([at(2027, 1, 1, 0, 0, 5)], member_id="NEW", institution="ENG")
    # Ten seconds later (well within RANKING_REFRESH_S), a new day: re-tallied at once.
    loop.run(now=at(2027, 1, 1, 0, 0, 10), key_ttl=60)
    year = django_cache.get(YEARLY_TOP.key)
    assert year["year"] == 2027 and [e["member_id"] for e in year["visitors"]] == ["NEW"]
    month = django_cache.get(FACULTIES_MONTHLY.key)
    assert month["month"] == "2027-01" and month["faculties"][0]["institution"] == "ENG"


# --- ties, NULLs, names ---------------------------------------------------------------------
def test_ties_are_broken_by_member_id_and_by_code_with_null_last(insert_visits, conf):
    conf(RANKING_SIZE=3)
    for member, place in (("C", "LAW"), ("A", None), ("D", "ENG"), ("B", "ART")):
        insert_visits([at(2026, 3, 10, 9, 0)] * 2, member_id=member, institution=place)
    assert [e["member_id"] for e in build(MONTHLY_TOP, NOW)["visitors"]] == ["A", "B", "C"]
    places = [e["institution"] for e in build(FACULTIES_MONTHLY, NOW)["faculties"]]
    assert places == ["ART", "ENG", "LAW"]
    conf(RANKING_SIZE=10)
    rankings.forget()
    places = [e["institution"] for e in build(FACULTIES_MONTHLY, NOW)["faculties"]]
    assert places == ["ART", "ENG", "LAW", None]


def test_rows_without_a_member_are_not_ranked_and_no_institution_is_one_group(insert_visits):
    insert_visits(
        [at(2026, 3, 12, 9, 0)] * 3, member_id=None, member_name="Guest", institution=None
    )
    insert_visits([at(2026, 3, 14, 9, 0)], member_id="", institution="")
    insert_visits([at(2026, 3, 14, 9, 5)], member_id="A", institution=None)
    assert [e["member_id"] for e in build(MONTHLY_TOP, NOW)["visitors"]] == ["A"]
    assert build(FACULTIES_MONTHLY, NOW)["faculties"] == [
        {"institution": None, "fakultas": None, "total": 5}
    ]


def test_a_renamed_member_shows_the_latest_name_and_institution(insert_visits):
    insert_visits([at(2026, 2, 3, 9, 0)] * 3, member_id="A", member_name="Ani", institution="SCI")
    insert_visits([at(2026, 3, 2, 9, 0)], member_id="A", member_name="Ani Sri", institution="MED")
    (entry,) = build(YEARLY_TOP, NOW)["visitors"]
    assert entry == {
        "member_id": "A",
        "member_name": "Ani Sri",
        "institution": "MED",
        "fakultas": None,
        "total": 4,
    }
    insert_visits([at(2026, 3, 14, 9, 0)], member_id="A", member_name="Ani S. W.")  # today
    rankings.forget()
    assert build(YEARLY_TOP, NOW)["visitors"][0]["member_name"] == "Ani S. W."


# --- cost: closed days once, today's part at most every RANKING_REFRESH_S ------------------
def test_late_rows_in_the_recheck_window_are_counted_by_the_daily_job(insert_visits):
    insert_visits([at(2026, 3, 10, 9, 0)], member_id="A", institution="ENG")
    loop = cycle()
    loop.run(now=NOW, key_ttl=60)
    insert_visits([at(2026, 3, 12, 9, 0)] * 2, member_id="LATE", institution="LAW")  # late
    loop.run(now=NOW + timedelta(seconds=5), key_ttl=60)
    assert [e["member_id"] for e in django_cache.get(MONTHLY_TOP.key)["visitors"]] == ["A"]
    warm_aggregates(now=NOW + timedelta(seconds=6), recheck_days=3)
    published = django_cache.get(MONTHLY_TOP.key)["visitors"]  # the job publishes too
    assert [(e["member_id"], e["total"]) for e in published] == [("LATE", 2), ("A", 1)]
    loop.run(now=NOW + timedelta(seconds=10), key_ttl=60)  # the loop reloads the re-count
    assert [e["member_id"] for e in django_cache.get(MONTHLY_TOP.key)["visitors"]] == [
        "LATE",
        "A",
    ]
    assert django_cache.get(FACULTIES_MONTHLY.key)["faculties"][0] == {
        "institution": "LAW",
        "fakultas": None,
        "total": 2,
    }


def test_a_daily_job_that_finds_no_late_row_writes_and_publishes_nothing(insert_visits):
    """The loop closed the days and published; the job re-checks them, finds the same
    prints and counts, and leaves the stamps (the loop reloads nothing) and the payloads."""
    from visitors.sync import closed_stamps

    insert_visits([at(2026, 3, 12, 9, 0)], member_id="A")
    cycle().run(now=NOW, key_ttl=60)
    stamps = closed_stamps()
    django_cache.delete(MONTHLY_TOP.key)
    result = warm_aggregates(now=NOW + timedelta(minutes=1), recheck_days=3)
    assert result["published"] is False and result["today"] == 0
    assert closed_stamps() == stamps
    assert django_cache.get(MONTHLY_TOP.key) is None
    insert_visits([at(2026, 3, 13, 9, 0)], member_id="B")  # late
    result = warm_aggregates(now=NOW + timedelta(minutes=2), recheck_days=3)
    assert result["published"] is True and closed_stamps() != stamps
    assert [e["total"] for e in django_cache.get(MONTHLY_TOP.key)["visitors"]] == [1, 1]


def test_statements_one_grouped_query_per_store_when_a_day_closes_none_per_cycle(insert_visits):
    insert_visits([at(2026, 3, 13, 9, 0)], member_id="A")
    loop = cycle()
    loop.run(now=at(2026, 3, 13, 23, 59, 0), key_ttl=60)
    insert_visits([at(2026, 3, 13, 23, 59, 30)], member_id="B")
    with visitor_statements() as seen:
        for n in range(5):
            loop.run(now=at(2026, 3, 13, 23, 59, 1 + n), key_ttl=60)
    assert not [sql for sql in seen if "GROUP BY" in sql.upper()]
    with visitor_statements() as seen:
        loop.run(now=at(2026, 3, 14, 0, 0, 1), key_ttl=60)  # the 13th closes
    grouped = [sql for sql in seen if "GROUP BY" in sql.upper()]
    minutes = [sql for sql in grouped if "MINUTE(" in sql.upper()]
    assert len(minutes) == 2  # /today/compare: hour 0 of last week's and last year's day
    grouped = [sql for sql in grouped if sql not in minutes]
    # The re-check window's prints (rows and the sum of their ids per day, from the date
    # index alone; one read for all stores) before anything counts, so the daily job's
    # re-check can skip the days that did not change; the rollup takes its count from them.
    prints = [sql for sql in grouped if "SUM(VISITOR_ID)" in sql.upper()]
    assert len(prints) == 1
    grouped = [sql for sql in grouped if sql not in prints]
    # Hours, rooms, institutions and members: one grouped query each.
    assert len(grouped) == 4
    assert sum("member_id" in sql and "DATE(" in sql.upper() for sql in grouped) >= 1
    assert MEMBERS.load([date(2026, 3, 13)]) == {
        date(2026, 3, 13): {
            "A": [1, "Test Member", "Faculty of Engineering"],
            "B": [1, "Test Member", "Faculty of Engineering"],
        }
    }
    assert [e["total"] for e in django_cache.get(YEARLY_TOP.key)["visitors"]] == [1, 1]


def test_todays_part_is_tallied_at_most_every_ranking_refresh_s(insert_visits, conf):
    conf(RANKING_REFRESH_S=60)
    loop = cycle()
    loop.run(now=NOW, key_ttl=60)
    first = django_cache.get(MONTHLY_TOP.key)
    assert first["visitors"] == []
    insert_visits([at(2026, 3, 14, 10, 30, 1)], member_id="A")
    loop.run(now=NOW + timedelta(seconds=30), key_ttl=60)
    assert django_cache.get(MONTHLY_TOP.key) == first  # the rows are read, not yet tallied
    loop.run(now=NOW + timedelta(seconds=61), key_ttl=60)
    ranked = django_cache.get(MONTHLY_TOP.key)
    assert [e["member_id"] for e in ranked["visitors"]] == ["A"]
    assert ranked["generated_at"] == (NOW + timedelta(seconds=61)).isoformat()
    loop.run(now=NOW + timedelta(seconds=130), key_ttl=60)  # nothing new: same bytes
    assert django_cache.get(MONTHLY_TOP.key) == ranked


def test_the_loop_rebuilds_nothing_when_nothing_changed(insert_visits, monkeypatch):
    insert_visits([at(2026, 3, 10, 9, 0)], member_id="A")
    loop = cycle()
    loop.run(now=NOW, key_ttl=60)
    calls = []
    monkeypatch.setattr(rankings, "_top", lambda *a: calls.append(a) or [])
    loop.run(now=NOW + timedelta(seconds=5), key_ttl=60)
    assert calls == []


# --- served like the rest -------------------------------------------------------------------
@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


PATHS = {
    "/api/visitors/monthly/top": {"month", "visitors", "generated_at", "source"},
    "/api/visitors/yearly/top": {"year", "visitors", "generated_at", "source"},
    "/api/visitors/faculties/monthly/top": {"month", "faculties", "generated_at", "source"},
    "/api/visitors/faculties/yearly/top": {"year", "faculties", "generated_at", "source"},
}


@pytest.mark.parametrize("path", PATHS)
def test_a_cold_cache_computes_once_and_answers_200(client, insert_visits, frozen, path):
    insert_visits([at(2026, 3, 2, 9, 0)], member_id="A", member_name="Ani Sri")
    first = client.get(path)
    assert first.status_code == 200 and set(first.json()) == PATHS[path]
    assert first.json()["source"] == "db"
    assert client.get(path + "/").json()["source"] == "cache"
    assert first["ETag"] and first["Cache-Control"].startswith("public")


def test_anonymous_callers_get_initials_and_no_id_staff_get_them_in_full(insert_visits, frozen):
    insert_visits([at(2026, 3, 2, 9, 0)] * 2, member_id="ENG2100042", member_name="Ani Sri")
    insert_visits([at(2026, 3, 3, 9, 0)], member_id="LAW2200007", member_name=None)
    cycle().run(now=NOW, key_ttl=60)
    anonymous = FrontClient()
    masked = anonymous.get("/api/visitors/monthly/top")
    assert masked.answered_by == "prerendered"  # type: ignore[attr-defined]
    assert [(e["member_id"], e["member_name"]) for e in masked.json()["visitors"]] == [
        (None, "A. S."),
        (None, None),
    ]
    assert "ENG2100042" not in masked.content.decode() and "Ani" not in masked.content.decode()
    staff = FrontClient()
    staff.force_login(User.objects.create_user("clerk", password="pw", is_staff=True))
    full = staff.get("/api/visitors/monthly/top")
    assert not hasattr(full, "answered_by")  # the session goes to Django, which checks it
    assert [(e["member_id"], e["member_name"]) for e in full.json()["visitors"]] == [
        ("ENG2100042", "Ani Sri"),
        ("LAW2200007", None),
    ]
    assert full["Cache-Control"].startswith("private") and "Cookie" in full["Vary"]
    strict = FrontClient(enforce_csrf_checks=True)  # as a browser: no CSRF exemption
    strict.force_login(User.objects.get(username="clerk"))
    assert strict.post("/api/visitors/monthly/top").status_code == 405  # not a CSRF 403
    assert full["ETag"] != masked["ETag"] and "Cookie" in masked["Vary"]
    again = staff.get("/api/visitors/monthly/top", HTTP_IF_NONE_MATCH=full["ETag"])
    assert again.status_code == 304 and again["Cache-Control"].startswith("private")
    # The masked ETag does not validate a staff request's copy, nor the reverse.
    assert (
        staff.get("/api/visitors/monthly/top", HTTP_IF_NONE_MATCH=masked["ETag"]).status_code == 200
    )
    assert (
        anonymous.get("/api/visitors/monthly/top", HTTP_IF_NONE_MATCH=full["ETag"]).status_code
        == 200
    )
    # A session cookie that is not staff's (or is forged) gets the masked answer from Django.
    anonymous.cookies[settings.SESSION_COOKIE_NAME] = "forged"
    forged = anonymous.get("/api/visitors/monthly/top")
    assert forged.json()["visitors"][0]["member_id"] is None
    assert forged["ETag"] == masked["ETag"]
    assert forged["Vary"] == masked["Vary"] and forged["Cache-Control"] == masked["Cache-Control"]
    clerk = FrontClient()
    clerk.force_login(User.objects.create_user("reader", password="pw"))  # not staff
    assert clerk.get("/api/visitors/yearly/top").json()["visitors"][0]["member_id"] is None


def test_faculty_rankings_are_public_and_the_switch_publishes_members(insert_visits, frozen, conf):
    insert_visits([at(2026, 3, 2, 9, 0)], member_id="ENG2100042", member_name="Ani Sri")
    cycle().run(now=NOW, key_ttl=60)
    staff = FrontClient()
    staff.force_login(User.objects.create_user("clerk", password="pw", is_staff=True))
    faculties_answer = staff.get("/api/visitors/faculties/yearly/top")
    assert faculties_answer.answered_by == "prerendered"  # type: ignore[attr-defined]
    assert faculties_answer["Cache-Control"].startswith("public")
    conf(RANKINGS_PUBLIC_MEMBERS=True)
    cycle().run(now=NOW + timedelta(seconds=1), key_ttl=60)
    public = FrontClient().get("/api/visitors/monthly/top")
    assert public.json()["visitors"][0]["member_id"] == "ENG2100042"
    assert public["Cache-Control"].startswith("public")


def test_initials_cannot_be_reversed_into_a_name():
    assert rankings.initials("Ani Sri Wulandari") == "A. S. W."
    assert rankings.initials("  budi  ") == "B."
    assert rankings.initials(None) is None and rankings.initials("") is None
    assert rankings.initials("Ani Sri") == rankings.initials("Agus Santoso")


@contextmanager
def visitors_db_down():
    """Point the visitor alias at a port where nothing listens (refused at once)."""
    connection = connections["visitors"]
    original = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = closed_port()
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = original


@pytest.mark.django_db(transaction=True, databases=["default", "visitors"])
def test_the_last_good_ranking_is_served_masked_and_stale_while_mysql_is_down(
    client, insert_visits, frozen
):
    insert_visits([at(2026, 3, 2, 9, 0)], member_id="ENG2100042", member_name="Ani Sri")
    cycle().run(now=NOW, key_ttl=60)
    django_cache.delete_many([endpoint.key for endpoint in (MONTHLY_TOP, FACULTIES_YEARLY)])
    rankings.forget()  # a web process has no tally of today's rows of its own
    with visitors_db_down():
        body = client.get("/api/visitors/monthly/top").json()
        assert body["stale"] is True and body["visitors"][0]["member_name"] == "A. S."
        assert body["visitors"][0]["member_id"] is None
        assert client.get("/api/visitors/faculties/yearly/top").json()["stale"] is True


# --- faculty names ------------------------------------------------------------------------
def test_a_mapping_edit_shows_within_one_loop_cycle(insert_visits):
    insert_visits([at(2026, 3, 2, 9, 0)], member_id="A", institution="ENG")
    loop = cycle()
    loop.run(now=NOW, key_ttl=60)
    assert django_cache.get(FACULTIES_MONTHLY.key)["faculties"][0]["fakultas"] is None
    assert faculty_coverage(today=NOW.date())["unknown_codes"] == ["ENG"]
    with django_transaction_commit():
        Faculty.objects.create(code="ENG", name="Fakultas Teknik")
    loop.run(now=NOW + timedelta(seconds=5), key_ttl=60)
    assert django_cache.get(FACULTIES_MONTHLY.key)["faculties"][0]["fakultas"] == "Fakultas Teknik"
    assert django_cache.get(MONTHLY_TOP.key)["visitors"][0]["fakultas"] == "Fakultas Teknik"
    assert faculty_coverage(today=NOW.date())["unknown_codes"] == []
    with django_transaction_commit():
        Faculty.objects.filter(code="ENG").update(name="ignored: no signal")  # no stamp
        Faculty.objects.get(code="ENG").save()  # a save (the admin's) changes the stamp
    loop.run(now=NOW + timedelta(seconds=10), key_ttl=60)
    assert django_cache.get(FACULTIES_MONTHLY.key)["faculties"][0]["fakultas"] == (
        "ignored: no signal"
    )


@contextmanager
def django_transaction_commit():
    """Run ``transaction.on_commit`` hooks of the block (the test's transaction never
    commits)."""
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        yield


def test_load_faculties_creates_then_renames_and_never_duplicates(tmp_path):
    csv = tmp_path / "faculties.csv"
    csv.write_text("code,name\nENG,Fakultas Teknik\nLAW,Fakultas Hukum\n\n", encoding="utf-8")
    out = io.StringIO()
    call_command("load_faculties", str(csv), stdout=out)
    assert "2 created, 0 renamed, 0 unchanged" in out.getvalue()
    csv.write_text("code,name\nENG, Fakultas Teknik \nLAW,Fakultas Hukum (FH)\n", encoding="utf-8")
    out = io.StringIO()
    call_command("load_faculties", str(csv), stdout=out)
    assert "0 created, 1 renamed, 1 unchanged" in out.getvalue()
    assert faculties.names() == {"ENG": "Fakultas Teknik", "LAW": "Fakultas Hukum (FH)"}
    assert Faculty.objects.count() == 2


@pytest.mark.parametrize(
    "text",
    ["name,code\nENG,x\n", "code,name\nENG\n", "code,name\n,Nameless\n", ""],
)
def test_load_faculties_refuses_a_bad_file_and_changes_nothing(tmp_path, text):
    csv = tmp_path / "faculties.csv"
    csv.write_text(text, encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("load_faculties", str(csv))
    assert Faculty.objects.count() == 0
    with pytest.raises(CommandError, match="No such file"):
        call_command("load_faculties", str(tmp_path / "missing.csv"))


def test_faculty_names_live_in_default_only():
    from django.db import router

    assert router.allow_migrate("default", "visitors", model_name="faculty")
    assert not router.allow_migrate("visitors", "visitors", model_name="faculty")
    assert not router.allow_migrate("visitors_sqlite", "visitors", model_name="faculty")
    assert router.db_for_write(Faculty) in (None, "default")


def test_the_status_lists_codes_without_a_name(insert_visits):
    insert_visits([at(2026, 3, 2, 9, 0)], institution="ENG")
    insert_visits([at(2026, 3, 14, 9, 0)], institution="XYZ")  # today only
    insert_visits([at(2026, 3, 2, 9, 0)], institution=None)
    Faculty.objects.create(code="LAW", name="Fakultas Hukum")
    cycle().run(now=NOW, key_ttl=60)
    INSTITUTIONS.update(today=NOW.date(), queries=get_queries())
    assert faculty_coverage(today=NOW.date()) == {"names": 1, "unknown_codes": ["ENG", "XYZ"]}


def test_a_restarted_loop_and_a_cold_request_read_the_stored_fold_not_the_days(insert_visits):
    insert_visits([at(2026, 2, 10, 9, 0)] * 2, member_id="A", member_name="Ani")
    cycle().run(now=NOW, key_ttl=60)
    days = MEMBERS.wanted_days(NOW.date())
    assert len(MEMBERS.load(days)) == len(days)
    # Were the days read, these would be holes to refill (one grouped query): they are not.
    django_cache.delete_many([MEMBERS.day_key(day) for day in days])
    with visitor_statements() as seen:
        cycle().run(now=NOW + timedelta(seconds=1), key_ttl=60)
    assert not [sql for sql in seen if "member_id" in sql and "GROUP BY" in sql.upper()]
    assert django_cache.get(YEARLY_TOP.key)["visitors"][0]["total"] == 2
    django_cache.delete(YEARLY_TOP.key)
    rankings.forget()
    with visitor_statements() as seen:
        assert build(YEARLY_TOP, NOW)["visitors"][0]["total"] == 2
    assert not [sql for sql in seen if "GROUP BY" in sql.upper()]
    # A new day (a write to the days) makes the stored fold stale: the days are read again.
    with visitor_statements() as seen:
        cycle().run(now=NOW + timedelta(days=1), key_ttl=60)
    assert [sql for sql in seen if "member_id" in sql and "GROUP BY" in sql.upper()]
    assert django_cache.get(YEARLY_TOP.key)["visitors"][0]["total"] == 2


def test_the_demo_mapping_names_every_institution_the_demo_data_writes():
    from pathlib import Path

    from visitors.seeding import INSTITUTIONS as SEEDED

    csv = Path(__file__).resolve().parent.parent / "docs" / "faculties.demo.csv"
    call_command("load_faculties", str(csv), stdout=io.StringIO())
    assert faculties.unknown([name for _, name, _ in SEEDED], faculties.names()) == []


def _full_fold(today: date) -> dict:
    days = MEMBERS.wanted_days(today)
    counted = get_queries().member_days(start=days[0], end=today) if days else {}
    return fold_members(
        today, {d: {m: list(v) for m, v in counted.get(d, {}).items()} for d in days}
    )


def _names(fold: dict) -> dict:
    return {member: seen[:2] for member, seen in fold["latest"].items()}


@pytest.fixture(params=["redis", "locmem"])
def fold_cache(request, settings):
    """The members' fold as kept with Redis (sorted sets) and with any other cache (one
    value: the embedded default's database cache works the same way)."""
    if request.param == "locmem":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "KEY_FUNCTION": "visitors.cache.verbatim_key",
                "OPTIONS": {"MAX_ENTRIES": 100_000},  # as the database cache's
            }
        }
        django_cache.clear()  # another test's values
    assert type(members_fold(MEMBERS.kept_key)).__name__ == (
        "RedisFold" if request.param == "redis" else "JsonFold"
    )
    return request.param


def test_the_fold_moves_day_by_day_and_through_rechecks_like_a_full_recount(
    insert_visits, fold_cache
):
    """The loop closes each day, the daily job re-counts the last three with late rows, a
    month turns: the stored fold, moved forward by only those days, equals a full fold."""
    rng = random.Random(7)
    members = [(f"M{n}", f"Name {n}", ["ENG", "LAW", None][n % 3]) for n in range(8)]

    def visits(day: date, n: int) -> None:
        for _ in range(n):
            member, name, place = rng.choice(members)
            moment = datetime.combine(day, datetime.min.time()) + timedelta(
                minutes=rng.randint(0, 1439)
            )
            insert_visits(
                [moment],
                member_id=member,
                member_name=f"{name}{rng.choice('ab')}",
                institution=place,
            )

    first = date(2026, 2, 20)
    for n in range(10):
        visits(first + timedelta(days=n), 6)
    loop = cycle()
    today = date(2026, 2, 24)
    loop.run(now=datetime.combine(today, datetime.min.time(), TZ) + timedelta(hours=9), key_ttl=60)
    while today < date(2026, 3, 3):
        today += timedelta(days=1)
        visits(today - timedelta(days=2), 3)  # late rows, two days back
        moment = datetime.combine(today, datetime.min.time(), TZ)
        loop.run(now=moment + timedelta(seconds=1), key_ttl=60)  # closes yesterday
        warm_aggregates(now=moment + timedelta(minutes=5), recheck_days=3)
        folds = members_fold(MEMBERS.kept_key)
        stored, full = folds.whole(), _full_fold(today)
        assert folds.made_for()[0] == today.isoformat()
        assert stored["year"] == full["year"], today
        assert stored["month"] == full["month"], today
        assert _names(stored) == _names(full), today
    assert stored["month"] and today.month == 3


def test_the_daily_job_reads_only_the_days_it_re_counts(insert_visits, fold_cache):
    insert_visits([at(2026, 2, 10, 9, 0)] * 2, member_id="A", member_name="Ani")
    cycle().run(now=NOW, key_ttl=60)
    # An old day's key is lost: the fold still holds it, and the job never needs it.
    django_cache.delete(MEMBERS.day_key(date(2026, 2, 10)))
    insert_visits([at(2026, 3, 12, 9, 0)], member_id="B", member_name="Budi")  # late
    with visitor_statements() as seen:
        warm_aggregates(now=NOW + timedelta(minutes=1), recheck_days=3)
    member_queries = [sql for sql in seen if "member_id" in sql and "GROUP BY" in sql.upper()]
    assert len(member_queries) == 1
    assert MEMBERS.load([date(2026, 2, 10)]) == {}  # not refilled: not read
    totals = members_fold(MEMBERS.kept_key).whole()["year"]
    assert totals == {"A": 2, "B": 1}


@pytest.mark.parametrize("kept", ["in memory", "in redis"])
@pytest.mark.parametrize("seed", range(5))
def test_the_top_of_closed_plus_today_equals_adding_everything_up(conf, seed, kept):
    """The shortcut (today's members against a prefix of the closed ranking) is exact, also
    when today's members crowd that prefix."""
    conf(RANKING_SIZE=5)
    rng = random.Random(seed)
    closed = {f"M{n:03d}": rng.randint(1, 40) for n in range(300)}
    leaders = sorted(closed, key=lambda m: (-closed[m], m))
    today = {m: rng.randint(0, 3) or 1 for m in leaders[: rng.choice([3, 70, 120])]}
    # Members far down the closed ranking, back often today: they place with their closed
    # totals, which must be asked for (``ClosedMembers.totals``).
    today.update({m: rng.randint(40, 44) for m in rng.sample(leaders[150:], 2)})
    today.update({f"NEW{n}": rng.randint(1, 60) for n in range(rng.randint(0, 5))})
    everything = Counter(closed) + Counter(today)
    expected_top = sorted(everything.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    # Ties too: the same total for many members, ordered by member_id (Redis: by the member
    # within a score, the sets' own order).
    days = {date(2026, 1, 5): {m: [n, None, None] for m, n in closed.items()}}
    when = date(2026, 3, 1)
    if kept == "in memory":
        members = FoldedMembers(fold_members(when, days))
    else:
        members = RedisFold(MEMBERS.kept_key).write(
            when, "stamp", FoldedMembers(fold_members(when, days))
        )
    assert rankings._top_members(members, "year", today) == expected_top
    assert rankings._top_members(members, "year", today) == expected_top  # kept prefix
    assert (
        rankings._top_members(members, "month", today)
        == sorted(today.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    )


def test_a_ranking_built_from_equal_inputs_keeps_the_newer_ones(insert_visits):
    """The loop's next cycle may have equal but other objects (days read again): it reuses
    the ranking, and from then on checks its inputs by identity (a compare of a year of days
    in every cycle cost 0.4 ms of a 4.7 ms cycle at 10M rows). A request's ranking is built
    from its own reads and kept nowhere (``Facts.keeps_results``)."""
    insert_visits([at(2026, 2, 10, 9, 0)], member_id="A", institution="LAW")
    loop = cycle()
    loop.run(now=NOW, key_ttl=60)
    rankings.forget()

    def facts(breakdowns) -> CycleFacts:
        return CycleFacts(NOW, loop.closed, 1, loop.today_rows.rows, breakdowns, loop.faculty_names)

    first = facts(loop.breakdowns)
    built = FACULTIES_YEARLY.build(first)
    reread = {
        name: dict(kept) if isinstance(kept, dict) else kept
        for name, kept in loop.breakdowns.items()
    }
    again = facts(reread)
    assert again.closed_breakdown(INSTITUTIONS) is not first.closed_breakdown(INSTITUTIONS)
    assert FACULTIES_YEARLY.build(again) is built  # equal inputs: not built again
    kept = rankings._built["faculties-year"][0]
    assert kept[1] is again.closed_breakdown(INSTITUTIONS)
    request = serving.request_facts(NOW)
    assert FACULTIES_YEARLY.build(request) == built
    assert rankings._built["faculties-year"][0] is kept  # the request's inputs: not kept


def test_on_the_first_of_january_the_empty_fold_is_kept_not_rebuilt_by_every_reader(
    insert_visits,
):
    """No closed day of the new year to count: the coverage still moves to the new span,
    so the (empty) fold stored for it is current and a request reads it."""
    insert_visits([at(2026, 12, 30, 9, 0)], member_id="A")
    cycle().run(now=at(2026, 12, 31, 10, 0), key_ttl=60)
    new_year = at(2027, 1, 1, 9, 0)
    cycle().run(now=new_year, key_ttl=60)
    assert django_cache.get(MEMBERS.coverage_key)["from"] == "2027-01-01"
    stored = MEMBERS._stored_fold(new_year.date())  # what every reader looks at first
    assert stored is not None and stored.leaders("year", 64) == []
