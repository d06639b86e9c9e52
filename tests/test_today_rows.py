"""visitors/today_rows.py: today's rows as the loop keeps them, a few new rows per cycle."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connections

from tests.conftest import ALL_DATABASES
from tests.test_breakdowns import visitor_queries
from visitors.today_rows import TodayRows, kept_tally, tally

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 12, 31, 23, 59, 0, tzinfo=JAKARTA)  # the last minute of the year


def _rows(layer):
    queries, insert = layer
    return TodayRows(queries, timedelta(seconds=60)), insert


def test_each_refresh_asks_only_for_the_rows_after_the_last_id(layer):
    rows, insert = _rows(layer)
    insert([NOW.replace(tzinfo=None) - timedelta(hours=2)], room_code="R1")
    assert rows.refresh(now=NOW) is True and len(rows.rows) == 1
    new = insert([NOW.replace(tzinfo=None) - timedelta(minutes=1)], room_code="R2")
    with visitor_queries(layer[0].using) as seen:
        assert rows.refresh(now=NOW + timedelta(seconds=5)) is True
    assert len(seen) == 1 and seen[0][1][-1] == new[0] - 1
    assert [row.room_code for row in rows.rows] == ["R1", "R2"]
    assert rows.refresh(now=NOW + timedelta(seconds=10)) is False
    assert tally(rows.rows, lambda row: row.checkin_date.hour) == {21: 1, 23: 1}


def test_a_reconcile_drops_deleted_rows_and_finds_late_lower_ids(layer):
    rows, insert = _rows(layer)
    queries, _ = layer
    now = NOW - timedelta(minutes=5)  # the reconcile below stays on 31 December
    first, second = insert([now.replace(tzinfo=None) - timedelta(minutes=m) for m in (30, 20)])
    rows.refresh(now=now)
    with connections[queries.using].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count WHERE visitor_id = %s", [first])
    rows.refresh(now=now + timedelta(seconds=30))
    assert len(rows.rows) == 2  # between reconciles, only new ids are asked for
    assert rows.refresh(now=now + timedelta(seconds=61)) is True
    assert [row.visitor_id for row in rows.rows] == [second]


def test_local_midnight_starts_a_new_day_of_rows(layer):
    rows, insert = _rows(layer)
    insert([NOW.replace(tzinfo=None) - timedelta(minutes=5)])
    rows.refresh(now=NOW)
    assert len(rows.rows) == 1
    after_midnight = NOW + timedelta(minutes=1, seconds=1)  # 00:00:01 on 1 January, Jakarta
    assert after_midnight.astimezone(ZoneInfo("UTC")).day == 31  # still 31 December in UTC
    assert rows.refresh(now=after_midnight) is True
    assert rows.rows == ()


def test_a_tally_of_appended_rows_counts_only_the_new_ones(layer):
    rows, insert = _rows(layer)
    insert([NOW.replace(tzinfo=None) - timedelta(hours=h) for h in (1, 2, 2)], room_code="R1")
    rows.refresh(now=NOW)
    asked: list[int] = []

    def hour(row):
        asked.append(row.visitor_id)
        return row.checkin_date.hour

    assert kept_tally(rows.rows, hour, keep=True) == {22: 1, 21: 2}
    assert len(asked) == 3
    assert kept_tally(rows.rows, hour, keep=True) == {22: 1, 21: 2} and len(asked) == 3  # same rows
    new = insert([NOW.replace(tzinfo=None) - timedelta(minutes=1)])
    rows.refresh(now=NOW + timedelta(seconds=5))
    assert kept_tally(rows.rows, hour, keep=True) == {22: 1, 21: 2, 23: 1}
    assert asked[3:] == new  # only the new row was looked at
    assert kept_tally(rows.rows, hour, keep=True) == tally(
        rows.rows, lambda row: row.checkin_date.hour
    )
    assert rows.rows.before is not None and getattr(rows.rows.before, "before", None) is None
