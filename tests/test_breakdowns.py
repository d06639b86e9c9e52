"""visitors/breakdowns.py: closed days broken down by hour, room, institution; counted once."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache as django_cache
from django.db import connections

from tests.conftest import ALL_DATABASES
from tests.statements import visitor_queries
from visitors import breakdowns
from visitors.breakdowns import HOURS, INSTITUTIONS, ROOMS
from visitors.queries import get_queries

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

TODAY = date(2026, 3, 10)
ZONE = ZoneInfo("Asia/Jakarta")


def counting(seen: list) -> list:
    """The statements that count, leaving out the re-check window's prints (``day_prints``,
    taken before counting days that a later re-check may look at again)."""
    return [sql for sql, *_ in seen if "SUM(VISITOR_ID)" not in sql.upper()]


def test_an_empty_store_is_filled_in_one_grouped_query_per_breakdown(insert_visits):
    insert_visits([datetime(2026, 3, 9, 8, 15)], room_code="READ-1", institution="F01")
    insert_visits([datetime(2026, 3, 9, 8, 45)], room_code=None, institution=None)
    insert_visits([datetime(2026, 3, 10, 9, 0)], room_code="READ-1")  # today: never stored
    for breakdown in (HOURS, ROOMS, INSTITUTIONS):
        with visitor_queries() as seen:
            days, ranges = breakdown.update(today=TODAY, queries=get_queries())
        assert len(counting(seen)) == 1 and "GROUP BY" in counting(seen)[0].upper()
        assert len(seen) == 2  # and the prints of the last days
        assert ranges == [(breakdown.keep_from(TODAY), TODAY)]
        assert TODAY not in days
        assert days[date(2026, 3, 8)] == {}  # an empty day is stored, not re-queried
    assert HOURS.load([date(2026, 3, 9)]) == {date(2026, 3, 9): {"8": 2}}
    assert ROOMS.load([date(2026, 3, 9)]) == {date(2026, 3, 9): {"READ-1": 1, "": 1}}
    assert breakdowns.value_of("") is None and breakdowns.value_of("READ-1") == "READ-1"


def test_the_windows_look_as_far_back_as_their_payloads():
    assert ROOMS.keep_from(TODAY) == date(2026, 3, 1)  # this month
    assert INSTITUTIONS.keep_from(TODAY) == date(2026, 1, 1)  # this year
    assert HOURS.keep_from(TODAY) == TODAY - timedelta(days=371)  # a year and a week
    assert ROOMS.wanted_days(date(2026, 3, 1)) == []  # the 1st: no closed day this month


def test_a_complete_store_needs_no_query_and_a_hole_one_query(insert_visits):
    insert_visits([datetime(2026, 3, 4, 10, 0)], room_code="R2")
    ROOMS.update(today=TODAY, queries=get_queries())
    with visitor_queries() as seen:
        ROOMS.update(today=TODAY, queries=get_queries())
        assert ROOMS.closed(today=TODAY, queries=get_queries())[date(2026, 3, 4)] == {"R2": 1}
    assert seen == []
    django_cache.delete_many([ROOMS.day_key(date(2026, 3, 4)), ROOMS.day_key(date(2026, 3, 5))])
    with visitor_queries() as seen:
        days, ranges = ROOMS.update(today=TODAY, queries=get_queries())
    assert ranges == [(date(2026, 3, 4), date(2026, 3, 6))]
    assert len(counting(seen)) == 1 and days[date(2026, 3, 4)] == {"R2": 1}


def test_a_new_day_costs_one_query_for_yesterday_and_the_window_moves(insert_visits):
    insert_visits([datetime(2026, 3, 10, 23, 0)], institution="F07")
    HOURS.update(today=TODAY, queries=get_queries())
    dropped = HOURS.keep_from(TODAY)
    assert HOURS.load([dropped])
    with visitor_queries() as seen:
        days, ranges = HOURS.update(today=TODAY + timedelta(days=1), queries=get_queries())
    assert ranges == [(TODAY, TODAY + timedelta(days=1))] and len(counting(seen)) == 1
    assert days[TODAY] == {"23": 1}
    assert HOURS.load([dropped]) == {}  # out of the window: deleted


def test_the_recheck_window_picks_up_late_rows(insert_visits):
    insert_visits([datetime(2026, 3, 7, 12, 0)], institution="F01")
    INSTITUTIONS.update(today=TODAY, queries=get_queries())
    # Nothing arrived since: the re-check reads the days' prints and counts nothing.
    with visitor_queries() as seen:
        days, ranges = INSTITUTIONS.update(today=TODAY, queries=get_queries(), recheck_days=3)
    assert ranges == [] and counting(seen) == [] and len(seen) == 1
    insert_visits([datetime(2026, 3, 8, 12, 0)], institution="F03")  # arrives late
    days, _ = INSTITUTIONS.update(today=TODAY, queries=get_queries())
    assert days[date(2026, 3, 8)] == {}
    days, ranges = INSTITUTIONS.update(today=TODAY, queries=get_queries(), recheck_days=3)
    assert ranges == [(date(2026, 3, 8), TODAY)]  # from the first day that changed
    assert days[date(2026, 3, 8)] == {"F03": 1}
    assert days[date(2026, 3, 7)] == {"F01": 1}


def test_a_deleted_row_changes_its_days_print_too(insert_visits):
    ids = insert_visits([datetime(2026, 3, 9, 12, 0)] * 2, institution="F03")
    INSTITUTIONS.update(today=TODAY, queries=get_queries())
    with connections["visitors"].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count WHERE visitor_id = %s", [ids[0]])
    days, ranges = INSTITUTIONS.update(today=TODAY, queries=get_queries(), recheck_days=3)
    assert ranges == [(date(2026, 3, 9), TODAY)] and days[date(2026, 3, 9)] == {"F03": 1}


def test_the_stamp_changes_with_every_write_only(insert_visits):
    ROOMS.update(today=TODAY, queries=get_queries())
    first = ROOMS.stamp()
    ROOMS.update(today=TODAY, queries=get_queries())
    assert ROOMS.stamp() == first
    ROOMS.update(today=TODAY, queries=get_queries(), recheck_days=1)
    assert ROOMS.stamp() == first  # re-checked, nothing changed: nothing written
    insert_visits([datetime(2026, 3, 9, 18, 0)], room_code="R1")  # a late row
    ROOMS.update(today=TODAY, queries=get_queries(), recheck_days=1)
    assert ROOMS.stamp() not in (None, first)


def test_garbage_in_a_day_key_is_counted_again(insert_visits):
    insert_visits([datetime(2026, 3, 2, 9, 0)], room_code="R9")
    ROOMS.update(today=TODAY, queries=get_queries())
    django_cache.set(ROOMS.day_key(date(2026, 3, 2)), {"R9": "many"}, None)
    days, ranges = ROOMS.update(today=TODAY, queries=get_queries())
    assert ranges == [(date(2026, 3, 2), date(2026, 3, 3))]
    assert days[date(2026, 3, 2)] == {"R9": 1}


# --- the cache unreachable: counted once per process, a chunk of days at a time -------------
def test_the_members_fold_made_chunk_by_chunk_equals_the_whole_fold(insert_visits):
    from visitors.breakdowns import FOLD_CHUNK_DAYS, MEMBERS

    # Members seen across several chunks, renamed late in the year, and in this month.
    for n, day in enumerate([date(2026, 1, 3), date(2026, 2, 20), date(2026, 3, 2)]):
        insert_visits(
            [datetime.combine(day, datetime.min.time()).replace(hour=9)] * (n + 1),
            member_id="A",
            member_name=f"Ani {n}",
            institution=f"F0{n}",
        )
    insert_visits([datetime(2026, 1, 31, 10, 0)], member_id="B", member_name="Budi")
    insert_visits([datetime(2026, 3, 9, 10, 0)], member_id="C", member_name="Cici")
    queries = get_queries()
    whole = MEMBERS.kept(TODAY, MEMBERS.counted(today=TODAY, queries=queries)).fold
    with visitor_queries() as seen:
        chunked = MEMBERS.counted_kept(today=TODAY, queries=queries).fold
    chunks = -(-len(MEMBERS.wanted_days(TODAY)) // FOLD_CHUNK_DAYS)
    assert chunks > 1 and len(seen) == chunks
    assert chunked == whole
    assert chunked["year"] == {"A": 6, "B": 1, "C": 1} and chunked["month"] == {"A": 3, "C": 1}
    assert chunked["latest"]["A"] == ["Ani 2", "F02", "2026-03-02"]


def test_while_redis_is_down_each_breakdown_is_counted_once_for_every_payload(insert_visits):
    import time_machine

    from tests.services import redis_unreachable
    from visitors import serving
    from visitors.endpoints import MONTHLY_TOP, TODAY_COMPARE, TODAY_HOURLY, YEARLY_TOP

    insert_visits([datetime(2026, 2, 10, 9, 0)] * 2, member_id="A", member_name="Ani")
    insert_visits([datetime(2026, 3, 10, 9, 0)], member_id="B", member_name="Budi")
    with time_machine.travel(datetime(2026, 3, 10, 14, 0, tzinfo=ZONE), tick=False):
        with redis_unreachable(), visitor_queries() as seen:
            yearly = serving.response_body(YEARLY_TOP, full=True)
            first = len([sql for sql, *_ in seen if "member_id" in sql and "GROUP BY" in sql])
            monthly = serving.response_body(MONTHLY_TOP, full=True)
            serving.response_body(TODAY_HOURLY)
            serving.response_body(TODAY_COMPARE)
        members = [sql for sql, *_ in seen if "member_id" in sql and "GROUP BY" in sql]
        hours = [sql for sql, *_ in seen if "HOUR(" in sql.upper() and "GROUP BY" in sql]
    assert first > 0 and len(members) == first  # the monthly ranking reused the yearly's count
    # The hourly payload and the comparison: one count of the hours, of the days they read
    # (HOURS.read_days): one grouped query for the heatmap's weeks, one for a year ago.
    assert len(hours) == 2
    assert [(e["member_id"], e["total"]) for e in yearly["visitors"]] == [("A", 2), ("B", 1)]
    assert [(e["member_id"], e["total"]) for e in monthly["visitors"]] == [("B", 1)]
    assert "stale" not in yearly  # counted from the database: current, not the last good


def test_while_unreachable_computes_once_for_concurrent_callers_and_keeps_it_for_a_while():
    import threading

    from visitors import cache
    from visitors.breakdowns import WhileUnreachable

    now = [0.0]
    kept = WhileUnreachable(clock=lambda: now[0])
    calls: list[int] = []
    started = threading.Event()

    def compute() -> int:
        calls.append(1)
        started.set()
        threading.Event().wait(0.2)  # the others arrive meanwhile
        return len(calls)

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(kept.get("members", TODAY, compute)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == [1] * 8 and len(calls) == 1
    now[0] = cache.MEMO_UNBOUNDED_TTL - 1
    assert kept.get("members", TODAY, compute) == 1  # still the outage's count
    assert kept.get("members", TODAY + timedelta(days=1), compute) == 2  # a new day: again
    now[0] = 2 * cache.MEMO_UNBOUNDED_TTL
    assert kept.get("members", TODAY + timedelta(days=1), compute) == 3  # expired: again
    kept.forget("members")  # the cache answered: dropped
    assert kept.get("members", TODAY + timedelta(days=1), compute) == 4
