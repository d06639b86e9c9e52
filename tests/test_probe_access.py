"""visitors/api/probe_access.py: what /health shows to whom, and who may read /metrics.

Against the real MariaDB and Redis; "unreachable" is a real dead port. The last test runs
the real web server and connects from two loopback source addresses, so the address rule
is checked on the address granian reports, not on a test client's.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import replace
from ipaddress import ip_network
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache as django_cache

from tests.conftest import loop_config
from tests.processes import Server, services_env
from tests.services import redis_unreachable
from visitors import health, keys
from visitors.sync import SyncLoop

OUTSIDER = "203.0.113.7"  # TEST-NET-3: never in an allow list here
PUBLIC_KEYS = {"status", "reasons", "checked_at"}
TOKEN = "s3cret-metrics-token-0123456789"


@pytest.fixture(autouse=True)
def _fresh_probe():
    health.database_probe.forget()
    yield
    health.database_probe.forget()


@pytest.fixture
def allowed(settings):
    def allow(*networks: str, num_proxies: int = 0) -> None:
        settings.VISITORS = replace(
            settings.VISITORS, HEALTH_DETAIL_ALLOWED=tuple(ip_network(n) for n in networks)
        )
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}

    return allow


@pytest.fixture
def metrics_token(settings):
    settings.VISITORS = replace(settings.VISITORS, METRICS_TOKEN=TOKEN)


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("ops", password="pw", is_staff=True)


def failed_cycle_with_a_host_in_the_error() -> None:
    loop = SyncLoop(config=loop_config(interval=5.0, buffer=0.5, lock_ttl=10.0), mode="direct")
    assert loop.run(once=True)
    beat = django_cache.get(keys.SYNC_HEARTBEAT)
    error = "OperationalError: (2002, \"Can't connect to MySQL server on 'db7.internal' (111)\")"
    django_cache.set(keys.SYNC_HEARTBEAT, {**beat, "error": error}, None)


# -- /health ---------------------------------------------------------------------------


@pytest.mark.django_db(databases=["default", "visitors"])
def test_anonymous_callers_get_the_state_and_reason_classes_only(client):
    with redis_unreachable():
        response = client.get("/health", REMOTE_ADDR=OUTSIDER)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_KEYS
    assert body["status"] == "degraded"
    assert "cache unreachable" in body["reasons"]
    text = response.content.decode()
    for leak in ("127.0.0.1", "Error", "redis", "port", "latency"):
        assert leak not in text, leak


@pytest.mark.django_db(databases=["default", "visitors"])
def test_a_failed_cycles_error_is_only_a_class_for_anonymous_callers(insert_visits, client):
    insert_visits([])
    failed_cycle_with_a_host_in_the_error()
    public = client.get("/health", REMOTE_ADDR=OUTSIDER).json()
    assert public["reasons"] == ["last sync cycle failed"]
    assert "db7.internal" not in json.dumps(public)

    full = client.get("/health", REMOTE_ADDR="127.0.0.1").json()  # the default allow list
    assert any("db7.internal" in reason for reason in full["reasons"])
    assert "db7.internal" in full["loop"]["error"]


@pytest.mark.django_db(databases=["default", "visitors"])
def test_staff_see_everything_from_anywhere(client, staff):
    client.force_login(staff)
    with redis_unreachable():
        body = client.get("/health", REMOTE_ADDR=OUTSIDER).json()
    assert body["cache"]["reachable"] is False and "ConnectionError" in body["cache"]["error"]
    assert {"database", "cache", "loop", "keys"} <= set(body)


@pytest.mark.django_db(databases=["default", "visitors"])
@pytest.mark.parametrize(
    ("remote", "headers", "num_proxies", "detail"),
    [
        ("10.1.2.3", {}, 0, True),  # in 10.0.0.0/8
        ("10.1.2.3", {"HTTP_X_FORWARDED_FOR": "10.1.2.3"}, 0, False),  # an untold proxy
        ("10.1.2.3", {"HTTP_FORWARDED": "for=10.9.9.9"}, 0, False),
        ("10.1.2.3", {"HTTP_X_REAL_IP": "10.1.2.3"}, 0, False),
        ("127.0.0.1", {}, 0, False),  # not in this list
        (OUTSIDER, {}, 0, False),
        ("::ffff:10.1.2.3", {}, 0, True),  # IPv4-mapped
        ("2001:db8::5", {}, 0, True),
        # one proxy (on 127.0.0.1): the address it appended counts, nothing the client wrote
        ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": "10.1.2.3"}, 1, True),
        ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": OUTSIDER}, 1, False),
        ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": f"10.1.2.3, {OUTSIDER}"}, 1, False),
        ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": f"{OUTSIDER}, 10.1.2.3"}, 2, False),
        ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": "10.1.2.3"}, 2, False),  # too few hops
        ("10.1.2.3", {}, 1, True),  # a connection that did not pass the proxy
    ],
)
def test_addresses_in_health_detail_allowed_see_everything(
    client, allowed, remote, headers, num_proxies, detail
):
    allowed("10.0.0.0/8", "2001:db8::/32", num_proxies=num_proxies)
    body = client.get("/health", REMOTE_ADDR=remote, **headers).json()
    assert ("database" in body) is detail
    assert set(body) >= PUBLIC_KEYS


# -- /metrics --------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_without_a_token_are_for_staff_and_allowed_addresses(client, staff):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200  # default list
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR=OUTSIDER)
    assert refused.status_code == 403 and b"visitors_" not in refused.content
    proxied = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=OUTSIDER)
    assert proxied.status_code == 403  # a proxy on this host does not open it to the world
    client.force_login(staff)
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER).status_code == 200


@pytest.mark.django_db
def test_a_metrics_token_when_set_is_required(client, metrics_token, staff):
    missing = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x")
    assert wrong.status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    right = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert right.status_code == 200 and b"# TYPE" in right.content
    client.force_login(staff)
    assert client.get("/metrics").status_code == 401


def test_a_short_metrics_token_or_a_bad_network_stops_start_up():
    from django.core.exceptions import ImproperlyConfigured

    from library_dashboard.env import Env
    from visitors.conf import VisitorSettings

    with pytest.raises(ImproperlyConfigured, match="METRICS_TOKEN"):
        VisitorSettings.from_env(Env({"METRICS_TOKEN": "short"}))
    with pytest.raises(ImproperlyConfigured, match="HEALTH_DETAIL_ALLOWED="):
        VisitorSettings.from_env(Env({"HEALTH_DETAIL_ALLOWED": "10.0.0.0/8,intranet"}))
    parsed = VisitorSettings.from_env(Env({"HEALTH_DETAIL_ALLOWED": "10.0.0.1, fd00::/8"}))
    assert (ip_network("10.0.0.1/32"), ip_network("fd00::/8")) == parsed.HEALTH_DETAIL_ALLOWED
    assert (
        VisitorSettings.from_env(Env({"HEALTH_DETAIL_ALLOWED": "none"})).HEALTH_DETAIL_ALLOWED == ()
    )
    assert TOKEN not in repr(VisitorSettings.from_env(Env({"METRICS_TOKEN": TOKEN})))


# -- through the real server -----------------------------------------------------------


def _get_from(source: str, port: int, path: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return response.status, json.loads(body) if path == "/health" else {}
    finally:
        connection.close()


@pytest.mark.django_db(databases=["default", "visitors"])
def test_the_real_server_decides_on_the_socket_peer(tmp_path: Path):
    env = services_env(tmp_path, HEALTH_DETAIL_ALLOWED="127.0.0.2")
    with Server("web", env=env, log=tmp_path / "web.log", port_from=4420) as web:
        status, trusted = _get_from("127.0.0.2", web.port, "/health")
        assert status == 200 and "database" in trusted
        status, stranger = _get_from("127.0.0.1", web.port, "/health")
        assert status == 200 and set(stranger) == PUBLIC_KEYS
        assert _get_from("127.0.0.2", web.port, "/metrics")[0] == 200
        assert _get_from("127.0.0.1", web.port, "/metrics")[0] == 403
    assert "Traceback" not in (tmp_path / "web.log").read_text()
