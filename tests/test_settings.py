"""library_dashboard/env.py and settings.py: every variable validated, named in the error."""

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from library_dashboard.env import Env
from tests.processes import ROOT, clean_env, manage


def test_cron_accepts_five_fields_and_the_old_six_field_form_with_zero_seconds():
    assert Env({"C": "5 0 * * *"}).cron("C", "x") == ("5", "0", "*", "*", "*")
    assert Env({"C": "0 5 0 * * *"}).cron("C", "x") == ("5", "0", "*", "*", "*")
    assert Env({}).cron("C", "*/10 1-3 * * mon-fri") == ("*/10", "1-3", "*", "*", "mon-fri")


@pytest.mark.parametrize("value", ["*/5 5 0 * * *", "5 0 * *", "every day", "5 0 * * * * *"])
def test_cron_rejects_anything_else(value):
    with pytest.raises(ImproperlyConfigured, match="VISITOR_SLOW_CRON"):
        Env({"VISITOR_SLOW_CRON": value}).cron("VISITOR_SLOW_CRON", "5 0 * * *")


@pytest.mark.parametrize(
    ("method", "value", "message"),
    [
        ("bool", "maybe", "USE_ORM='maybe' is not a boolean"),
        ("int", "-5", "must be at least 0"),
        ("int", "fast", "is not an integer"),
    ],
)
def test_scalar_errors_name_the_variable(method, value, message):
    env = Env({"USE_ORM": value})
    with pytest.raises(ImproperlyConfigured, match=message):
        getattr(env, method)("USE_ORM", 0) if method == "int" else env.bool("USE_ORM", False)


def test_choice_lists_the_accepted_values():
    with pytest.raises(ImproperlyConfigured, match="direct, incremental, delta"):
        Env({"TODAY_COUNT_MODE": "turbo"}).choice(
            "TODAY_COUNT_MODE", "direct", ("direct", "incremental", "delta")
        )


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:6379",
        "redis://host:notaport",
        "localhost",
        "redis://[::1",
        "redis://127.0.0.1:6379/abc",
    ],
)
def test_malformed_redis_url_is_rejected(url):
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        Env({"REDIS_URL": url}).redis_url("REDIS_URL")


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379", "redis://h:6379/15", "rediss://h/0", "unix:///tmp/r.sock"]
)
def test_good_redis_urls_pass(url):
    assert Env({"REDIS_URL": url}).redis_url("REDIS_URL") == url


def test_a_bad_django_database_url_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DATABASE_URL='foo://bar'"):
        Env({"DJANGO_DATABASE_URL": "foo://bar"}).database_url("DJANGO_DATABASE_URL", "x")


def test_time_zone_must_exist():
    assert (
        Env({"TIME_ZONE": "America/Sao_Paulo"}).time_zone("TIME_ZONE", "UTC") == "America/Sao_Paulo"
    )
    with pytest.raises(ImproperlyConfigured, match="TIME_ZONE"):
        Env({"TIME_ZONE": "Mars/Olympus"}).time_zone("TIME_ZONE", "UTC")


def _check(tmp_path, **env: str) -> subprocess.CompletedProcess:
    return manage("check", env=clean_env(VAR_DIR=str(tmp_path), **env), timeout=60)


def test_embedded_default_starts_with_no_services_configured(tmp_path):
    result = _check(tmp_path, DEBUG="true")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("dotenv_path", "file"), [("", ".env"), (" ", ".env"), ("{dir}/other.env", "other.env")]
)
def test_an_empty_dotenv_path_reads_the_default_env_file(tmp_path, dotenv_path, file):
    """Empty, as in .env.example, means ``.env`` in the project root (``base_dir``, here
    ``tmp_path``); the real environment still wins."""
    (tmp_path / file).write_text("DOTENV_PROBE=from-the-file\nDOTENV_REAL=from-the-file\n")
    read = (
        "import os, pathlib; from library_dashboard.env import load_dotenv_file;"
        f"load_dotenv_file(pathlib.Path({str(tmp_path)!r}));"
        "print(os.environ.get('DOTENV_PROBE'), os.environ.get('DOTENV_REAL'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", read],
        cwd=ROOT,
        env=clean_env(DOTENV_PATH=dotenv_path.format(dir=tmp_path), DOTENV_REAL="real"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["from-the-file", "real"], result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TODAY_COUNT_MODE", "sometimes"),
        ("VISITOR_SYNC_MIN_INTERVAL_MS", "-1"),
        ("VISITOR_SYNC_BUFFER_MS", "soon"),
        ("REDIS_URL", "redis://localhost:port"),
        ("REDIS_URL", "redis://[::1"),
        ("DJANGO_DATABASE_URL", "foo://bar"),
        ("VISITOR_SLOW_CRON", "*/5 * * * * *"),
        ("TIME_ZONE", "Nowhere/Land"),
        ("USE_ORM", "perhaps"),
        ("HTTP_MEMO_MS", "61000"),
        ("OUTAGE_RETRY_MS", "soon"),
        ("REDIS_SENTINELS", "10.0.0.7"),
        ("REDIS_SENTINELS", "10.0.0.7:26379,10.0.0.8:port"),
        ("HEALTH_DETAIL_ALLOWED", "intranet"),
        ("METRICS_TOKEN", "short"),
    ],
)
def test_invalid_values_stop_start_up_naming_the_variable(tmp_path, variable, value):
    result = _check(tmp_path, DEBUG="true", **{variable: value})
    assert result.returncode != 0
    assert result.stderr.startswith("manage.py: not starting: ")  # one line, no traceback
    assert len(result.stderr.splitlines()) == 1 and variable in result.stderr


def test_sentinels_are_host_ports_with_ipv6_in_brackets():
    env = Env({"S": "10.0.0.7:26379, sentinel-b:26380,[::1]:26381"})
    assert env.host_ports("S") == [("10.0.0.7", 26379), ("sentinel-b", 26380), ("::1", 26381)]
    assert Env({}).host_ports("S") == []
    with pytest.raises(ImproperlyConfigured, match="S="):
        Env({"S": "10.0.0.7:0"}).host_ports("S")


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"REDIS_SENTINELS": "127.0.0.1:26379"}, "REDIS_SENTINEL_MASTER=''"),
        (
            {"REDIS_SENTINELS": "127.0.0.1:26379", "REDIS_SENTINEL_MASTER": "a b"},
            "REDIS_SENTINEL_MASTER='a b'",
        ),
        (
            {
                "REDIS_SENTINELS": "127.0.0.1:26379",
                "REDIS_SENTINEL_MASTER": "dashboard",
                "REDIS_URL": "redis://127.0.0.1:6379/0",
            },
            "REDIS_URL or REDIS_SENTINELS, not both",
        ),
    ],
)
def test_sentinel_settings_that_cannot_work_stop_start_up(tmp_path, variables, message):
    result = _check(tmp_path, DEBUG="true", **variables)
    assert result.returncode != 0
    assert message in result.stderr.splitlines()[-1]


def test_without_debug_a_secret_key_is_required(tmp_path):
    result = _check(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is missing" in result.stderr


@pytest.mark.parametrize(
    ("kind", "variable", "value"),
    [
        ("web", "PORT", "70000"),
        ("web", "WEB_CONCURRENCY", "0"),
        ("web", "HTTP_HEADER_TIMEOUT_S", "soon"),
        ("streams", "STREAM_PORT", "0"),
        ("streams", "STREAM_MAX_CLIENTS", "-5"),
    ],
)
def test_the_servers_refuse_bad_values_naming_the_variable(tmp_path, kind, variable, value):
    """The server's own variables are read where it starts (library_dashboard/server.py)."""
    env = clean_env(VAR_DIR=str(tmp_path), DEBUG="true", **{variable: value})
    result = subprocess.run(
        [sys.executable, "-m", "library_dashboard.server", kind],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"{kind}: not starting:") and variable in result.stderr
