"""The synthetic data loader: visitors/seeding.py and the seed_visitors command."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from tests.conftest import ALL_DATABASES
from visitors import seeding
from visitors.legacy_table import drop_table, ensure_table, table_exists
from visitors.models import Faculty

JAKARTA = ZoneInfo("Asia/Jakarta")
# A Tuesday in term time, mid-morning, library-local.
NOW = datetime(2026, 3, 31, 10, 15, 30)


def _all_rows(chunks) -> list[seeding.Row]:
    return [row for chunk in chunks for row in chunk]


def _table_rows(alias: str) -> list[tuple]:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT visitor_id, member_id, member_name, institution, room_code, checkin_date "
            "FROM visitor_count ORDER BY visitor_id"
        )
        return list(cursor.fetchall())


def _empty(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")


@pytest.fixture
def empty_tables(db):
    for alias in ("visitors", "visitors_sqlite"):
        _empty(alias)
    yield
    for alias in ("visitors", "visitors_sqlite"):
        _empty(alias)


# --- generation (no database) ----------------------------------------------------------
def test_generates_exactly_the_rows_asked_for_in_time_order_never_after_now():
    rows = _all_rows(seeding.generate_rows(rows=20_000, days=60, seed=3, now=NOW))
    assert len(rows) == 20_000
    moments = [datetime.fromisoformat(row[4]) for row in rows]
    assert moments == sorted(moments)
    assert moments[-1] <= NOW
    assert moments[0].date() >= date(2026, 1, 31)
    assert any(moment.date() == NOW.date() for moment in moments)


def test_same_seed_same_rows_other_seed_other_rows():
    def make(seed: int) -> list[seeding.Row]:
        return _all_rows(seeding.generate_rows(rows=2_000, days=30, seed=seed, now=NOW))

    assert make(7) == make(7)
    assert make(7) != make(8)


def test_rows_look_like_a_library():
    rows = _all_rows(seeding.generate_rows(rows=100_000, days=364, seed=1, now=NOW))
    moments = [datetime.fromisoformat(row[4]) for row in rows]
    weekday = Counter(moment.weekday() for moment in moments)
    assert weekday[1] > 2 * weekday[5] > 2 * 0.9 * weekday[6]  # Tuesday > Saturday > Sunday
    by_month = Counter(moment.month for moment in moments)
    assert by_month[3] > 1.8 * by_month[7]  # term vs the July holiday
    hours = Counter(moment.hour for moment in moments)
    assert hours[10] > 5 * hours[8 - 1] and hours[10] > 10 * hours[2]  # peaks, quiet nights
    night = [row for row, moment in zip(rows, moments, strict=True) if moment.hour < 6]
    assert night and {row[3] for row in night} == {seeding.NIGHT_ROOM}
    assert sum(row[0] is None for row in rows) > 500  # guests without a card
    assert sum(row[2] is None and row[0] is not None for row in rows) > 100
    assert sum(row[3] is None for row in rows) > 50
    institutions = {row[2] for row in rows if row[2]}
    assert len(institutions) == len(seeding.INSTITUTIONS)
    members = Counter(row[0] for row in rows if row[0])
    assert members.most_common(1)[0][1] > 20  # regulars come back


def test_nothing_before_opening_except_the_night_room_today():
    early = datetime(2026, 3, 31, 6, 0, 0)
    rows = _all_rows(seeding.generate_rows(rows=50_000, days=10, seed=2, now=early))
    today = [row for row in rows if row[4].startswith("2026-03-31")]
    assert today, "the 24-hour room had visitors overnight"
    assert all(row[4] <= "2026-03-31 06:00:00" for row in today)
    assert {row[3] for row in today} == {seeding.NIGHT_ROOM}


def test_min_today_puts_rows_on_today_even_just_after_midnight():
    just_after_midnight = datetime(2026, 3, 31, 0, 20, 0)
    rows = _all_rows(
        seeding.generate_rows(rows=2_000, days=400, seed=2, now=just_after_midnight, min_today=25)
    )
    today = [row for row in rows if row[4].startswith("2026-03-31")]
    assert len(rows) == 2_000
    assert len(today) == 25
    assert all(row[4] <= "2026-03-31 00:20:00" for row in today)
    plain = _all_rows(seeding.generate_rows(rows=2_000, days=400, seed=2, now=just_after_midnight))
    assert sum(row[4].startswith("2026-03-31") for row in plain) < 25


def test_demo_days_cover_five_calendar_years():
    assert seeding.demo_days(date(2026, 3, 31)) == (date(2026, 3, 31) - date(2022, 1, 1)).days + 1


# --- loading ---------------------------------------------------------------------------
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
@pytest.mark.parametrize("alias", ["visitors", "visitors_sqlite"])
def test_loads_rows_with_ids_in_time_order(alias, empty_tables):
    result = seeding.seed_visitors(rows=5_000, days=20, seed=1, now=NOW, using=alias)
    assert result.rows == 5_000
    rows = _table_rows(alias)
    assert len(rows) == 5_000
    moments = [row[5] for row in rows]
    assert moments == sorted(moments)
    assert max(moments) <= NOW
    assert result.last == max(moments)


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
@pytest.mark.parametrize("alias", ["visitors", "visitors_sqlite"])
def test_refuses_a_table_with_rows_unless_told(alias, empty_tables):
    seeding.seed_visitors(rows=100, days=5, seed=1, now=NOW, using=alias)
    with pytest.raises(seeding.TableNotEmpty):
        seeding.seed_visitors(rows=100, days=5, seed=2, now=NOW, using=alias)
    assert len(_table_rows(alias)) == 100

    seeding.seed_visitors(rows=50, days=5, seed=2, now=NOW, using=alias, existing="append")
    assert len(_table_rows(alias)) == 150

    seeding.seed_visitors(rows=30, days=5, seed=3, now=NOW, using=alias, existing="truncate")
    rows = _table_rows(alias)
    assert len(rows) == 30
    assert rows[0][0] == 1  # ids start again


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_creates_the_table_when_absent(empty_tables):
    drop_table("visitors_sqlite")
    try:
        assert not table_exists("visitors_sqlite")
        seeding.seed_visitors(rows=10, days=2, seed=1, now=NOW, using="visitors_sqlite")
        assert len(_table_rows("visitors_sqlite")) == 10
    finally:
        ensure_table("visitors_sqlite")


# --- the command -----------------------------------------------------------------------
def _command(*args: str) -> str:
    out = StringIO()
    call_command("seed_visitors", *args, "--no-progress", stdout=out)
    return out.getvalue()


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_command_loads_refuses_and_truncates(empty_tables):
    with time_machine.travel(NOW.replace(tzinfo=JAKARTA), tick=False):
        output = _command("--rows", "2000", "--days", "10", "--seed", "4")
        assert "Loaded 2000 rows into the table visitor_count of database" in output
        db = connections["visitors"].settings_dict
        assert f"database {db['NAME']!r} on {db['HOST']}:{db['PORT']}" in output
        assert "'visitors'" not in output  # the internal alias
        with pytest.raises(CommandError, match="--append"):
            _command("--rows", "10")
        assert len(_table_rows("visitors")) == 2000
        _command("--rows", "10", "--append")
        assert len(_table_rows("visitors")) == 2010
        _command("--rows", "10", "--truncate")
        rows = _table_rows("visitors")
    assert len(rows) == 10
    assert max(row[5] for row in rows) <= NOW


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_command_rejects_bad_options(empty_tables):
    with pytest.raises(CommandError):
        _command("--rows", "-1")
    with pytest.raises(CommandError):
        _command("--days", "0")
    with pytest.raises(CommandError):
        _command("--database", "nope")
    assert _table_rows("visitors") == []


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_demo_does_nothing_on_mysql(empty_tables):
    output = _command("--demo")
    assert "skipped" in output and "mysql" in output
    assert _table_rows("visitors") == []


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_demo_loads_five_years_into_an_empty_sqlite_table_once(empty_tables):
    with time_machine.travel(NOW.replace(tzinfo=JAKARTA), tick=False):
        _command("--demo", "--database", "visitors_sqlite")
        rows = _table_rows("visitors_sqlite")
        assert len(rows) == seeding.DEMO_ROWS
        assert {row[5].year for row in rows} == {2022, 2023, 2024, 2025, 2026}
        assert sum(row[5].date() == NOW.date() for row in rows) >= seeding.DEMO_MIN_TODAY
        assert max(row[5] for row in rows) <= NOW
        # the demo's faculties by name, so its rankings show a ``fakultas``
        institutions = {row[3] for row in rows} - {None}  # some rows have no institution
        named = dict(Faculty.objects.values_list("code", "name"))
        assert institutions <= set(named) and named["Faculty of Engineering"] == "Fakultas Teknik"

        Faculty.objects.all().delete()  # a checkout whose demo came before the names
        assert "skipped" in _command("--demo", "--database", "visitors_sqlite")
        assert len(_table_rows("visitors_sqlite")) == seeding.DEMO_ROWS
        assert Faculty.objects.get(code="Faculty of Engineering").name == "Fakultas Teknik"
