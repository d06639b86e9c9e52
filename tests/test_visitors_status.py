"""visitors/status.py and ``manage.py visitors_status`` (human and --json)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache as django_cache
from django.core.management import call_command
from django.test import override_settings

from tests.conftest import loop_config
from visitors import health, keys, rollup
from visitors.endpoints import SUMMARY, TODAY
from visitors.sync import SyncLoop

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 6, 1, 14, 30, tzinfo=JAKARTA)


@pytest.fixture(autouse=True)
def _fresh_probe():
    health.database_probe.forget()


def status(*args: str) -> str:
    out = StringIO()
    call_command("visitors_status", *args, stdout=out)
    return out.getvalue()


def run_one_cycle() -> None:
    loop = SyncLoop(
        config=loop_config(interval=5.0, buffer=0.5, lock_ttl=10.0), mode="direct", now=lambda: NOW
    )
    assert loop.run(once=True)


@pytest.mark.django_db(databases=["default", "visitors"])
def test_json_without_a_heartbeat():
    with time_machine.travel(NOW, tick=False):
        body = json.loads(status("--json"))
    assert body["status"] == "degraded"
    assert body["loop"]["heartbeat_at"] is None and body["loop"]["leader"] is None
    assert body["config"]["mode"] == "direct" and body["config"]["db_layer"] in {"raw", "orm"}
    assert body["database"]["reachable"] and body["cache"]["reachable"]
    assert all(not key["present"] for key in body["keys"].values())
    coverage = body["rollup"]
    assert coverage["days"] == 0 and coverage["first_day"] is None
    assert coverage["wanted_from"] == "2022-01-01" and coverage["wanted_to"] == "2026-05-31"
    assert coverage["holes"] == [
        {"from": "2022-01-01", "to": "2026-05-31", "days": coverage["wanted_days"]}
    ]


@pytest.mark.django_db(databases=["default", "visitors"])
def test_human_without_a_heartbeat():
    with time_machine.travel(NOW, tick=False):
        text = status()
    assert "Status      DEGRADED" in text
    assert "no heartbeat: runsyncloop has not run against this cache" in text
    assert f"  {SUMMARY.key:<24} absent" in text
    assert "holes (1612 days):" in text
    assert "2022-01-01 .. 2026-05-31 (1612 days)" in text


@pytest.mark.django_db(databases=["default", "visitors"])
def test_json_after_a_loop_cycle(insert_visits):
    insert_visits([NOW - timedelta(hours=1)] * 5)
    run_one_cycle()
    with time_machine.travel(NOW + timedelta(seconds=3), tick=False):
        body = json.loads(status("--json"))
    assert body["status"] == "ok", body["reasons"]
    loop = body["loop"]
    assert loop["fresh"] and loop["count"] == 5 and loop["cycle"] == 1
    assert loop["heartbeat_at"] == NOW.isoformat() and loop["heartbeat_age_s"] == 3.0
    assert set(loop["steps_ms"]) == {"rollup", "count", "rows", "publish"}
    summary = body["keys"][SUMMARY.key]
    assert summary["present"] and summary["age_from"] == "heartbeat" and summary["age_s"] == 3.0
    assert summary["ttl_s"] > 0
    assert body["keys"][keys.ROLLUP_DAILY]["ttl_s"] is None  # kept without expiry
    assert body["rollup"]["holes"] == [] and body["rollup"]["last_day"] == "2026-05-31"


@pytest.mark.django_db(databases=["default", "visitors"])
def test_human_after_a_loop_cycle_shows_leader_cycle_and_holes(insert_visits):
    insert_visits([NOW - timedelta(hours=1)] * 2)
    run_one_cycle()
    days = rollup.load()
    for hole in (date(2026, 2, 10), date(2026, 2, 11), date(2026, 4, 1)):
        del days[hole]
    rollup.save(days)
    with time_machine.travel(NOW + timedelta(seconds=1), tick=False):
        text = status()
    beat = django_cache.get(keys.SYNC_HEARTBEAT)
    assert "Status      OK" in text
    assert f"Sync loop   running; leader {beat['identity']} (lock free)" in text
    assert "last cycle        #1: count 2," in text
    assert f"  {TODAY.key:<24} TTL " in text
    assert "(loop's last successful cycle)" in text
    assert "holes (3 days):" in text
    assert "2026-02-10 .. 2026-02-11 (2 days)" in text
    assert "2026-04-01 .. 2026-04-01 (1 day)" in text


@pytest.mark.django_db(databases=["default", "visitors"])
def test_stale_loop_is_reported():
    run_one_cycle()
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        text = status()
    assert "Status      DEGRADED" in text
    assert "STALE (older than" in text


@pytest.mark.django_db(databases=["default", "visitors"])
def test_database_cache_backend_says_ttl_unknown(insert_visits):
    """The embedded default (no REDIS_URL): Django's database cache, TTLs unknown."""
    database_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "visitors_cache",
            "KEY_FUNCTION": "visitors.cache.verbatim_key",
            # As settings.py has it: the closed days' keys outnumber Django's default 300.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
    with override_settings(CACHES=database_cache):
        call_command("createcachetable", database="default", verbosity=0)
        insert_visits([NOW - timedelta(hours=1)])
        run_one_cycle()
        with time_machine.travel(NOW + timedelta(seconds=2), tick=False):
            body = json.loads(status("--json"))
            text = status()
    assert body["cache"]["backend"] == "database" and body["status"] == "ok", body["reasons"]
    today = body["keys"][TODAY.key]
    assert today["present"] and today["ttl_known"] is False and today["age_from"] == "heartbeat"
    assert body["keys"][keys.ROLLUP_DAILY]["age_from"] == "unknown"
    assert f"  {TODAY.key:<24} TTL unknown (database cache)" in text
