"""The five endpoints: paths, JSON keys, sources, and the library-local calendar."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache as django_cache

from tests.conftest import ALL_DATABASES
from visitors.endpoints import MONTHLY, SUMMARY, TODAY, WEEKLY, YEARLY

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

JAKARTA = ZoneInfo("Asia/Jakarta")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=JAKARTA)


@pytest.fixture
def frozen():
    def travel(moment: datetime):
        return time_machine.travel(moment, tick=False)

    return travel


ENDPOINTS = {
    "today": {"total", "source"},
    "weekly": {"days", "source"},
    "monthly": {"months", "source"},
    "yearly": {"years", "source"},
    "summary": {"today", "weekly", "monthly", "yearly", "source"},
}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_paths_answer_without_and_with_trailing_slash(client, insert_visits, name):
    for path in (f"/api/visitors/{name}", f"/api/visitors/{name}/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Content-Type"] == "application/json"
        assert set(response.json()) == ENDPOINTS[name]


def test_first_read_computes_then_serves_from_cache(client, insert_visits, frozen):
    with frozen(local(2026, 6, 10, 14, 0)):
        insert_visits([datetime(2026, 6, 10, 9, 0), datetime(2026, 6, 10, 13, 59)])
        first = client.get("/api/visitors/today").json()
        second = client.get("/api/visitors/today").json()
    assert first == {"total": 2, "source": "db"}
    assert second == {"total": 2, "source": "cache"}
    assert django_cache.get(TODAY.key) == 2


def test_keys_are_stored_verbatim_in_redis(client, insert_visits):
    client.get("/api/visitors/summary")
    redis = django_cache.client.get_client()
    stored = {key.decode() for key in redis.keys("visitors:*")}
    # The old service's key names, spelled out: other programs read them.
    old_keys = [
        "visitors:today:count",
        "visitors:week:daily",
        "visitors:month:totals",
        "visitors:year:totals",
        "visitors:summary",
    ]
    assert [TODAY.key, WEEKLY.key, MONTHLY.key, YEARLY.key, SUMMARY.key] == old_keys
    assert set(old_keys) <= stored
    assert int(redis.get("visitors:today:count")) == 0


def test_series_shapes_and_agreement_with_today(client, insert_visits, frozen):
    with frozen(local(2026, 6, 10, 14, 0)):
        insert_visits([datetime(2026, 6, 10, 9, 0)] * 3 + [datetime(2026, 6, 4, 10, 0)] * 2)
        body = client.get("/api/visitors/summary").json()
    assert body["today"] == 3
    assert [d["date"] for d in body["weekly"]] == [f"2026-06-{d:02d}" for d in range(4, 11)]
    assert [d["total"] for d in body["weekly"]] == [2, 0, 0, 0, 0, 0, 3]
    assert body["monthly"][-1] == {"month": "2026-06", "total": 5}
    assert len(body["monthly"]) == 12 and body["monthly"][0]["month"] == "2025-07"
    assert body["yearly"] == [
        {"year": 2022, "total": 0},
        {"year": 2023, "total": 0},
        {"year": 2024, "total": 0},
        {"year": 2025, "total": 0},
        {"year": 2026, "total": 5},
    ]
    assert body["source"] == "today:db,weekly:db,monthly:db,yearly:db"


def test_summary_from_cache_reports_cache_for_every_part(client, insert_visits):
    client.get("/api/visitors/summary")
    assert client.get("/api/visitors/summary").json()["source"] == (
        "today:cache,weekly:cache,monthly:cache,yearly:cache"
    )


def test_just_before_local_midnight_on_new_years_eve(client, insert_visits, frozen):
    # 23:30 in Jakarta is 16:30 UTC: the UTC date and the local date agree, the hour does not.
    with frozen(local(2026, 12, 31, 23, 30)):
        insert_visits(
            [
                datetime(2026, 12, 31, 0, 0),
                datetime(2026, 12, 31, 23, 29),
                datetime(2027, 1, 1, 0, 0),  # tomorrow: not counted
            ]
        )
        body = client.get("/api/visitors/summary").json()
    assert body["today"] == 2
    assert body["weekly"][-1] == {"date": "2026-12-31", "total": 2}
    assert body["monthly"][-1] == {"month": "2026-12", "total": 2}
    assert body["yearly"][-1] == {"year": 2026, "total": 2}


def test_just_after_local_midnight_the_new_year_starts(client, insert_visits, frozen):
    # 00:30 on 1 January in Jakarta is still 31 December in UTC.
    with frozen(local(2027, 1, 1, 0, 30)):
        insert_visits(
            [
                datetime(2026, 12, 31, 23, 59),
                datetime(2027, 1, 1, 0, 0),
                datetime(2027, 1, 1, 0, 15),
            ]
        )
        body = client.get("/api/visitors/summary").json()
    assert body["today"] == 2
    assert body["weekly"][-2:] == [
        {"date": "2026-12-31", "total": 1},
        {"date": "2027-01-01", "total": 2},
    ]
    assert body["monthly"][-2:] == [
        {"month": "2026-12", "total": 1},
        {"month": "2027-01", "total": 2},
    ]
    assert body["yearly"][-2:] == [{"year": 2026, "total": 1}, {"year": 2027, "total": 2}]


def test_month_end_without_a_31st(client, insert_visits, frozen):
    with frozen(local(2026, 3, 1, 7, 0)):
        insert_visits([datetime(2026, 2, 28, 20, 0), datetime(2026, 3, 1, 6, 59)])
        months = client.get("/api/visitors/monthly").json()["months"]
    assert months[-2:] == [{"month": "2026-02", "total": 1}, {"month": "2026-03", "total": 1}]


def test_a_cached_series_from_yesterday_is_not_served_after_midnight(client, insert_visits, frozen):
    with frozen(local(2026, 5, 31, 23, 59, 50)):
        insert_visits([datetime(2026, 5, 31, 12, 0)])
        assert client.get("/api/visitors/weekly").json()["days"][-1]["date"] == "2026-05-31"
        assert django_cache.ttl(TODAY.key) <= 10
    # Redis expires the undated today count at midnight in real time (TTL asserted above);
    # the frozen clock cannot make it do so, so play that part.
    django_cache.delete(TODAY.key)
    with frozen(local(2026, 6, 1, 0, 0, 5)):
        days = client.get("/api/visitors/weekly").json()["days"]
    assert days[-2:] == [{"date": "2026-05-31", "total": 1}, {"date": "2026-06-01", "total": 0}]


def test_fallback_ttl_never_outlives_local_midnight(client, insert_visits, frozen):
    with frozen(local(2026, 5, 31, 23, 59, 50)):
        client.get("/api/visitors/today")
        assert 0 < django_cache.ttl(TODAY.key) <= 10


def test_openapi_json_documents_the_visitors_endpoints(client):
    response = client.get("/docs/json")
    assert response.status_code == 200
    spec = response.json()
    assert set(spec["paths"]) >= {f"/api/visitors/{name}" for name in ENDPOINTS}
    operation = spec["paths"]["/api/visitors/summary"]["get"]
    assert operation["tags"] == ["Visitors"]
    schemas = spec["components"]["schemas"]
    assert {"Today", "Weekly", "Monthly", "Yearly", "Summary", "DayTotal"} <= set(schemas)


def test_swagger_ui_is_served_with_local_assets(client):
    page = client.get("/docs").content.decode()
    assert "/docs/json" in page
    assert "cdn" not in page.lower()
    assert "/static/drf_spectacular_sidecar/" in page


def test_rows_dated_on_future_days_count_nowhere(client, insert_visits, frozen):
    """The old service's series had no upper bound, so a mis-dated row leaked into them."""
    with frozen(local(2026, 6, 10, 14, 0)):
        insert_visits(
            [
                datetime(2026, 6, 10, 9, 0),
                datetime(2026, 6, 11, 9, 0),  # tomorrow
                datetime(2026, 7, 2, 9, 0),  # next month
                datetime(2027, 3, 1, 9, 0),  # next year
            ]
        )
        body = client.get("/api/visitors/summary").json()
    assert body["today"] == 1
    assert sum(d["total"] for d in body["weekly"]) == 1
    assert sum(m["total"] for m in body["monthly"]) == 1
    assert sum(y["total"] for y in body["yearly"]) == 1


def test_openapi_documents_both_streams_as_event_streams(client):
    spec = client.get("/docs/json").json()
    components = spec["components"]["schemas"]
    for path, events in {
        "/api/visitors/today/stream": ("event: init", "event: update", "keepalive"),
        "/api/visitors/stream": ("event: summary", "Last-Event-ID", "id:"),
    }.items():
        operation = spec["paths"][path]["get"]
        content = operation["responses"]["200"]["content"]
        assert list(content) == ["text/event-stream"], path
        assert all(event in operation["description"] for event in events), path
        assert {"307", "400", "405", "503"} <= set(operation["responses"]), path
    # Each stream's 200 is every event's data it can send, `error` included.
    for path, expected in {
        "/api/visitors/today/stream": {"TodayStreamInit", "TodayStreamUpdate", "Error"},
        "/api/visitors/stream": {"Summary", "Error"},
    }.items():
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        schema = content["text/event-stream"]["schema"]["$ref"].rsplit("/", 1)[-1]
        names = {ref["$ref"].rsplit("/", 1)[-1] for ref in components[schema]["oneOf"]}
        assert names == expected, path
    assert "event: error" in spec["paths"]["/api/visitors/stream"]["get"]["description"]
