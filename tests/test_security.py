"""Hardened defaults and hostile input: start-up checks, deploy checks, headers, read-only
API, rate limit, and a database account that can only SELECT."""

from __future__ import annotations

import secrets
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import MySQLdb
import pytest
import time_machine
from django.db import connections

from tests.processes import clean_env, manage
from visitors import cache, publishing
from visitors.api.throttling import AnonRateThrottle
from visitors.api.views import VisitorCountsViewSet
from visitors.publishing import CycleFacts

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = ("today", "weekly", "monthly", "yearly", "summary")
NOW = datetime(2026, 3, 10, 14, 30, tzinfo=ZoneInfo("Asia/Jakarta"))

pytestmark = pytest.mark.django_db(databases=["default", "visitors"])


def url(name: str) -> str:
    return f"/api/visitors/{name}"


# -- start-up and deploy checks (real processes, production settings module) -----------


def run_django(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` on the embedded default, with only the given project variables."""
    return manage(
        *args,
        env=clean_env(
            VAR_DIR=str(tmp_path / "var"),
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
            **env,
        ),
    )


@pytest.mark.slow
@pytest.mark.parametrize("secret", [None, "", "insecure-dev-key-change-me"])
def test_start_up_refuses_a_missing_or_default_secret_key_without_debug(tmp_path, secret):
    env = {"DEBUG": "false"} if secret is None else {"DEBUG": "false", "SECRET_KEY": secret}
    result = run_django(tmp_path, ["check"], **env)
    assert result.returncode != 0
    assert "manage.py: not starting: SECRET_KEY is missing" in result.stderr
    assert "Traceback" not in result.stderr  # one line a newcomer can act on


@pytest.mark.slow
def test_debug_is_off_unless_asked_and_then_a_dev_key_is_allowed(tmp_path):
    shell = "from django.conf import settings; print(settings.DEBUG)"
    result = run_django(tmp_path, ["shell", "-c", shell], SECRET_KEY="x" * 60)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr
    result = run_django(tmp_path, ["shell", "-c", shell], DEBUG="true")
    assert result.stdout.strip().splitlines()[-1] == "True", result.stderr


PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "dashboard.library.example",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_PROXY_SSL_HEADER": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


@pytest.mark.slow
def test_check_deploy_passes_with_the_documented_production_settings(tmp_path):
    result = run_django(
        tmp_path,
        ["check", "--deploy", "--fail-level", "WARNING"],
        SECRET_KEY=secrets.token_urlsafe(50),
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_flags_missing_https_settings(tmp_path):
    result = run_django(
        tmp_path,
        ["check", "--deploy", "--fail-level", "WARNING"],
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="false",
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_ANON_RATE", "lots"),
        ("API_ANON_RATE", "120/fortnight"),
        ("SECURE_HSTS_SECONDS", "-1"),
        ("REDIS_TIMEOUT_MS", "0"),
        ("OUTAGE_RETRY_MS", "soon"),
        ("SECURE_SSL_REDIRECT", "maybe"),
    ],
)
def test_bad_values_stop_start_up_naming_the_variable(tmp_path, name, value):
    result = run_django(tmp_path, ["check"], SECRET_KEY="x" * 60, **{name: value})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(f"manage.py: not starting: {name}=")
    assert "Traceback" not in result.stderr


# -- headers and methods ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/visitors/today"),
        ("get", "/api/visitors/summary"),
        ("post", "/api/visitors/today"),
        ("get", "/api/visitors/nothing-here"),
        ("get", "/docs/json"),
        ("get", "/docs"),
        ("get", "/admin/login/"),
        ("get", "/"),
    ],
)
def test_security_headers_on_every_response(client, method, path):
    response = getattr(client, method)(path)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("name", ENDPOINTS)
def test_security_headers_on_published_responses(client, name):
    """Also on what the sync loop published (served without the viewset)."""
    publishing.publish(CycleFacts.of(now=NOW, closed={}, today_count=7), ttl=60)
    with time_machine.travel(NOW, tick=True):
        response = client.get(url(name))
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_api_responses_isolate_the_browsing_context(client):
    assert client.get(url("today"))["Cross-Origin-Opener-Policy"] == "same-origin"


def test_hsts_and_secure_cookies_when_configured(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get(url("today"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    from django.conf import settings as live

    assert live.SESSION_COOKIE_SECURE and live.CSRF_COOKIE_SECURE  # DEBUG is off in tests


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_api_is_read_only(client, name, method):
    response = getattr(client, method)(url(name), data=b"x" * 100_000, content_type="text/plain")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json()["code"] == "method_not_allowed"
    assert set(response.json()) == {"detail", "code"}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_get_head_and_options_are_allowed(client, name):
    assert client.get(url(name)).status_code == 200
    head = client.head(url(name))
    assert head.status_code == 200 and head.content == b""
    assert client.options(url(name)).status_code == 200


# -- hostile and odd input -------------------------------------------------------------


@pytest.fixture
def visits(insert_visits):
    with time_machine.travel(NOW, tick=True):
        insert_visits([NOW.replace(tzinfo=None) - timedelta(minutes=5)] * 3)
        yield


@pytest.mark.parametrize(
    "query",
    [
        "format=xml",
        "format=api",
        "callback=alert(1)",
        "today=1%27%20OR%201%3D1%3B%20DROP%20TABLE%20visitor_count%3B--",
        "start=2020-01-01&end=2030-01-01&limit=-1",
        "%zz=%zz&a",
        "&".join(f"p{i}={i}" for i in range(900)),  # under DATA_UPLOAD_MAX_NUMBER_FIELDS
    ],
)
def test_unknown_query_parameters_are_ignored(visits, client, query):
    plain = client.get(url("summary")).json()
    response = client.get(f"{url('summary')}?{query}")
    assert response.status_code == 200
    assert {k: v for k, v in response.json().items() if k != "source"} == {
        k: v for k, v in plain.items() if k != "source"
    }
    with connections["visitors"].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM visitor_count")
        assert cursor.fetchone() == (3,)


@pytest.mark.parametrize(
    "path",
    [
        "/api/visitors/today'%20OR%201=1--",
        "/api/visitors/today;DROP%20TABLE%20visitor_count",
        "/api/visitors/%00",
        "/api/visitors/" + "a" * 5000,
        "/api/visitors/../../etc/passwd",
    ],
)
def test_unknown_paths_are_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_too_many_query_parameters_is_a_json_400(client):
    query = "&".join(f"p{i}={i}" for i in range(2000))  # past DATA_UPLOAD_MAX_NUMBER_FIELDS
    response = client.get(f"{url('summary')}?{query}")
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "bad_request"}


def test_a_bad_host_header_is_a_json_400(client):
    response = client.get(url("today"), HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "bad_request"}


def test_an_accept_header_without_json_is_a_json_406(client):
    response = client.get(url("today"), HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"


# -- rate limit ------------------------------------------------------------------------


@pytest.fixture
def throttled(monkeypatch):
    monkeypatch.setattr(VisitorCountsViewSet, "throttle_classes", [AnonRateThrottle])
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/min"})
    cache.breaker.reset()
    yield
    cache.breaker.reset()


def test_anonymous_rate_limit_answers_429_json(client, throttled):
    assert [client.get(url("today")).status_code for _ in range(3)] == [200] * 3
    response = client.get(url("today"))
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    other = client.get(url("today"), REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 200  # per client address


def test_rate_limit_fails_open_while_the_cache_is_down(client, throttled, settings, tmp_path):
    from tests.services import closed_port

    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    statuses = [client.get(url("today")).status_code for _ in range(6)]
    assert statuses == [200] * 6


def test_rate_limit_setting_installs_the_throttle(tmp_path):
    code = "from django.conf import settings; r = settings.REST_FRAMEWORK; print(r['DEFAULT_THROTTLE_CLASSES'], r['DEFAULT_THROTTLE_RATES'])"
    result = run_django(
        tmp_path, ["shell", "-c", code], SECRET_KEY="x" * 60, API_ANON_RATE="120/min"
    )
    assert result.stdout.strip().splitlines()[-1] == (
        "['visitors.api.throttling.AnonRateThrottle'] {'anon': '120/min'}"
    ), result.stderr
    result = run_django(
        tmp_path,
        [
            "shell",
            "-c",
            "from django.conf import settings; print('DEFAULT_THROTTLE_CLASSES' in settings.REST_FRAMEWORK)",
        ],
        SECRET_KEY="x" * 60,
    )
    assert result.stdout.strip().splitlines()[-1] == "False"


# -- least privilege -------------------------------------------------------------------

SELECT_ONLY_USER = "ld_rel_select_only"


@pytest.fixture
def select_only_account():
    """A MariaDB account with SELECT on the test visitor table, and nothing else."""
    visitors = connections["visitors"].settings_dict
    password = secrets.token_urlsafe(16)
    admin = MySQLdb.connect(
        host=visitors["HOST"],
        port=int(visitors["PORT"]),
        user=visitors["USER"],
        password=visitors["PASSWORD"],
    )
    cursor = admin.cursor()
    cursor.execute(f"DROP USER IF EXISTS '{SELECT_ONLY_USER}'@'%'")
    cursor.execute(f"CREATE USER '{SELECT_ONLY_USER}'@'%%' IDENTIFIED BY %s", [password])
    cursor.execute(
        f"GRANT SELECT ON `{visitors['NAME']}`.`visitor_count` TO '{SELECT_ONLY_USER}'@'%'"
    )
    try:
        yield SELECT_ONLY_USER, password
    finally:
        cursor.execute(f"DROP USER IF EXISTS '{SELECT_ONLY_USER}'@'%'")
        admin.close()


@pytest.mark.django_db(transaction=True, databases=["default", "visitors"])
def test_the_api_runs_with_a_select_only_database_account(
    insert_visits, select_only_account, client
):
    with time_machine.travel(NOW, tick=True):
        insert_visits([NOW.replace(tzinfo=None) - timedelta(minutes=5)] * 3)
        insert_visits([NOW.replace(tzinfo=None) - timedelta(days=2)] * 2)
        connection = connections["visitors"]
        original = dict(connection.settings_dict)
        connection.close()
        connection.settings_dict["USER"], connection.settings_dict["PASSWORD"] = select_only_account
        try:
            answers = {name: client.get(url(name)) for name in ENDPOINTS}
            with connection.cursor() as cursor:
                cursor.execute("SELECT CURRENT_USER()")
                assert cursor.fetchone()[0].startswith(SELECT_ONLY_USER)
                with pytest.raises(Exception, match="command denied"):
                    cursor.execute("DELETE FROM visitor_count")
        finally:
            connection.close()
            connection.settings_dict.update(original)
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(ENDPOINTS, 200)
    assert answers["today"].json() == {"total": 3, "source": "db"}
    assert answers["weekly"].json()["days"][-3:] == [
        {"date": "2026-03-08", "total": 2},
        {"date": "2026-03-09", "total": 0},
        {"date": "2026-03-10", "total": 3},
    ]
    assert answers["summary"].json()["today"] == 3
