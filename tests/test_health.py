"""visitors/health.py and GET /health against the real MariaDB and Redis.

"Unreachable" is real: the visitor DB connection or the cache is pointed at a local port
where nothing listens.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache as django_cache
from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests.conftest import loop_config
from tests.services import redis_unreachable
from visitors import health, keys, publishing
from visitors.endpoints import SUMMARY, TODAY
from visitors.publishing import CycleFacts
from visitors.sync import SyncLoop

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 6, 1, 14, 30, tzinfo=JAKARTA)


def free_port() -> int:
    """A local port where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _fresh_probe() -> Iterator[None]:
    health.database_probe.forget()
    yield
    health.database_probe.forget()


@pytest.fixture
def visitors_db_unreachable() -> Iterator[None]:
    """Point the real visitor-DB connection at a dead port; restore it afterwards."""
    connection = connections["visitors"]
    connection.close()
    saved = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = free_port()
    yield
    connection.close()
    connection.settings_dict["PORT"] = saved


def run_one_cycle(now: datetime = NOW) -> SyncLoop:
    loop = SyncLoop(
        config=loop_config(interval=5.0, buffer=0.5, lock_ttl=10.0), mode="direct", now=lambda: now
    )
    assert loop.run(once=True)
    return loop


def publish_payloads(now: datetime = NOW) -> None:
    publishing.publish(CycleFacts.of(now=now, closed={}, today_count=7), ttl=300)


# -- the status rule -------------------------------------------------------------------


def _loop(fresh: bool = True, error: str | None = None) -> health.LoopState:
    return health.LoopState(
        heartbeat={"at": NOW.isoformat(), "error": error}, stale_after_s=15.0, fresh=fresh
    )


def test_last_good_copies_keep_serving_while_the_database_is_down():
    status, reasons = health.overall(
        database_ok=False, cache_ok=True, payloads_cached=False, last_good_cached=True, loop=_loop()
    )
    assert status == "degraded"
    assert "serving the last good values, marked stale" in reasons


@pytest.mark.parametrize(
    ("database_ok", "cache_ok", "payloads_cached", "loop", "expected"),
    [
        (True, True, True, _loop(), "ok"),
        (True, True, True, _loop(fresh=False), "degraded"),
        (True, True, True, _loop(error="boom"), "degraded"),
        (True, True, True, health.LoopState(heartbeat=None), "degraded"),
        (True, True, False, _loop(), "degraded"),
        (True, False, False, _loop(), "degraded"),
        (False, True, True, _loop(), "degraded"),
        (False, True, False, _loop(), "down"),
        (False, False, False, _loop(), "down"),
    ],
)
def test_overall_status_rule(database_ok, cache_ok, payloads_cached, loop, expected):
    status, reasons = health.overall(
        database_ok=database_ok, cache_ok=cache_ok, payloads_cached=payloads_cached, loop=loop
    )
    assert status == expected
    assert (reasons == []) == (expected == "ok")


def test_stale_after_covers_a_leader_takeover(settings):
    settings.VISITORS = replace(settings.VISITORS, VISITOR_SYNC_MIN_INTERVAL_MS=1000)
    settings.VISITORS = replace(settings.VISITORS, VISITOR_SYNC_LOCK_TTL_MS=10_000)
    assert health.stale_after(None) == 11.0  # lock TTL + one interval
    assert health.stale_after({"interval_ms": 20_000}) == 60.0  # three (adaptive) intervals


def test_remembered_probe_pings_at_most_once_per_max_age():
    t = [100.0]
    calls: list[int] = []

    def probe() -> health.Probe:
        calls.append(1)
        return health.Probe(True, latency_ms=1.0)

    remembered = health.RememberedProbe(probe, max_age=1.0, monotonic=lambda: t[0])
    remembered()
    t[0] += 0.5
    remembered()
    assert len(calls) == 1
    t[0] += 0.6
    remembered()
    assert len(calls) == 2


# -- against the real services ---------------------------------------------------------


@pytest.mark.django_db(databases=["default", "visitors"])
def test_ok_after_a_loop_cycle(insert_visits, client):
    insert_visits([NOW - timedelta(hours=h) for h in (1, 2, 3)])
    loop = run_one_cycle()
    report = health.check(now=NOW + timedelta(seconds=2))
    assert report.status == "ok", report.reasons
    body = report.as_dict()
    assert body["database"] == {
        "reachable": True,
        "vendor": "mysql",
        "latency_ms": body["database"]["latency_ms"],
        "error": None,
    }
    assert body["cache"]["reachable"] and body["cache"]["backend"] == "redis"
    beat = body["loop"]
    assert beat["fresh"] and beat["heartbeat_age_s"] == 2.0 and beat["last_success_age_s"] == 2.0
    assert beat["count"] == 3 and beat["cycle"] == 1 and beat["cycle_ms"] > 0
    assert beat["leader"].endswith(f":{os.getpid()}")
    assert beat["leader_lock_held"] is False  # --once released it
    today = body["keys"][TODAY.key]
    assert today["present"] and today["age_from"] == "heartbeat" and today["age_s"] == 2.0
    assert 0 < today["ttl_s"] <= loop.config.key_ttl(5.0)
    rollup = body["keys"][keys.ROLLUP_DAILY]
    assert rollup["present"] and rollup["ttl_s"] is None
    # No age from Redis OBJECT IDLETIME (a shared small integer reported 1775 s for a key
    # written seconds before): only what the heartbeat proves.
    assert rollup["age_from"] == "unknown" and rollup["age_s"] is None
    assert all("idle_s" not in state for state in body["keys"].values())


@pytest.mark.django_db(databases=["default", "visitors"])
def test_http_ok_is_200(insert_visits, client):
    insert_visits([])
    # The view reads the real clock, so the loop does too: the heartbeat is seconds old.
    loop = SyncLoop(config=loop_config(interval=5.0, buffer=0.5, lock_ttl=10.0), mode="direct")
    assert loop.run(once=True)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok", response.json()["reasons"]
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db(databases=["default", "visitors"])
def test_stale_heartbeat_and_failed_cycle_degrade():
    run_one_cycle()
    later = health.check(now=NOW + timedelta(seconds=60))
    assert later.status == "degraded"
    assert any("heartbeat older than" in reason for reason in later.reasons)

    beat = django_cache.get(keys.SYNC_HEARTBEAT)
    django_cache.set(keys.SYNC_HEARTBEAT, {**beat, "error": "database is down"}, None)
    failed = health.check(now=NOW + timedelta(seconds=1))
    assert failed.status == "degraded"
    assert failed.reasons == ["last sync cycle failed: database is down"]


@pytest.mark.django_db(databases=["default", "visitors"])
def test_no_loop_is_degraded_but_serving(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert "no sync-loop heartbeat" in body["reasons"]
    assert "served values missing from the cache" in body["reasons"]
    assert body["keys"][SUMMARY.key]["present"] is False


@pytest.mark.django_db(databases=["default", "visitors"])
def test_redis_unreachable_with_the_database_up_is_degraded(client):
    with redis_unreachable():
        response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["cache"]["reachable"] is False and "ConnectionError" in body["cache"]["error"]
    assert body["database"]["reachable"] is True
    assert "cache unreachable" in body["reasons"]


@pytest.mark.django_db(databases=["default", "visitors"], transaction=True)
def test_database_unreachable_but_values_cached_is_degraded(visitors_db_unreachable, client):
    publish_payloads(NOW)
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"]["reachable"] is False
    assert "visitor database unreachable" in body["reasons"]


@pytest.mark.django_db(databases=["default", "visitors"], transaction=True)
def test_database_unreachable_serving_last_good_copies_is_degraded(visitors_db_unreachable, client):
    publish_payloads(NOW)  # also stores the last good copies, kept without expiry
    django_cache.delete_many(list(health.PAYLOAD_KEYS))  # the live values expired
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert "serving the last good values, marked stale" in body["reasons"]
    summary = body["keys"][SUMMARY.key]
    assert summary["present"] is False and summary["last_good"] is True
    assert body["keys"][keys.ROLLUP_DAILY]["last_good"] is None


@pytest.mark.django_db(databases=["default", "visitors"], transaction=True)
def test_down_when_neither_database_nor_cache_can_serve(visitors_db_unreachable, client):
    response = client.get("/health")  # cache up, but nothing cached
    assert response.status_code == 503
    assert response.json()["status"] == "down"

    health.database_probe.forget()
    with redis_unreachable():
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert not body["database"]["reachable"] and not body["cache"]["reachable"]


@pytest.mark.django_db(databases=["default", "visitors"])
def test_probing_every_second_pings_the_database_once_per_second(client):
    with CaptureQueriesContext(connections["visitors"]) as queries:
        for _ in range(5):
            assert client.get("/health").status_code == 200
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT 1"]


def test_health_is_in_the_api_schema_and_metrics_is_not(client, db):
    paths = client.get("/docs/json").json()["paths"]
    assert set(paths["/health"]["get"]["responses"]) == {"200", "503"}
    assert paths["/health"]["get"]["tags"] == ["Operations"]
    assert "/metrics" not in paths


def test_a_garbage_heartbeat_is_no_heartbeat_not_an_outage(client):
    django_cache.client.get_client().set(keys.SYNC_HEARTBEAT, b"garbage{")
    body = client.get("/health").json()
    assert body["cache"]["reachable"] is True
    assert "no sync-loop heartbeat" in body["reasons"]
