"""The dashboard page at ``/`` (``visitors/dashboard.py``), through Django's test client.

What the page does in a browser (polling, charts, stale state) is tested in
``tests/e2e/test_dashboard_browser.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections
from django.test import Client

from visitors.clock import local_now

pytestmark = pytest.mark.django_db(databases=["default", "visitors"])


def _initial(html: str) -> dict:
    match = re.search(
        r'<script id="dashboard-initial" type="application/json">(.*?)</script>', html
    )
    assert match, "the initial summary is not embedded"
    return json.loads(match.group(1))


def _today_moments(count: int) -> list[datetime]:
    now = local_now().replace(tzinfo=None)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [max(midnight, now - timedelta(seconds=i + 1)) for i in range(count)]


def test_page_renders_with_the_current_summary(client, insert_visits):
    insert_visits(_today_moments(3))
    insert_visits([local_now().replace(tzinfo=None) - timedelta(days=2)])

    response = client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    initial = _initial(html)
    assert initial["summary"]["today"] == 3
    assert [day["total"] for day in initial["summary"]["weekly"]][-3:] == [1, 0, 3]
    assert len(initial["summary"]["monthly"]) == 12
    assert len(initial["summary"]["yearly"]) == 5
    assert datetime.fromisoformat(initial["rendered_at"]).utcoffset() == timedelta(hours=7)
    assert re.search(r'id="today-count"[^>]*>3<', html), "first paint has today's number"


def test_page_links_its_assets_and_api(client, insert_visits):
    html = client.get("/").content.decode()

    assert 'href="/static/visitors/dashboard.css"' in html
    assert 'src="/static/visitors/dashboard.js"' in html
    assert 'data-api-url="/api/visitors/summary"' in html
    assert 'data-time-zone="Asia/Jakarta"' in html
    assert 'href="/docs"' in html
    assert "http://" not in html and "https://" not in html, "no asset from another origin"
    for path in ("visitors/dashboard.css", "visitors/dashboard.js"):
        asset = client.get(f"/static/{path}")
        assert asset.status_code == 200, path


def test_poll_interval_comes_from_the_setting(client, settings, insert_visits):
    settings.VISITORS = replace(settings.VISITORS, DASHBOARD_POLL_MS=750)

    html = client.get("/").content.decode()

    assert 'data-poll-ms="750"' in html
    assert "or every 0.75&nbsp;s from" in html
    assert 'data-stream-url="/api/visitors/stream"' in html


def test_default_poll_interval_is_five_seconds(client, insert_visits):
    html = client.get("/").content.decode()

    assert 'data-poll-ms="5000"' in html


def test_admin_link_only_for_staff(client, insert_visits):
    users = get_user_model()
    assert 'href="/admin/"' not in client.get("/").content.decode()

    client.force_login(users.objects.create_user("reader", password="x"))
    assert 'href="/admin/"' not in client.get("/").content.decode()

    client.force_login(users.objects.create_user("librarian", password="x", is_staff=True))
    assert 'href="/admin/"' in client.get("/").content.decode()


def test_status_line_names_the_today_mode_and_db_layer(client, settings, insert_visits):
    settings.VISITORS = replace(settings.VISITORS, TODAY_COUNT_MODE="delta")
    settings.VISITORS = replace(settings.VISITORS, USE_ORM=True)

    html = client.get("/").content.decode()

    assert "Today's count: delta mode, ORM" in html


@pytest.mark.django_db(transaction=True, databases=["default", "visitors"])
def test_page_still_renders_when_the_database_is_down(client):
    """MariaDB unreachable and nothing cached: the page renders and its script will poll."""
    visitors_db = connections["visitors"]
    port = visitors_db.settings_dict["PORT"]
    visitors_db.close()
    visitors_db.settings_dict["PORT"] = 1  # nothing listens there: a real refused connection
    try:
        response = client.get("/")
    finally:
        visitors_db.close()
        visitors_db.settings_dict["PORT"] = port

    assert response.status_code == 200
    assert _initial(response.content.decode())["summary"] is None
    assert re.search(r'id="today-count"[^>]*>&ndash;<', response.content.decode())


def test_only_safe_methods(client):
    assert client.post("/").status_code == 405


def test_the_page_links_its_health_check(client, insert_visits):
    html = client.get("/").content.decode()

    assert 'data-health-url="/health"' in html


def test_collectstatic_with_production_storage(settings, tmp_path, insert_visits):
    """The production storage (WhiteNoise, hashed and compressed names) collects our assets,
    the page links the hashed names, and they are served with far-future cache headers."""
    settings.STATIC_ROOT = tmp_path
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    hashed_js = manifest["visitors/dashboard.js"]
    hashed_css = manifest["visitors/dashboard.css"]
    assert (tmp_path / f"{hashed_js}.gz").is_file()

    client = Client()  # a new handler, so WhiteNoise indexes the new STATIC_ROOT
    html = client.get("/").content.decode()
    assert f'src="/static/{hashed_js}"' in html
    assert f'href="/static/{hashed_css}"' in html

    asset = client.get(f"/static/{hashed_js}", headers={"accept-encoding": "gzip"})
    assert asset.status_code == 200
    assert asset["Content-Encoding"] == "gzip"
    assert "max-age=315360000" in asset["Cache-Control"]
    assert "immutable" in asset["Cache-Control"]


def test_page_has_the_rankings_card_with_its_four_endpoints(client, insert_visits):
    html = client.get("/").content.decode()
    assert 'id="rankings"' in html and "visitors/rankings.js" in html
    for path in (
        "/api/visitors/faculties/monthly/top",
        "/api/visitors/faculties/yearly/top",
        "/api/visitors/monthly/top",
        "/api/visitors/yearly/top",
    ):
        assert f'"{path}"' in html
    assert client.get("/static/visitors/rankings.js").status_code == 200
