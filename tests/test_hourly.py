"""visitors/hourly.py and visitors/rooms.py: today by hour, the comparison, the heatmap, rooms.

Exact values against counts written out here, published by a real sync cycle (both DB
layers) and read through the API, in Asia/Jakarta; DST hours on a zone that has them.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.cache import cache as django_cache
from django.db import connections

from tests.conftest import ALL_DATABASES, _insert
from tests.test_breakdowns import visitor_queries
from visitors import hourly, rooms
from visitors.breakdowns import BREAKDOWNS, HOURS, ROOMS
from visitors.daily import warm_aggregates
from visitors.endpoints import (
    HEATMAP,
    ROOMS_MONTHLY,
    ROOMS_TODAY,
    TODAY_COMPARE,
    TODAY_HOURLY,
    WHEN_AND_WHERE,
)
from visitors.publishing import CycleFacts
from visitors.queries import get_queries, guarded
from visitors.queries.base import Checkin
from visitors.serving import RequestFacts
from visitors.sync import Cycle
from visitors.today import make_counter

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 10, 14, 30, 15, tzinfo=JAKARTA)  # a Tuesday
TODAY = NOW.date()


def cycle_for(queries=None) -> Cycle:
    queries = queries or get_queries()
    return Cycle(counter=make_counter("direct", queries=queries), queries=queries)


def served(client, endpoint, now: datetime) -> dict:
    with time_machine.travel(now, tick=False):
        response = client.get(endpoint.url_path)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body.pop("source") == "cache"  # published by the cycle
    return body


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second)


@pytest.fixture(params=[False, True], ids=["raw", "orm"])
def use_orm(request, settings):
    settings.VISITORS = dataclasses.replace(settings.VISITORS, USE_ORM=request.param)
    return request.param


def test_today_by_hour_with_last_week_and_the_peak_so_far(client, insert_visits, use_orm):
    week_ago = TODAY - timedelta(days=7)
    insert_visits([at(week_ago, 8), at(week_ago, 8, 59), at(week_ago, 23, 59, 59)])
    insert_visits([at(TODAY - timedelta(days=6), 8)])  # not the same weekday
    insert_visits([at(TODAY, 0), at(TODAY, 9, 10), at(TODAY, 9, 50), at(TODAY, 14, 5)])
    insert_visits([at(TODAY, 16), at(TODAY, 16), at(TODAY, 16)])  # later today: not a peak yet
    cycle = cycle_for()
    cycle.run(now=NOW, key_ttl=60)
    body = served(client, TODAY_HOURLY, NOW)
    totals = {0: 1, 9: 2, 14: 1, 16: 3}
    last_week = {8: 2, 23: 1}
    assert body == {
        "date": "2026-03-10",
        "last_week_date": "2026-03-03",
        "current_hour": 14,
        "hours": [
            {"hour": h, "total": totals.get(h, 0), "last_week": last_week.get(h, 0)}
            for h in range(24)
        ],
        "peak": {"hour": 9, "total": 2},
    }
    # The current hour is live: a new row shows in the next cycle.
    insert_visits([at(TODAY, 14, 31), at(TODAY, 14, 32)])
    later = NOW + timedelta(minutes=3)
    cycle.run(now=later, key_ttl=60)
    body = served(client, TODAY_HOURLY, later)
    assert body["hours"][14]["total"] == 3
    assert body["peak"] == {"hour": 14, "total": 3}


def test_the_earliest_of_equal_hours_is_the_peak_and_none_before_any_check_in():
    rows = [Checkin(i, None, None, None, None, at(TODAY, h)) for i, h in enumerate([7, 11, 11, 7])]
    facts = CycleFacts.of(now=NOW, closed={}, today_count=4, today_rows=rows)
    assert hourly.today_hourly(facts)["peak"] == {"hour": 7, "total": 2}
    empty = CycleFacts.of(now=NOW, closed={}, today_count=0)
    assert hourly.today_hourly(empty)["peak"] is None


@pytest.mark.parametrize(
    "zone, now, rows, expected",
    [
        # New York springs forward at 02:00 on 8 March 2026: the hour 2 does not exist.
        (
            "America/New_York",
            datetime(2026, 3, 8, 3, 30),
            [datetime(2026, 3, 8, 1, 59), datetime(2026, 3, 8, 3, 0)],
            {1: 1, 3: 1},
        ),
        # ... and falls back at 02:00 on 1 November 2026: 01:xx happens twice, both in hour 1.
        (
            "America/New_York",
            datetime(2026, 11, 1, 1, 45),
            [datetime(2026, 11, 1, 1, 10), datetime(2026, 11, 1, 1, 40)],
            {1: 2},
        ),
    ],
)
def test_hours_are_local_wall_clock_hours_on_dst_days(zone, now, rows, expected):
    tz = ZoneInfo(zone)
    aware = now.replace(tzinfo=tz, fold=1)  # after the fall-back: the second 01:45
    checkins = [Checkin(i, None, None, None, None, r) for i, r in enumerate(rows)]
    facts = CycleFacts.of(now=aware, closed={}, today_count=len(rows), today_rows=checkins)
    body = hourly.today_hourly(facts)
    assert [item["hour"] for item in body["hours"]] == list(range(24))
    assert {i["hour"]: i["total"] for i in body["hours"] if i["total"]} == expected
    assert body["current_hour"] == now.hour


def test_compare_counts_the_earlier_days_up_to_the_same_minute(client, insert_visits, use_orm):
    week_ago, year_ago = TODAY - timedelta(days=7), TODAY - timedelta(days=364)
    assert year_ago.weekday() == TODAY.weekday() and year_ago == date(2025, 3, 11)
    insert_visits([at(week_ago, 8)] * 3 + [at(week_ago, 14, 10), at(week_ago, 14, 40)])
    insert_visits([at(year_ago, 13, 59, 59), at(year_ago, 14, 29, 59), at(year_ago, 14, 30)])
    insert_visits([at(TODAY, 9), at(TODAY, 14, 30)])
    cycle = cycle_for()
    cycle.run(now=NOW, key_ttl=60)
    assert served(client, TODAY_COMPARE, NOW) == {
        "date": "2026-03-10",
        "time": "14:30",
        "today": 2,
        # 08:00 x3 and 14:10; not 14:40
        "last_week": {"date": "2026-03-03", "total": 4, "difference": -2, "percent": -50.0},
        # 13:59:59 and 14:29:59; not 14:30:00
        "last_year": {"date": "2025-03-11", "total": 2, "difference": 0, "percent": 0.0},
    }
    # The next cycles of the hour ask nothing of the earlier days: only today's range.
    later = NOW + timedelta(minutes=15)
    with visitor_queries() as seen:
        cycle.run(now=later, key_ttl=60)
    assert seen and all(
        p >= datetime(2026, 3, 10) for _, params in seen for p in params if isinstance(p, datetime)
    )
    assert served(client, TODAY_COMPARE, later)["last_week"]["total"] == 5  # 14:40 now counts


def test_compare_with_nobody_earlier_has_no_percent():
    facts = CycleFacts.of(now=NOW, closed={}, today_count=3)
    body = hourly.compare(facts)
    assert body["last_week"] == {"date": "2026-03-03", "total": 0, "difference": 3, "percent": None}


def test_the_heatmap_averages_the_last_closed_weeks(client, insert_visits, settings):
    now = datetime(2026, 3, 11, 10, 0, tzinfo=JAKARTA)  # a Wednesday
    insert_visits([at(date(2026, 3, 9), 9)] * 5)  # this week's Monday: not closed
    insert_visits([at(date(2026, 3, 8), 10)] * 2)  # last Sunday
    insert_visits([at(date(2026, 1, 12), 9, 30)] * 4)  # the first Monday of eight weeks
    insert_visits([at(date(2026, 1, 11), 9)] * 7)  # a Sunday before them
    cycle_for().run(now=now, key_ttl=60)
    body = served(client, HEATMAP, now)
    assert (body["weeks"], body["from"], body["to"]) == (8, "2026-01-12", "2026-03-08")
    cells = {(d["weekday"], h): v for d in body["days"] for h, v in enumerate(d["hours"]) if v}
    assert cells == {(1, 9): 0.5, (7, 10): 0.25}
    settings.VISITORS = dataclasses.replace(settings.VISITORS, HEATMAP_WEEKS=2)
    cycle_for().run(now=now, key_ttl=60)
    body = served(client, HEATMAP, now)
    assert (body["weeks"], body["from"]) == (2, "2026-02-23")
    cells = {(d["weekday"], h): v for d in body["days"] for h, v in enumerate(d["hours"]) if v}
    assert cells == {(7, 10): 1.0}


def test_the_heatmap_range_on_a_monday_and_a_sunday():
    assert hourly.heatmap_range(date(2026, 3, 9), 1) == (date(2026, 3, 2), date(2026, 3, 8))
    assert hourly.heatmap_range(date(2026, 3, 8), 1) == (date(2026, 2, 23), date(2026, 3, 1))
    # 52 weeks and the days of this week stay inside what the hourly breakdown keeps.
    first, _ = hourly.heatmap_range(date(2026, 3, 8), 52)
    assert first >= HOURS.keep_from(date(2026, 3, 8))


def test_rooms_today_and_this_month_by_total_then_code_then_null(client, insert_visits, use_orm):
    insert_visits([at(TODAY, 9)] * 2, room_code="R2")
    insert_visits([at(TODAY, 10)] * 2, room_code="R1")
    insert_visits([at(TODAY, 11)], room_code=None)
    insert_visits([at(TODAY, 11)], room_code="")
    insert_visits([at(TODAY, 12)], room_code="A")
    insert_visits([at(date(2026, 3, 1), 8)] * 5, room_code="R9")  # this month, closed
    insert_visits([at(date(2026, 3, 2), 8)], room_code=None)
    insert_visits([at(date(2026, 2, 28), 8)] * 9, room_code="R8")  # last month
    cycle_for().run(now=NOW, key_ttl=60)
    assert served(client, ROOMS_TODAY, NOW) == {
        "date": "2026-03-10",
        "rooms": [
            {"room_code": "R1", "total": 2},
            {"room_code": "R2", "total": 2},
            {"room_code": None, "total": 2},
            {"room_code": "A", "total": 1},
        ],
    }
    assert served(client, ROOMS_MONTHLY, NOW) == {
        "month": "2026-03",
        "rooms": [
            {"room_code": "R9", "total": 5},
            {"room_code": None, "total": 3},
            {"room_code": "R1", "total": 2},
            {"room_code": "R2", "total": 2},
            {"room_code": "A", "total": 1},
        ],
    }


def test_on_the_first_of_the_month_the_month_is_today(client, insert_visits):
    now = datetime(2026, 4, 1, 0, 5, tzinfo=JAKARTA)
    insert_visits([datetime(2026, 3, 31, 23, 59, 59)], room_code="R1")
    insert_visits([datetime(2026, 4, 1, 0, 0)], room_code="R2")
    cycle_for().run(now=now, key_ttl=60)
    assert served(client, ROOMS_MONTHLY, now) == {
        "month": "2026-04",
        "rooms": [{"room_code": "R2", "total": 1}],
    }
    assert rooms.ranked({"b": 1, None: 1, "a": 1, "z": 0}) == [
        {"room_code": "a", "total": 1},
        {"room_code": "b", "total": 1},
        {"room_code": None, "total": 1},
    ]


def test_yesterdays_values_are_not_served_after_midnight(client, insert_visits):
    insert_visits([at(TODAY, 23, 50)], room_code="R1")
    cycle_for().run(now=datetime(2026, 3, 10, 23, 59, tzinfo=JAKARTA), key_ttl=600)
    after = datetime(2026, 3, 11, 0, 1, tzinfo=JAKARTA)
    with time_machine.travel(after, tick=False):
        for endpoint in (TODAY_HOURLY, ROOMS_TODAY, TODAY_COMPARE):
            body = client.get(endpoint.url_path).json()
            assert body["source"] == "db" and body["date"] == "2026-03-11", endpoint.name
        assert client.get(ROOMS_TODAY.url_path).json()["rooms"] == []


def test_served_from_the_database_when_the_loop_never_ran(client, insert_visits):
    insert_visits([at(TODAY, 9)], room_code="R1")
    insert_visits([at(TODAY - timedelta(days=7), 9, 10)], room_code="R1")
    with time_machine.travel(NOW, tick=False):
        body = client.get(TODAY_HOURLY.url_path).json()
        compare = client.get(TODAY_COMPARE.url_path).json()
        month = client.get(ROOMS_MONTHLY.url_path).json()
    assert body["source"] == "db" and body["hours"][9] == {"hour": 9, "total": 1, "last_week": 1}
    assert compare["last_week"]["total"] == 1 and compare["today"] == 1
    assert month["rooms"] == [{"room_code": "R1", "total": 2}]  # 3 March is this month
    assert ROOMS.load([TODAY - timedelta(days=1)])  # the closed days were kept once
    assert django_settings.VISITORS.HEATMAP_WEEKS == 8


def test_database_down_serves_the_last_good_values_marked_stale(client, insert_visits):
    insert_visits([at(TODAY, 9)], room_code="R1")
    cycle_for().run(now=NOW, key_ttl=60)
    with time_machine.travel(NOW, tick=False):
        warm = {e.name: client.get(e.url_path).json() for e in WHEN_AND_WHERE}
    django_cache.delete_many([e.key for e in WHEN_AND_WHERE])  # the short-lived values expired
    guarded.breaker.record_failure(OSError("MySQL is down"))
    later = NOW + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        for endpoint in WHEN_AND_WHERE:
            body = client.get(endpoint.url_path).json()
            if endpoint is HEATMAP:  # closed days only: answered from the kept hourly counts
                assert body.pop("source") == "db" and warm[endpoint.name].pop("source") == "cache"
            else:
                assert body.pop("stale") is True and body.pop("as_of") == NOW.isoformat()
            assert body == warm[endpoint.name], endpoint.name


def test_both_db_layers_on_both_vendors_give_identical_payloads(db):
    rows = [at(TODAY, 9), at(TODAY, 14, 10), at(TODAY - timedelta(days=7), 14, 29)]
    rows += [at(TODAY - timedelta(days=364), 14, 1), at(date(2026, 3, 2), 23, 59, 59)]
    rows += [at(date(2026, 2, 16), 0, 0)]
    answers = []
    for alias in ("visitors", "visitors_sqlite"):
        with connections[alias].cursor() as cursor:
            cursor.execute("DELETE FROM visitor_count")
        for i, moment in enumerate(rows):
            _insert(alias, [moment], room_code=[None, "R1", "", "R2"][i % 4])
        for use_orm in (False, True):
            django_cache.clear()
            facts = RequestFacts(NOW, get_queries(using=alias, use_orm=use_orm))
            answers.append({e.name: e.build(facts) for e in WHEN_AND_WHERE})
    assert answers[0]["today_compare"]["last_week"]["total"] == 1
    assert answers[0]["rooms_monthly"]["rooms"][0] == {"room_code": None, "total": 3}
    assert all(answer == answers[0] for answer in answers[1:])


def test_cost_a_new_day_is_one_grouped_query_per_store_and_then_only_today(insert_visits):
    insert_visits([at(TODAY, 9), at(TODAY - timedelta(days=400), 9)])
    cycle = cycle_for()
    cycle.run(now=NOW, key_ttl=60)
    tomorrow = datetime(2026, 3, 11, 0, 0, 5, tzinfo=JAKARTA)
    with visitor_queries() as seen:
        cycle.run(now=tomorrow, key_ttl=60)
    midnight = datetime(2026, 3, 11)
    older = [(sql, p) for sql, p in seen if any(x < midnight for x in p if isinstance(x, datetime))]
    # The prints of the re-check window (the date index alone; one read for all stores)
    # before anything counts yesterday, so the daily job can skip the days that did not
    # change; the rollup takes yesterday's count from them.
    prints = [p for sql, p in older if "SUM(VISITOR_ID)" in sql.upper()]
    assert prints == [(datetime(2026, 3, 8), midnight)]
    ranges = sorted((p[0], p[1]) for sql, p in older if "SUM(VISITOR_ID)" not in sql.upper())
    # yesterday once for each breakdown; hour 0 of the compared days
    assert ranges == [
        *[(datetime(2025, 3, 12), datetime(2025, 3, 12, 1))],
        *[(datetime(2026, 3, 4), datetime(2026, 3, 4, 1))],
        *[(datetime(2026, 3, 10), midnight)] * len(BREAKDOWNS),
    ]
    assert sum("MIN(" in sql.upper() for sql, _ in seen) == 1  # the first day, for reports
    with visitor_queries() as seen:
        cycle.run(now=tomorrow + timedelta(seconds=5), key_ttl=60)
    assert all(x >= midnight for _, p in seen for x in p if isinstance(x, datetime))
    assert len(seen) <= 2  # today's count and today's new rows


def test_cost_requests_for_published_payloads_ask_nothing(client, insert_visits):
    insert_visits([at(TODAY, 9)])
    cycle_for().run(now=NOW, key_ttl=60)
    with visitor_queries() as seen, time_machine.travel(NOW, tick=False):
        for endpoint in WHEN_AND_WHERE:
            assert client.get(endpoint.url_path).json()["source"] == "cache"
    assert seen == []


def test_a_cycle_reuses_what_did_not_change():
    rows = (Checkin(1, None, None, None, "R1", at(TODAY, 9)),)
    kept = {"hours": {TODAY - timedelta(days=2): {"9": 4}}, "rooms": {}}
    facts = CycleFacts.of(now=NOW, closed={}, today_count=1, today_rows=rows, breakdowns=kept)
    again = CycleFacts.of(now=NOW, closed={}, today_count=1, today_rows=rows, breakdowns=kept)
    assert hourly.heatmap(facts, 8) is hourly.heatmap(again, 8)
    assert rooms.rooms_monthly(facts) == rooms.rooms_monthly(again)  # a shared tally unharmed
    assert rooms.rooms_today(again)["rooms"] == [{"room_code": "R1", "total": 1}]
    changed = {**kept, "hours": {TODAY - timedelta(days=2): {"9": 8}}}
    other = CycleFacts.of(now=NOW, closed={}, today_count=1, today_rows=rows, breakdowns=changed)
    assert hourly.heatmap(other, 8)["days"][TODAY.weekday() - 2]["hours"][9] == 1.0


def test_the_daily_job_publishes_them_from_the_kept_counts(client, insert_visits):
    insert_visits([at(TODAY - timedelta(days=7), 9)] * 2, room_code="R1")
    insert_visits([at(TODAY, 9)], room_code="R2")
    warm_aggregates(now=NOW)
    hours = served(client, TODAY_HOURLY, NOW)["hours"]
    assert hours[9] == {"hour": 9, "total": 1, "last_week": 2}
    assert served(client, ROOMS_MONTHLY, NOW)["rooms"] == [
        {"room_code": "R1", "total": 2},
        {"room_code": "R2", "total": 1},
    ]
    assert served(client, TODAY_COMPARE, NOW)["last_week"]["total"] == 2
    assert django_cache.get("visitors:rollup:history") is not None


def test_redis_down_the_same_answers_from_only_the_days_they_read(
    client, insert_visits, tmp_path, settings
):
    """While the cache is unreachable each process counts the hourly breakdown from the
    database: only the days the payloads read (``HOURS.read_days``: last week's and last
    year's same weekday, the heatmap's weeks), about 60 of the window's 371, and every
    answer is the one the loop published."""
    from tests.services import OwnRedis
    from visitors import breakdowns

    redis = OwnRedis(tmp_path)
    redis.start()
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": redis.url}}
    try:
        insert_visits([at(TODAY, 9), at(TODAY, 14, 10), at(TODAY, 14, 40)])
        insert_visits([at(TODAY - timedelta(days=7), h, 5) for h in (8, 9, 9, 14, 14, 15)])
        insert_visits([at(TODAY - timedelta(days=364), h, 20) for h in (10, 14, 14, 20)])
        insert_visits([at(date(2026, 1, 12), 9, 30)] * 4 + [at(date(2026, 3, 8), 22)])
        insert_visits([at(date(2025, 10, 1), 11)] * 9)  # in the window, read by nothing
        cycle_for().run(now=NOW, key_ttl=60)
        published = {e.name: served(client, e, NOW) for e in published_endpoints()}
        redis.stop()
        with time_machine.travel(NOW, tick=False):
            answers = {e.name: client.get(e.url_path).json() for e in published_endpoints()}
        assert {name: body.pop("source") for name, body in answers.items()} == dict.fromkeys(
            published, "db"
        )
        assert answers == published
        counted = breakdowns.while_unreachable._held("hours", TODAY)
        assert sorted(counted) == hourly.days_read(TODAY)
        assert len(counted) == 7 * 8 + 1  # the heatmap's 8 weeks (last week in them), a year ago
        assert counted[TODAY - timedelta(days=364)] == {"10": 1, "14": 2, "20": 1}
    finally:
        redis.stop()


def published_endpoints():
    return (TODAY_HOURLY, TODAY_COMPARE, HEATMAP)
