"""Every counting question, through both DB layers, on MariaDB and SQLite."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import pytest
from django.db import connections
from django.test import override_settings

from tests.conftest import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

DAY = date(2026, 3, 31)


def test_count_is_half_open_on_local_midnights(layer):
    queries, insert = layer
    insert(
        [
            datetime(2026, 3, 30, 23, 59, 59),  # yesterday
            datetime(2026, 3, 31, 0, 0, 0),  # first second of the day counts
            datetime(2026, 3, 31, 12, 30),
            datetime(2026, 3, 31, 23, 59, 59, 999999),
            datetime(2026, 4, 1, 0, 0, 0),  # tomorrow: future, does not count
            datetime(2027, 1, 1, 8, 0),
        ]
    )
    assert queries.count(start=DAY, end=date(2026, 4, 1)) == 3


def test_count_empty_range_is_zero(layer):
    queries, _ = layer
    assert queries.count(start=DAY, end=date(2026, 4, 1)) == 0


def test_count_after_id_counts_only_newer_rows_of_the_day(layer):
    queries, insert = layer
    first = insert([datetime(2026, 3, 31, 9, 0), datetime(2026, 3, 31, 9, 5)])
    insert([datetime(2026, 3, 30, 9, 0)])  # newer id, other day
    newer = insert([datetime(2026, 3, 31, 10, 0)])
    assert queries.count_after_id(start=DAY, end=date(2026, 4, 1), after_id=0) == (3, newer[0])
    assert queries.count_after_id(start=DAY, end=date(2026, 4, 1), after_id=first[1]) == (
        1,
        newer[0],
    )
    assert queries.count_after_id(start=DAY, end=date(2026, 4, 1), after_id=newer[0]) == (
        0,
        newer[0],
    )


def test_daily_counts_group_by_local_day_and_omit_empty_days(layer):
    queries, insert = layer
    insert(
        [
            datetime(2025, 12, 31, 23, 59),
            datetime(2026, 1, 1, 0, 0),
            datetime(2026, 1, 1, 18, 0),
            datetime(2026, 1, 3, 7, 0),
            datetime(2026, 1, 4, 0, 0),  # outside [start, end)
        ]
    )
    assert queries.daily_counts(start=date(2025, 12, 31), end=date(2026, 1, 4)) == {
        date(2025, 12, 31): 1,
        date(2026, 1, 1): 2,
        date(2026, 1, 3): 1,
    }


def test_day_prints_are_rows_and_the_sum_of_their_ids_per_local_day(layer):
    queries, insert = layer
    a, b = insert([datetime(2026, 1, 1, 0, 0), datetime(2026, 1, 1, 23, 59)])
    (c,) = insert([datetime(2026, 1, 3, 7, 0)])
    insert([datetime(2026, 1, 4, 0, 0), datetime(2025, 12, 31, 23, 59, 59)])  # outside
    window = {"start": date(2026, 1, 1), "end": date(2026, 1, 4)}
    assert queries.day_prints(**window) == {date(2026, 1, 1): (2, a + b), date(2026, 1, 3): (1, c)}
    (late,) = insert([datetime(2026, 1, 1, 12, 0)])  # a late row changes its day's print
    assert queries.day_prints(**window)[date(2026, 1, 1)] == (3, a + b + late)


def test_raw_and_orm_agree(layer):
    """A cross-check on a spread of rows: each layer against a Python count of the same rows."""
    queries, insert = layer
    moments = [datetime(2026, 2, 26, 22, 17) + timedelta(minutes=53 * i) for i in range(90)]
    insert(moments)
    expected: dict[date, int] = {}
    for m in moments:
        expected[m.date()] = expected.get(m.date(), 0) + 1
    assert queries.daily_counts(start=date(2026, 2, 26), end=date(2026, 3, 3)) == expected


def test_ids_past_two_to_the_31st(layer):
    """visitor_id is INT UNSIGNED: ids above 2**31 - 1 are real and must be counted."""
    queries, _ = layer
    with connections[queries.using].cursor() as cursor:
        for visitor_id in (3_000_000_000, 3_000_000_001):
            cursor.execute(
                "INSERT INTO visitor_count (visitor_id, checkin_date) VALUES (%s, %s)",
                [visitor_id, datetime(2026, 3, 31, 9, 0)],
            )
    end = date(2026, 4, 1)
    assert queries.count_after_id(start=DAY, end=end, after_id=0) == (2, 3_000_000_001)
    assert queries.count_after_id(start=DAY, end=end, after_id=3_000_000_000) == (
        1,
        3_000_000_001,
    )


def test_rows_after_returns_the_new_rows_of_the_range_in_id_order(layer):
    queries, insert = layer
    first = insert(
        [datetime(2026, 3, 31, 9, 0, 5)], member_id="A", member_name="Ana", room_code="R1"
    )
    insert([datetime(2026, 3, 30, 23, 59, 59)])  # yesterday
    second = insert(
        [datetime(2026, 3, 31, 23, 59, 59)], member_id=None, member_name=None, institution=None,
        room_code=None,
    )  # fmt: skip
    rows = queries.rows_after(start=DAY, end=date(2026, 4, 1), after_id=0)
    assert [row.visitor_id for row in rows] == [first[0], second[0]]
    assert rows[0].member_id == "A" and rows[0].member_name == "Ana" and rows[0].room_code == "R1"
    assert rows[0].checkin_date == datetime(2026, 3, 31, 9, 0, 5)
    assert rows[1].member_id is None and rows[1].institution is None
    assert queries.rows_after(start=DAY, end=date(2026, 4, 1), after_id=first[0]) == rows[1:]


@pytest.mark.parametrize("column", ["institution", "room_code"])
def test_counts_by_a_column_per_day_with_null_and_empty_as_none(layer, column):
    queries, insert = layer
    insert([datetime(2026, 3, 30, 8, 0)] * 2, **{column: "X"})
    insert([datetime(2026, 3, 31, 8, 0)], **{column: "X"})
    insert([datetime(2026, 3, 31, 9, 0)], **{column: "Y"})
    insert([datetime(2026, 3, 31, 10, 0)], **{column: None})
    insert([datetime(2026, 3, 31, 11, 0)], **{column: ""})
    insert([datetime(2026, 4, 1, 0, 0)], **{column: "X"})  # outside [start, end)
    assert queries.counts_by(column=column, start=date(2026, 3, 30), end=date(2026, 4, 1)) == {
        date(2026, 3, 30): {"X": 2},
        date(2026, 3, 31): {"X": 1, "Y": 1, None: 2},
    }


def test_hourly_counts_use_the_wall_clock_hour(layer):
    queries, insert = layer
    insert(
        [
            datetime(2026, 3, 31, 0, 0, 0),
            datetime(2026, 3, 31, 0, 59, 59),
            datetime(2026, 3, 31, 13, 30),
            datetime(2026, 3, 31, 23, 59, 59),
            datetime(2026, 4, 1, 0, 0),  # outside
        ]
    )
    assert queries.hourly_counts(start=DAY, end=date(2026, 4, 1)) == {DAY: {0: 2, 13: 1, 23: 1}}


@contextmanager
def library_zone(name: str, alias: str) -> Iterator[None]:
    """``TIME_ZONE=name`` as a process started with it has it: the setting, and the zone of
    the visitor database (settings.py gives it the same one)."""
    connection = connections[alias]
    kept = connection.settings_dict["TIME_ZONE"]
    connection.settings_dict["TIME_ZONE"] = name
    try:
        with override_settings(TIME_ZONE=name):  # drops the connection's cached zone
            assert connection.timezone_name == name
            yield
    finally:
        connection.settings_dict["TIME_ZONE"] = kept
        for cached in ("timezone", "timezone_name"):
            connection.__dict__.pop(cached, None)


# New York springs forward at 02:00 on 8 March 2026 (no 02:xx, 23 hours) and falls back at
# 02:00 on 1 November 2026 (01:xx twice, 25 hours). checkin_date holds the wall clock, so
# both passes of 01:10 are stored alike and both count in hour 1.
DST_ROWS = {
    date(2026, 3, 8): (
        [
            datetime(2026, 3, 7, 23, 59, 59),  # the day before
            datetime(2026, 3, 8, 0, 0),
            datetime(2026, 3, 8, 1, 0),
            datetime(2026, 3, 8, 1, 59, 59),  # then the clock jumps to 03:00
            datetime(2026, 3, 8, 3, 0),
            datetime(2026, 3, 8, 3, 30),
            datetime(2026, 3, 8, 23, 59, 59),
            datetime(2026, 3, 9, 0, 0),  # the day after
        ],
        {0: 1, 1: 2, 3: 2, 23: 1},
    ),
    date(2026, 11, 1): (
        [
            datetime(2026, 10, 31, 23, 59, 59),  # the day before
            datetime(2026, 11, 1, 0, 59, 59),
            datetime(2026, 11, 1, 1, 10),  # the first 01:10 (EDT)
            datetime(2026, 11, 1, 1, 40),
            datetime(2026, 11, 1, 1, 10),  # the second 01:10 (EST), an hour later
            datetime(2026, 11, 1, 1, 59, 59),
            datetime(2026, 11, 1, 2, 0),
            datetime(2026, 11, 1, 23, 59, 59),
            datetime(2026, 11, 2, 0, 0),  # the day after
        ],
        {0: 1, 1: 4, 2: 1, 23: 1},
    ),
}


@pytest.mark.parametrize("day", DST_ROWS, ids=["spring-forward", "fall-back"])
def test_hourly_counts_on_dst_days_are_wall_clock_hours(layer, day):
    queries, insert = layer
    rows, expected = DST_ROWS[day]
    insert(rows)
    with library_zone("America/New_York", queries.using):
        counts = queries.hourly_counts(start=day, end=day + timedelta(days=1))
    assert counts == {day: expected}


@pytest.mark.parametrize(
    ("day", "hour", "expected"),
    [
        (date(2026, 3, 8), 1, {0: 1, 59: 1}),  # [01:00, 02:00): not 03:00, the next instant
        (date(2026, 3, 8), 2, {}),  # the hour that does not exist
        (date(2026, 3, 8), 3, {0: 1, 30: 1}),
        (date(2026, 11, 1), 1, {10: 2, 40: 1, 59: 1}),  # both passes of 01:xx
        (date(2026, 11, 1), 2, {0: 1}),
    ],
    ids=["spring-1", "spring-2", "spring-3", "fall-1", "fall-2"],
)
def test_minute_counts_on_dst_days_are_wall_clock_minutes(layer, day, hour, expected):
    queries, insert = layer
    insert(DST_ROWS[day][0])
    start = datetime(day.year, day.month, day.day, hour)  # as hourly.minutes_of asks
    with library_zone("America/New_York", queries.using):
        counts = queries.minute_counts(start=start, end=start + timedelta(hours=1))
    assert counts == expected


def test_member_days_count_each_member_with_the_name_of_their_last_row(layer):
    queries, insert = layer
    insert([datetime(2026, 3, 30, 8, 0)], member_id="A1", member_name="Ani", institution="ENG")
    insert([datetime(2026, 3, 31, 9, 0)], member_id="A1", member_name="Ani", institution="ENG")
    insert([datetime(2026, 3, 31, 7, 0)], member_id="A1", member_name="Ani S.", institution="")
    insert([datetime(2026, 3, 31, 8, 0)] * 2, member_id="B2", member_name="", institution="LAW")
    insert([datetime(2026, 3, 31, 8, 0)], member_id=None, member_name="Guest")  # not ranked
    insert([datetime(2026, 3, 31, 8, 0)], member_id="", member_name="Guest")  # not ranked
    insert([datetime(2026, 4, 1, 0, 0)], member_id="A1")  # outside [start, end)
    # The last row is the highest visitor_id (inserted last), whatever its time.
    assert queries.member_days(start=date(2026, 3, 30), end=date(2026, 4, 1)) == {
        date(2026, 3, 30): {"A1": (1, "Ani", "ENG")},
        date(2026, 3, 31): {"A1": (2, "Ani S.", None), "B2": (2, None, "LAW")},
    }


def test_minute_counts_of_one_hour_are_half_open(layer):
    queries, insert = layer
    insert(
        [
            datetime(2026, 3, 31, 13, 59, 59),  # outside
            datetime(2026, 3, 31, 14, 0, 0),
            datetime(2026, 3, 31, 14, 0, 59),
            datetime(2026, 3, 31, 14, 29, 59),
            datetime(2026, 3, 31, 14, 59, 59),
            datetime(2026, 3, 31, 15, 0, 0),  # outside
        ]
    )
    start = datetime(2026, 3, 31, 14)
    assert queries.minute_counts(start=start, end=datetime(2026, 3, 31, 15)) == {
        0: 2,
        29: 1,
        59: 1,
    }


def test_first_day_is_the_oldest_check_in_or_none(layer):
    queries, insert = layer
    assert queries.first_day() is None
    insert([datetime(2026, 3, 31, 0, 0, 1), datetime(2019, 12, 31, 23, 59, 59)])
    assert queries.first_day() == date(2019, 12, 31)
