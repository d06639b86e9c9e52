"""visitors/breakdowns.py: closed days broken down by hour, room, institution; counted once."""

from datetime import date, datetime, timedelta

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
