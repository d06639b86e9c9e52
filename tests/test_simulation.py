"""simulate_checkins: the live demo's check-ins, never into a real MySQL by accident."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache as django_cache
from django.db import connections

from tests.conftest import ALL_DATABASES
from tests.processes import manage, services_env
from visitors import keys, simulation

JAKARTA = ZoneInfo("Asia/Jakarta")
# 23:59:58 local: the rows still belong to today, in the library's calendar.
NOW = datetime(2026, 12, 31, 23, 59, 58, tzinfo=JAKARTA)
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0700 INFO \[visitors\.simulation\] ")


def test_it_refuses_a_mysql_database_unless_told_it_is_a_test(tmp_path):
    env = services_env(tmp_path)
    refused = manage("simulate_checkins", "--count", "1", env=env)
    assert refused.returncode != 0
    assert "not the embedded default" in refused.stderr and "--database-is-a-test" in refused.stderr
    assert manage("simulate_checkins", "--check", env=env).returncode == 3


def test_it_runs_on_the_embedded_default(tmp_path):
    env = services_env(tmp_path)
    for name in ("DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "REDIS_URL"):
        env.pop(name)
    assert manage("simulate_checkins", "--check", env=env).returncode == 0
    assert manage("migrate", "--noinput", env=env).returncode == 0
    assert manage("createcachetable", env=env).returncode == 0
    result = manage("simulate_checkins", "--rate", "60000", "--count", "4", env=env)
    assert result.returncode == 0, result.stderr
    # Its first and last lines are log lines in the library's clock, like the demo's others.
    lines = result.stderr.splitlines()
    assert (
        "check-ins a minute into visitor_count" in lines[0] and "inserted 4 check-ins" in lines[-1]
    )
    assert all(STAMP.match(line) for line in (lines[0], lines[-1])), lines
    assert result.stdout == ""


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
@pytest.mark.parametrize("mode", ["direct", "incremental"])
def test_rows_are_dated_now_and_recorded_in_incremental_mode(settings, mode):
    settings.VISITORS = replace(settings.VISITORS, TODAY_COUNT_MODE=mode)
    with connections["visitors"].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")
    inserted = simulation.simulate(
        rate_per_minute=60_000, stop=threading.Event(), count=7, seed=3, now=lambda: NOW
    )
    assert inserted == 7
    with connections["visitors"].cursor() as cursor:
        cursor.execute("SELECT checkin_date FROM visitor_count")
        rows = cursor.fetchall()
    assert [moment for (moment,) in rows] == [NOW.replace(tzinfo=None)] * 7
    counter = django_cache.get(keys.INCREMENTAL)
    assert counter == (7 if mode == "incremental" else None)


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_a_stop_ends_it_at_once():
    stop = threading.Event()
    stop.set()
    assert simulation.simulate(rate_per_minute=1, stop=stop, seed=1) == 0
    with pytest.raises(ValueError):
        simulation.simulate(rate_per_minute=0, stop=stop)
