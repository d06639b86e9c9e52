"""visitors/today.py: each today-count mode is exact after inserts, deletes, late lower ids
and a local midnight, through both DB layers on both vendors (Asia/Jakarta clock)."""

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache as django_cache
from django.db import connections

from tests.conftest import ALL_DATABASES
from visitors import keys
from visitors.today import make_counter, pending_increments, record_checkins

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

JAKARTA = ZoneInfo("Asia/Jakarta")
NOON = datetime(2026, 12, 31, 12, 0, tzinfo=JAKARTA)
RECONCILE = timedelta(seconds=60)
MODES = ["direct", "delta", "incremental"]


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def _sql(queries, sql: str, params: list) -> None:
    with connections[queries.using].cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


def test_exact_after_inserts(layer, mode):
    queries, insert = layer
    insert([naive(NOON) - timedelta(hours=h) for h in range(3)])
    insert([naive(NOON) - timedelta(days=1)])  # yesterday
    counter = make_counter(mode, queries=queries, reconcile_interval=RECONCILE)
    assert counter.refresh(now=NOON) == 3

    insert([naive(NOON) + timedelta(minutes=1)] * 2)
    if mode == "incremental":
        record_checkins(2)  # the write-path hook, as the gate system would call it
    assert counter.refresh(now=NOON + timedelta(seconds=5)) == 5


def test_exact_after_deletes_within_one_reconcile(layer, mode):
    queries, insert = layer
    ids = insert([naive(NOON) - timedelta(minutes=m) for m in range(4)])
    counter = make_counter(mode, queries=queries, reconcile_interval=RECONCILE)
    assert counter.refresh(now=NOON) == 4
    _sql(queries, "DELETE FROM visitor_count WHERE visitor_id = %s", [ids[1]])
    assert counter.refresh(now=NOON + RECONCILE) == 3


def test_late_row_with_a_lower_id_is_healed_by_the_reconcile(layer, mode):
    queries, insert = layer
    ids = insert([naive(NOON) - timedelta(minutes=m) for m in range(3)])
    _sql(queries, "DELETE FROM visitor_count WHERE visitor_id = %s", [ids[1]])
    counter = make_counter(mode, queries=queries, reconcile_interval=RECONCILE)
    assert counter.refresh(now=NOON) == 2
    # A transaction that took id ids[1] commits late: its id is below the max already seen.
    _sql(
        queries,
        "INSERT INTO visitor_count (visitor_id, member_id, checkin_date) VALUES (%s, %s, %s)",
        [ids[1], "LATE", naive(NOON)],
    )
    if mode == "incremental":
        record_checkins(1)
    before = counter.refresh(now=NOON + timedelta(seconds=5))
    if mode == "delta":
        assert before == 2  # invisible to the id-based delta until the reconcile...
    else:
        assert before == 3
    assert counter.refresh(now=NOON + RECONCILE) == 3  # ...which heals it


def test_midnight_crossing_rebaselines_on_the_local_day(layer, mode):
    queries, insert = layer
    before_midnight = datetime(2026, 12, 31, 23, 59, 58, tzinfo=JAKARTA)
    insert([datetime(2026, 12, 31, 10, 0), datetime(2026, 12, 31, 23, 59, 57)])
    counter = make_counter(mode, queries=queries, reconcile_interval=RECONCILE)
    assert counter.refresh(now=before_midnight) == 2
    insert([datetime(2027, 1, 1, 0, 0, 1)])
    if mode == "incremental":
        record_checkins(1)
    # 00:00:02 in Jakarta is 17:00:02 UTC on 31 December: the local day decides.
    assert counter.refresh(now=before_midnight + timedelta(seconds=4)) == 1


def test_incremental_reconcile_keeps_racing_increments_and_ends_exact(layer):
    queries, insert = layer
    insert([naive(NOON)] * 2)
    counter = make_counter("incremental", queries=queries, reconcile_interval=RECONCILE)
    assert counter.refresh(now=NOON) == 2
    record_checkins(3)  # three increments whose rows are not written yet
    assert counter.refresh(now=NOON + timedelta(seconds=1)) == 5
    insert([naive(NOON)] * 3)  # the rows land
    assert counter.refresh(now=NOON + RECONCILE) == 5  # the reconcile subtracts what it saw
    assert pending_increments() == 0
    assert django_cache.get(keys.INCREMENTAL_BASE) == 5


def test_outside_writer_uses_the_documented_redis_command(layer):
    queries, insert = layer
    counter = make_counter("incremental", queries=queries, reconcile_interval=RECONCILE)
    assert counter.refresh(now=NOON) == 0
    redis = django_cache.client.get_client()
    insert([naive(NOON)])
    redis.incrby("visitors:today:incremental", 1)  # exactly what the README tells writers
    assert counter.refresh(now=NOON + timedelta(seconds=1)) == 1


def test_post_save_hook_records_rows_created_through_django(
    settings, db, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from visitors.models import Visitor

    settings.VISITORS = replace(settings.VISITORS, TODAY_COUNT_MODE="incremental")
    with django_capture_on_commit_callbacks(using="visitors") as callbacks:
        Visitor.objects.create(member_id="ORM", checkin_date=timezone.localtime())
        Visitor.objects.create(
            member_id="OLD", checkin_date=timezone.localtime() - timedelta(days=2)
        )
        assert pending_increments() == 0  # not before the commit
    for callback in callbacks:
        callback()
    assert pending_increments() == 1


def test_garbage_in_the_increment_key_counts_as_zero(layer):
    queries, insert = layer
    insert([naive(NOON)])
    django_cache.client.get_client().set("visitors:today:incremental", b"not-a-number")
    assert pending_increments() == 0
    counter = make_counter("incremental", queries=queries, reconcile_interval=RECONCILE)
    assert counter.refresh(now=NOON) == 1
    record_checkins(1)  # the reconcile reset the garbage, so writers work again
    assert counter.refresh(now=NOON + timedelta(seconds=1)) == 2


def test_record_checkins_rejects_negative_counts():
    with pytest.raises(ValueError):
        record_checkins(-1)


def test_reconcile_period_counts_real_time_across_a_dst_fall_back(layer):
    """Europe/Berlin, 25 Oct 2026: 02:00-03:00 happens twice. The reconcile stays on time."""
    queries, insert = layer
    berlin = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=berlin)  # 00:30 UTC
    repeat = datetime(2026, 10, 25, 2, 0, fold=1, tzinfo=berlin)  # 01:00 UTC, 30 min later
    insert([datetime(2026, 10, 25, 1, 0)])
    counter = make_counter("delta", queries=queries, reconcile_interval=timedelta(minutes=10))
    assert counter.refresh(now=first) == 1
    _sql(queries, "DELETE FROM visitor_count", [])
    # Wall clock went back 30 minutes, real time forward 30: the reconcile is due.
    assert counter.refresh(now=repeat) == 0
