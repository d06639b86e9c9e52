"""GET /metrics: Prometheus text, summed over every process (web workers and the loop).

Each test run has its own PROMETHEUS_MULTIPROC_DIR (tests/settings.py), so the numbers
here come from this run only; assertions compare before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connections
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.clients import FrontClient
from tests.conftest import loop_config
from tests.processes import ROOT, manage, services_env
from visitors import keys
from visitors.endpoints import CATALOGUE, TODAY
from visitors.sync import SyncLoop

JAKARTA = ZoneInfo("Asia/Jakarta")
FAMILIES = {
    "visitors_http_requests": "counter",
    "visitors_http_request_duration_seconds": "histogram",
    "visitors_cache_lookups": "counter",
    "visitors_db_query_duration_seconds": "histogram",
    "visitors_sync_cycle_duration_seconds": "histogram",
    "visitors_sync_cycles": "counter",
    "visitors_sync_last_cycle_duration_seconds": "gauge",
    "visitors_sync_last_success_timestamp_seconds": "gauge",
    "visitors_today_count": "gauge",
}


def scrape(client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response["Cache-Control"].startswith("max-age=0")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def run_one_cycle(now: datetime) -> None:
    loop = SyncLoop(
        config=loop_config(interval=5.0, buffer=0.5, lock_ttl=10.0), mode="direct", now=lambda: now
    )
    assert loop.run(once=True)


@pytest.mark.django_db(databases=["default", "visitors"])
def test_every_family_is_exposed_with_its_type(client, insert_visits):
    now = datetime.now(JAKARTA)
    insert_visits([now - timedelta(minutes=1)])
    run_one_cycle(now)
    client.get("/api/visitors/today")
    body = client.get("/metrics").content.decode()
    for name, kind in FAMILIES.items():
        exposed = f"{name}_total" if kind == "counter" else name  # text format 0.0.4
        assert f"# TYPE {exposed} {kind}" in body, name


@pytest.mark.django_db(databases=["default", "visitors"])
def test_requests_cache_lookups_and_db_time_increase_with_requests(client, insert_visits):
    now = datetime.now(JAKARTA)
    insert_visits([now - timedelta(minutes=1)] * 2)
    before = scrape(client)

    cold = client.get("/api/visitors/today").json()  # nothing cached: computed once
    warm = [client.get("/api/visitors/today").json() for _ in range(2)]
    assert cold["source"] == "db" and {w["source"] for w in warm} == {"cache"}
    assert client.get("/nowhere").status_code == 404
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    today = {"endpoint": "visitors-today", "method": "GET"}
    assert delta("visitors_http_requests_total", **today, status="200") == 3
    assert delta("visitors_http_request_duration_seconds_count", **today) == 3
    assert delta("visitors_http_request_duration_seconds_sum", **today) > 0
    assert delta("visitors_http_requests_total", endpoint="unmatched", method="GET", status="404")
    assert delta("visitors_cache_lookups_total", key=TODAY.key, result="miss") == 1
    assert delta("visitors_cache_lookups_total", key=TODAY.key, result="hit") == 2
    layer = "orm" if settings.VISITORS.USE_ORM else "raw"
    assert delta("visitors_db_query_duration_seconds_count", question="count", layer=layer) == 1


@pytest.mark.django_db(databases=["default", "visitors"])
def test_a_loop_cycle_records_duration_last_success_and_today_count(client, insert_visits):
    now = datetime(2026, 6, 1, 14, 30, tzinfo=JAKARTA)
    insert_visits([now - timedelta(hours=h) for h in (1, 2, 3, 4)])
    before = scrape(client)
    run_one_cycle(now)
    after = scrape(client)
    assert value(after, "visitors_today_count") == 4
    assert value(after, "visitors_sync_last_success_timestamp_seconds") == now.timestamp()
    assert value(after, "visitors_sync_last_cycle_duration_seconds") > 0
    assert (
        value(after, "visitors_sync_cycles_total", outcome="ok")
        - value(before, "visitors_sync_cycles_total", outcome="ok")
        == 1
    )
    assert (
        value(after, "visitors_sync_cycle_duration_seconds_count")
        - value(before, "visitors_sync_cycle_duration_seconds_count")
        == 1
    )


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "visitors"], transaction=True)
def test_the_loop_process_is_counted_too(client, tmp_path):
    """A separate ``runsyncloop --once`` process shows up in this process's /metrics."""
    with connections["visitors"].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")
        cursor.execute(
            "INSERT INTO visitor_count (member_id, checkin_date) VALUES ('A', %s), ('B', %s), "
            "('C', %s)",
            [datetime.now(JAKARTA).replace(tzinfo=None)] * 3,
        )
    before = scrape(client)
    env = services_env(tmp_path, TODAY_COUNT_MODE="direct")
    try:
        result = manage("runsyncloop", "--once", env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        after = scrape(client)
        assert value(after, "visitors_today_count") == 3
        assert (
            value(after, "visitors_sync_cycles_total", outcome="ok")
            - value(before, "visitors_sync_cycles_total", outcome="ok")
            == 1
        )
        assert any(
            p.name.endswith(".db") for p in Path(settings.PROMETHEUS_MULTIPROC_DIR).iterdir()
        )
    finally:
        with connections["visitors"].cursor() as cursor:
            cursor.execute("DELETE FROM visitor_count")


@pytest.mark.django_db(databases=["default", "visitors"])
def test_openmetrics_when_the_scraper_asks_for_it(client, insert_visits):
    client.get("/health")
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().rstrip().endswith("# EOF")


def test_metrics_dir_is_this_runs_own(settings):
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(settings.PROMETHEUS_MULTIPROC_DIR)
    assert Path(settings.PROMETHEUS_MULTIPROC_DIR).is_dir()


@pytest.mark.django_db(databases=["default", "visitors"])
def test_prerendered_answers_are_counted_too(client, insert_visits, settings):
    settings.VISITORS = replace(settings.VISITORS, HTTP_MEMO_MS=0)
    now = datetime.now(JAKARTA)
    insert_visits([now - timedelta(minutes=1)])
    run_one_cycle(now)  # publishes the pre-rendered bytes the fast path serves
    front = FrontClient()
    before = scrape(client)
    for _ in range(2):
        response = front.get("/api/visitors/today")
        assert response.answered_by == "prerendered" and response.json()["source"] == "cache"
    assert front.head("/api/visitors/today").status_code == 200
    after = scrape(client)  # /metrics adds this process's tally first

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("visitors_cache_lookups_total", key="visitors:http:today", result="hit") == 3
    requests = {"endpoint": "visitors-today", "status": "200"}
    assert delta("visitors_http_requests_total", method="GET", **requests) == 2
    assert delta("visitors_http_requests_total", method="HEAD", **requests) == 1


@pytest.mark.parametrize("use_orm, layer", [("false", "raw"), ("true", "orm")])
def test_a_web_worker_starts_the_series_of_its_database_path_at_zero(tmp_path, use_orm, layer):
    """Loading the WSGI application (as each granian worker does) creates, at 0, the series
    that a warm worker writes only when it serves from the database (visitors/startup.py;
    that they are the ones written: test_reliability.py::
    test_an_outage_writes_no_metric_series_a_worker_did_not_start_with)."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = services_env(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), USE_ORM=use_orm)
    loaded = subprocess.run(
        [sys.executable, "-c", "import library_dashboard.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.returncode == 0, loaded.stderr
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in registry.collect()
        for sample in family.samples
    }

    def at_zero(name: str, **labels: str) -> bool:
        return samples.get((name, frozenset(labels.items()))) == 0

    for endpoint in CATALOGUE:
        latency = "visitors_http_request_duration_seconds_count"
        assert at_zero(latency, endpoint=endpoint.url_name, method="GET"), endpoint.name
        for result in ("hit", "miss", *(("copy",) if endpoint.costly else ())):
            assert at_zero("visitors_cache_lookups_total", key=endpoint.key, result=result)
    assert at_zero("visitors_cache_lookups_total", key=keys.ROLLUP_DAILY, result="miss")
    for question in ("count", "daily_counts", "member_days", "rows_after", "counts_by"):
        assert at_zero("visitors_db_query_duration_seconds_count", question=question, layer=layer)
