"""HTTP efficiency for pollers: pre-rendered bytes, ETag / 304, Cache-Control, CORS.

The pre-rendered answers (``visitors.api.prerendered``, in front of Django) and the DRF
viewset must send the same bytes and headers; the tests compare them on real Redis, with
the library's clock frozen in Asia/Jakarta. ``FrontClient`` goes through the front layer
as the server does. The real server (``library_dashboard.server web``) answers from the
sync loop's bytes in tests/test_streams.py (/summary's body against the stream's),
tests/test_slow_clients.py (under 2,000 slow and idle connections) and
tests/test_sentinel.py (through a Redis failover).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from tests.clients import FrontClient
from visitors import keys, publishing, rendered, serving
from visitors.api.throttling import AnonRateThrottle
from visitors.api.views import VisitorCountsViewSet
from visitors.endpoints import BY_NAME, CATALOGUE, TODAY
from visitors.live import LiveResponses
from visitors.publishing import CycleFacts
from visitors.rollup import wanted_days

TZ = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 14, 10, 30, tzinfo=TZ)  # 03:30 UTC: a different day than Jakarta's
NAMES = tuple(endpoint.name for endpoint in CATALOGUE)
ORIGIN = "https://wall.library.example"

pytestmark = pytest.mark.django_db(databases=["default", "visitors"])


def _closed(today: date) -> dict[date, int]:
    return {day: (day.toordinal() % 97) + 3 for day in wanted_days(today)}


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def published(frozen):
    """What one sync-loop cycle leaves in Redis: data, last-good values, pre-rendered bytes."""
    publishing.publish(
        CycleFacts.of(now=frozen, closed=_closed(frozen.date()), today_count=417), ttl=60
    )
    yield frozen


def _drop_rendered() -> None:
    cache.delete_many([keys.prerendered(name) for name in NAMES])


def url(name: str) -> str:
    return BY_NAME[name].url_path


@pytest.mark.parametrize("name", NAMES)
def test_fast_path_and_viewset_send_identical_bytes(published, name):
    fast = FrontClient().get(url(name))
    _drop_rendered()
    slow = FrontClient().get(url(name))

    assert fast.status_code == slow.status_code == 200
    assert fast.content == slow.content
    assert fast["ETag"] == slow["ETag"] == rendered.etag_for(fast.content)
    assert fast["Content-Type"] == slow["Content-Type"] == "application/json"
    body = json.loads(fast.content)
    if name == "today":
        assert body == {"total": 417, "source": "cache"}
    elif name == "summary":
        assert body["today"] == 417 and body["weekly"][-1] == {"date": "2026-03-14", "total": 417}
        assert body["source"] == "today:cache,weekly:cache,monthly:cache,yearly:cache"
    else:
        assert body["source"] == "cache"


@override_settings(
    CORS_ALLOWED_ORIGINS=[ORIGIN], SECURE_HSTS_SECONDS=3600, SECURE_PROXY_SSL_HEADER=None
)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "request_headers",
    [{}, {"HTTP_ORIGIN": ORIGIN}, {"HTTP_ORIGIN": "https://evil.example"}, {"secure": True}],
    ids=["plain", "allowed-origin", "other-origin", "https"],
)
@pytest.mark.parametrize("method", ["get", "head", "conditional"])
def test_prerendered_and_viewset_send_identical_headers(published, name, request_headers, method):
    def ask() -> Any:
        client = FrontClient()
        if method == "conditional":
            etag = client.get(url(name), **request_headers)["ETag"]
            return client.get(url(name), HTTP_IF_NONE_MATCH=etag, **request_headers)
        return getattr(client, method)(url(name), **request_headers)

    fast = ask()
    _drop_rendered()
    slow = ask()

    assert getattr(fast, "answered_by", None) == "prerendered"
    assert getattr(slow, "answered_by", None) is None
    assert fast.status_code == slow.status_code == (304 if method == "conditional" else 200)
    assert fast.content == slow.content
    assert dict(fast.headers) == dict(slow.headers)


def test_fast_path_serves_the_stored_bytes_without_the_viewset(published, monkeypatch):
    """Proof that the lean path answers: the viewset would fail, yet the request succeeds."""

    def boom(*args, **kwargs):
        raise AssertionError("the viewset was called")

    monkeypatch.setattr(serving, "response_body", boom)
    response = FrontClient().get(url("summary"))
    assert response.status_code == 200
    assert json.loads(response.content)["today"] == 417


@override_settings(VISITORS=replace(settings.VISITORS, HTTP_FAST_PATH=False))
def test_fast_path_can_be_switched_off(published, monkeypatch):
    calls = []
    original = serving.response_body
    monkeypatch.setattr(
        serving, "response_body", lambda e, **kw: calls.append(e.name) or original(e, **kw)
    )
    response = FrontClient().get(url("today"))
    assert response.status_code == 200 and calls == ["today"]
    assert "ETag" in response and "max-age" in response["Cache-Control"]


def test_with_the_rate_limit_every_request_goes_to_drf_and_is_counted(published, monkeypatch):
    """API_ANON_RATE set: the front layer steps aside even with bytes published, so the
    rate limit counts every request."""
    assert FrontClient().get(url("today")).answered_by == "prerendered"  # bytes are there
    # What API_ANON_RATE=3/min gives a process: the setting the layer reads when it is
    # built, and DRF's class attributes, read from the same setting at import.
    throttle = "visitors.api.throttling.AnonRateThrottle"
    rest_framework = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": [throttle],
        "DEFAULT_THROTTLE_RATES": {"anon": "3/min"},
    }
    monkeypatch.setattr(VisitorCountsViewSet, "throttle_classes", [AnonRateThrottle])
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/min"})
    with override_settings(REST_FRAMEWORK=rest_framework):
        client = FrontClient()  # the layer is built after the setting, as at start-up
        allowed = [client.get(url("today")) for _ in range(3)]
        limited = client.get(url("today"))
    assert [r.status_code for r in allowed] == [200] * 3
    assert not any(hasattr(r, "answered_by") for r in allowed)  # answered by the viewset
    assert json.loads(allowed[0].content)["total"] == 417
    assert limited.status_code == 429
    assert limited["Content-Type"] == "application/json"
    assert limited.json()["code"] == "throttled"
    assert int(limited["Retry-After"]) > 0


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "viewset"])
@pytest.mark.parametrize("name", NAMES)
def test_if_none_match_gets_304(published, name, fast):
    if not fast:
        _drop_rendered()
    client = FrontClient()
    etag = client.get(url(name))["ETag"]
    if not fast:
        _drop_rendered()

    response = client.get(url(name), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert "max-age" in response["Cache-Control"]
    # Weak comparison, lists and '*' (RFC 9110) match too; another tag does not.
    assert client.get(url(name), HTTP_IF_NONE_MATCH=f'"x", W/{etag}').status_code == 304
    assert client.get(url(name), HTTP_IF_NONE_MATCH="*").status_code == 304
    assert client.get(url(name), HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_etag_changes_when_the_loop_publishes_a_new_count(published):
    client = FrontClient()
    first = client.get(url("today"))
    publishing.publish(
        CycleFacts.of(now=published, closed=_closed(published.date()), today_count=418), ttl=60
    )
    second = client.get(url("today"), HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 200
    assert second["ETag"] != first["ETag"]
    assert json.loads(second.content)["total"] == 418


@override_settings(VISITORS=replace(settings.VISITORS, HTTP_MAX_AGE=7))
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "viewset"])
def test_cache_control_max_age_follows_the_setting(published, fast):
    if not fast:
        _drop_rendered()
    response = FrontClient().get(url("summary"))
    assert response["Cache-Control"] == "public, max-age=7"


def test_default_max_age_is_the_sync_interval(settings):
    assert settings.VISITORS.HTTP_MAX_AGE == -(
        -settings.VISITORS.VISITOR_SYNC_MIN_INTERVAL_MS // 1000
    )


def test_head_sends_headers_and_no_body(published):
    get = FrontClient().get(url("weekly"))
    head = FrontClient().head(url("weekly"))
    assert head.status_code == 200
    assert head.content == b""
    assert head["ETag"] == get["ETag"]
    assert int(head["Content-Length"]) == len(get.content)


def test_security_headers_on_fast_responses(published):
    response = FrontClient().get(url("today"))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_non_get_methods_still_go_to_the_viewset(published):
    assert FrontClient().post(url("today")).status_code == 405


def test_an_accept_without_json_is_left_to_drf(published):
    response = FrontClient().get(url("today"), HTTP_ACCEPT="text/html")
    assert response.status_code == 406


def test_a_process_serves_its_copy_until_a_change_is_announced(published):
    clock = [100.0]
    live = LiveResponses(memo_s=1.0, clock=lambda: clock[0], watch=False)
    live.tick()
    assert json.loads(live.lookup(TODAY).body)["total"] == 417
    publishing.publish(
        CycleFacts.of(now=published, closed=_closed(published.date()), today_count=999), ttl=60
    )
    assert json.loads(live.lookup(TODAY).body)["total"] == 417  # not yet read
    live.tick()  # what the watcher does on the change notice
    assert json.loads(live.lookup(TODAY).body)["total"] == 999


def test_a_copy_never_pairs_responses_with_an_older_notice(published):
    """The loop stores the responses, then announces; a process reading while it publishes
    keeps the notice that goes with the responses it read (streams send its id and time)."""
    import threading

    from visitors import changes

    stop = threading.Event()

    def publish() -> None:
        count = 1000
        while not stop.is_set():
            count += 1
            facts = CycleFacts.of(
                now=published, closed=_closed(published.date()), today_count=count
            )
            publishing.publish(facts, ttl=60)
            stop.wait(0.005)  # the loop publishes once a second; here far more often

    live = LiveResponses(memo_s=1.0, clock=lambda: 100.0, watch=False)
    publisher = threading.Thread(target=publish)
    publisher.start()
    mismatched, reads = 0, 0
    try:
        for _ in range(300):
            live.tick(woken=True)
            snapshot = live.snapshot
            etags = (snapshot.responses[e.name].etag for e in CATALOGUE)
            reads += 1
            mismatched += snapshot.notice.digest != changes.digest_of(etags)
    finally:
        stop.set()
        publisher.join()
    assert reads == 300 and mismatched == 0


def test_responses_read_while_every_try_sees_a_new_notice_are_not_kept(published, monkeypatch):
    """The copy kept through an outage is served with its notice's time as ``as_of``: when
    the notice changed under every read, the pairing is unsure, so nothing is kept (the
    snapshot is still served while the cache answers); the next settled read keeps it."""
    from visitors import changes, live

    current, calls = changes.current(), [0]

    def changing() -> changes.Notice:
        calls[0] += 1
        return replace(current, version=current.version + calls[0])

    monkeypatch.setattr(changes, "current", changing)
    responses = LiveResponses(memo_s=1.0, clock=lambda: 100.0, watch=False)
    responses.tick()
    assert calls[0] == 1 + live._RELOAD_TRIES and responses.lookup(TODAY) is not None
    assert live.kept_copy(TODAY, today=published.date()) is None
    monkeypatch.setattr(changes, "current", lambda: current)
    responses.tick()
    assert live.kept_copy(TODAY, today=published.date()) is not None


def test_a_copy_the_cache_has_not_confirmed_lately_is_not_served(published):
    clock = [100.0]
    live = LiveResponses(memo_s=1.0, clock=lambda: clock[0], watch=False)
    live.tick()
    clock[0] += 0.9
    assert live.lookup(TODAY) is not None
    clock[0] += 0.2  # no tick for over HTTP_MEMO_MS: the cache may be gone
    assert live.lookup(TODAY) is None
    live.tick()
    assert live.lookup(TODAY) is not None


def test_a_copy_is_not_served_past_its_key_s_expiry(published):
    clock = [100.0]
    live = LiveResponses(memo_s=600.0, clock=lambda: clock[0], watch=False)
    live.tick()
    clock[0] += 61  # published with ttl=60
    assert live.lookup(TODAY) is None


def test_missing_or_garbage_rendered_bytes_fall_back_to_the_viewset(published):
    cache.set(keys.prerendered("today"), "no separator, no etag", 60)
    response = FrontClient().get(url("today"))
    assert json.loads(response.content) == {"total": 417, "source": "cache"}
    cache.delete(keys.prerendered("today"))
    assert json.loads(FrontClient().get(url("today")).content)["total"] == 417


def test_truncated_rendered_bytes_are_not_served(published):
    client = cache.client.get_client()
    client.set(keys.prerendered("summary"), b'"0123456789abcdef01234567"\n{"today": 1, "wee')
    response = FrontClient().get(url("summary"))
    assert response.status_code == 200
    assert json.loads(response.content)["today"] == 417  # the viewset's answer


@pytest.mark.parametrize(
    ("extra", "query"),
    [
        ({"HTTP_HOST": "evil.example"}, ""),
        ({}, "&".join(f"p{i}=1" for i in range(1500))),
    ],
    ids=["disallowed-host", "too-many-parameters"],
)
def test_the_fast_path_leaves_bad_requests_to_djangos_checks(published, extra, query):
    response = FrontClient().get(f"{url('today')}?{query}" if query else url("today"), **extra)
    assert response.status_code == 400


# --- CORS --------------------------------------------------------------------------------
@override_settings(CORS_ALLOWED_ORIGINS=[ORIGIN])
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "viewset"])
def test_cors_allows_the_configured_origin_only(published, fast):
    if not fast:
        _drop_rendered()
    allowed = FrontClient().get(url("summary"), HTTP_ORIGIN=ORIGIN)
    assert allowed["Access-Control-Allow-Origin"] == ORIGIN
    assert "etag" in allowed["Access-Control-Expose-Headers"].lower()
    other = FrontClient().get(url("summary"), HTTP_ORIGIN="https://evil.example")
    assert other.status_code == 200
    assert "Access-Control-Allow-Origin" not in other


@override_settings(CORS_ALLOWED_ORIGINS=[ORIGIN])
def test_cors_preflight_for_a_conditional_poll(published):
    response = FrontClient().options(
        url("summary"),
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="if-none-match",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "if-none-match" in response["Access-Control-Allow-Headers"]
    assert "POST" not in response["Access-Control-Allow-Methods"]


def test_no_cors_headers_by_default(published):
    response = FrontClient().get(url("today"), HTTP_ORIGIN=ORIGIN)
    assert "Access-Control-Allow-Origin" not in response


ROOT = Path(__file__).resolve().parent.parent


def _settings_with(**variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DOTENV_PATH": os.devnull,
        "SECRET_KEY": "x" * 50,
        "DJANGO_SETTINGS_MODULE": "library_dashboard.settings",
        **variables,
    }
    code = "import django; django.setup(); from django.conf import settings as s; print(s.CORS_ALLOWED_ORIGINS, s.VISITORS.HTTP_MAX_AGE, s.VISITORS.HTTP_MEMO_MS)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_cors_allowed_origins_are_validated():
    ok = _settings_with(CORS_ALLOWED_ORIGINS="https://a.example, http://b.example:8080")
    assert ok.returncode == 0, ok.stderr
    assert "['https://a.example', 'http://b.example:8080']" in ok.stdout
    for bad in ("a.example", "https://a.example/", "https://a.example/path", "ftp://a.example"):
        result = _settings_with(CORS_ALLOWED_ORIGINS=bad)
        assert result.returncode != 0
        assert "CORS_ALLOWED_ORIGINS" in result.stderr


def test_http_variables_are_validated():
    ok = _settings_with(HTTP_MAX_AGE="3", HTTP_MEMO_MS="0")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split()[-2:] == ["3", "0"]
    bad = _settings_with(HTTP_MAX_AGE="-1")
    assert bad.returncode != 0 and "HTTP_MAX_AGE" in bad.stderr


def test_the_openapi_schema_describes_304(db):
    schema = FrontClient().get("/docs/json").json()
    for name in NAMES:
        responses = schema["paths"][url(name)]["get"]["responses"]
        assert "304" in responses


def test_a_value_a_request_computed_is_pre_rendered_too(frozen, insert_visits, monkeypatch):
    """A stopped loop does not leave the service on the viewset's path: the request that
    computed a value on a miss stores its bytes, and the next request is answered from them."""
    insert_visits([NOW.replace(tzinfo=None, hour=9)] * 3)
    assert rendered.load(TODAY) is None
    first = FrontClient().get(url("today"))
    assert json.loads(first.content) == {"total": 3, "source": "db"}
    assert rendered.load(TODAY) is not None

    def boom(*args, **kwargs):
        raise AssertionError("the viewset was called")

    monkeypatch.setattr(serving, "response_body", boom)
    again = FrontClient().get(url("today"))
    assert again.status_code == 200 and json.loads(again.content)["total"] == 3
