"""visitors/rollup.py: closed days counted once; holes filled exactly, one query per range."""

from datetime import date, datetime, timedelta

import pytest
from django.core.cache import cache as django_cache

from tests.conftest import ALL_DATABASES
from tests.statements import visitor_queries
from visitors import keys, rollup
from visitors.queries import get_queries

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

TODAY = date(2026, 3, 10)


def test_empty_rollup_is_filled_in_one_grouped_query(insert_visits):
    insert_visits([datetime(2022, 1, 1, 8), datetime(2026, 3, 9, 20), datetime(2026, 3, 10, 9)])
    with visitor_queries() as seen:
        days, ranges = rollup.update(today=TODAY, queries=get_queries())
    assert len(seen) == 1 and "GROUP BY" in seen[0][0].upper()
    assert ranges == [(date(2022, 1, 1), TODAY)]
    assert days[date(2022, 1, 1)] == 1
    assert days[date(2026, 3, 9)] == 1
    assert TODAY not in days  # today is live, never rolled up
    assert len(days) == (TODAY - date(2022, 1, 1)).days
    assert days[date(2024, 2, 29)] == 0  # a zero is stored, so the day is not re-queried


def test_complete_rollup_needs_no_query(insert_visits):
    rollup.update(today=TODAY)
    with visitor_queries() as seen:
        rollup.update(today=TODAY)
        rollup.closed_days(today=TODAY)
    assert seen == []


def test_holes_are_filled_exactly_one_query_per_contiguous_range(insert_visits):
    insert_visits([datetime(2025, 5, 2, 10), datetime(2025, 5, 20, 10), datetime(2025, 5, 21, 11)])
    days, _ = rollup.update(today=TODAY)
    for hole in (date(2025, 5, 2), date(2025, 5, 3), date(2025, 5, 20), date(2025, 5, 21)):
        days.pop(hole)
    rollup.save(days)
    with visitor_queries() as seen:
        filled, ranges = rollup.update(today=TODAY)
    assert ranges == [(date(2025, 5, 2), date(2025, 5, 4)), (date(2025, 5, 20), date(2025, 5, 22))]
    assert len(seen) == 2
    assert filled[date(2025, 5, 2)] == 1 and filled[date(2025, 5, 21)] == 1


def test_the_next_day_closes_only_yesterday(insert_visits):
    rollup.update(today=TODAY)
    insert_visits([datetime(2026, 3, 10, 18)])
    with visitor_queries() as seen:
        days, ranges = rollup.update(today=TODAY + timedelta(days=1))
    assert ranges == [(TODAY, TODAY + timedelta(days=1))]
    assert len(seen) == 1
    assert days[TODAY] == 1


def test_recheck_window_counts_late_rows(insert_visits):
    rollup.update(today=TODAY)
    insert_visits([datetime(2026, 3, 8, 12), datetime(2026, 3, 1, 12)])  # late arrivals
    days, ranges = rollup.update(today=TODAY, recheck_days=3)
    assert ranges == [(date(2026, 3, 7), TODAY)]
    assert days[date(2026, 3, 8)] == 1
    assert days[date(2026, 3, 1)] == 0  # outside the window: kept as counted


def test_new_year_drops_days_older_than_the_oldest_year_shown(insert_visits):
    rollup.update(today=date(2026, 12, 31))
    days, _ = rollup.update(today=date(2027, 1, 1))
    assert min(days) == date(2023, 1, 1)
    assert max(days) == date(2026, 12, 31)


@pytest.mark.parametrize("garbage", [b"garbage", b'{"2026-01-01": -4}', b'["not", "a", "dict"]'])
def test_corrupt_rollup_is_rebuilt(insert_visits, garbage):
    insert_visits([datetime(2026, 3, 9, 9)])
    django_cache.client.get_client().set(keys.ROLLUP_DAILY, garbage)
    days = rollup.closed_days(today=TODAY)
    assert days[date(2026, 3, 9)] == 1
    assert rollup.is_valid(django_cache.get(keys.ROLLUP_DAILY))


def test_missing_ranges():
    wanted = [date(2026, 1, d) for d in range(1, 8)]
    have = {date(2026, 1, 2), date(2026, 1, 3), date(2026, 1, 6)}
    assert rollup.missing_ranges(have, wanted) == [
        (date(2026, 1, 1), date(2026, 1, 2)),
        (date(2026, 1, 4), date(2026, 1, 6)),
        (date(2026, 1, 7), date(2026, 1, 8)),
    ]


def test_the_recheck_takes_its_counts_from_the_day_prints_already_read(insert_visits):
    from visitors.day_prints import DayPrints

    insert_visits([datetime(2026, 3, 8, 9, 0), datetime(2026, 3, 9, 23, 59)])
    rollup.update(today=TODAY, queries=get_queries())
    insert_visits([datetime(2026, 3, 9, 10, 0)])  # late
    prints = DayPrints(get_queries(), TODAY, recheck_days=3)
    prints.since(TODAY - timedelta(days=3))  # read (by the breakdowns, say)
    with visitor_queries() as seen:
        days, ranges = rollup.update(
            today=TODAY, recheck_days=3, queries=get_queries(), prints=prints
        )
    assert seen == [] and ranges == [(date(2026, 3, 7), TODAY)]
    assert [days[date(2026, 3, d)] for d in (7, 8, 9)] == [0, 1, 2]
    assert get_queries().daily_counts(start=date(2026, 3, 7), end=TODAY) == {
        date(2026, 3, 8): 1,
        date(2026, 3, 9): 2,
    }


def test_a_recheck_that_finds_the_same_counts_writes_nothing(insert_visits):
    insert_visits([datetime(2026, 3, 9, 9, 0)])
    rollup.update(today=TODAY, queries=get_queries())
    stamp = rollup.stamp()
    _, ranges = rollup.update(today=TODAY, recheck_days=3, queries=get_queries())
    assert ranges == [(date(2026, 3, 7), TODAY)] and rollup.stamp() == stamp
    insert_visits([datetime(2026, 3, 8, 9, 0)])  # late
    days, _ = rollup.update(today=TODAY, recheck_days=3, queries=get_queries())
    assert days[date(2026, 3, 8)] == 1 and rollup.stamp() != stamp
