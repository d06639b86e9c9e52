"""The dashboard at ``/`` in headless Chromium, against the live server, MariaDB and Redis.

The browser runs in UTC while the library is in Asia/Jakarta: dates must not shift.
Screenshots go to ``test-artifacts/``; ``docs/dashboard-*.png`` are copies of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, time, timedelta
from time import monotonic

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import Page, expect

from tests.e2e.browser import DESKTOP, PHONE, WALL, OpenPage, screenshot
from tests.processes import Server, services_env
from visitors.clock import local_now
from visitors.seeding import DEMO_SEED, demo_days, seed_visitors

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "visitors"]),
]

POLL_MS = 300
UPDATE_TIMEOUT_MS = 10_000
SUMMARY_PATTERN = "**/api/visitors/summary*"


def _delete_rows() -> None:
    with connections["visitors"].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")


@pytest.fixture(autouse=True)
def fast_poll(settings) -> None:
    settings.VISITORS = replace(settings.VISITORS, DASHBOARD_POLL_MS=POLL_MS)


@pytest.fixture
def visitor_rows() -> Iterator[None]:
    """An empty visitor table, emptied again afterwards (transaction tests don't roll back
    the unmanaged table)."""
    _delete_rows()
    yield
    _delete_rows()


def insert_today(count: int) -> None:
    now = local_now().replace(tzinfo=None, microsecond=0)
    midnight = now.replace(hour=0, minute=0, second=0)
    moments = [max(midnight, now - timedelta(minutes=i + 1)) for i in range(count)]
    with connections["visitors"].cursor() as cursor:
        cursor.executemany(
            "INSERT INTO visitor_count (member_id, member_name, institution, room_code, "
            "checkin_date) VALUES (%s, %s, %s, %s, %s)",
            [
                ("ENG2400001", "Dewi Lestari", "Faculty of Engineering", "READ-1", m)
                for m in moments
            ],
        )


def run_sync_loop_once() -> None:
    call_command("runsyncloop", "--once")


def api_summary(page: Page, base_url: str) -> dict:
    response = page.request.get(f"{base_url}/api/visitors/summary")
    assert response.ok
    return response.json()


def displayed_today(page: Page) -> int:
    return int(page.locator("#today-count").get_attribute("data-value"))


def wait_live(page: Page) -> None:
    expect(page.locator("#dashboard")).to_have_attribute("data-state", "live")
    expect(page.locator("#chart-monthly .bar")).to_have_count(12)


def test_shows_the_api_numbers_and_updates_in_place(open_page: OpenPage, live_server, visitor_rows):
    insert_today(5)
    run_sync_loop_once()

    opened = open_page("/")
    page = opened.page
    wait_live(page)
    summary = api_summary(page, live_server.url)
    assert summary["today"] == 5
    assert displayed_today(page) == summary["today"]
    expect(page.locator("#today-count")).to_have_text("5")
    for name, bars in (("weekly", 7), ("monthly", 12), ("yearly", 5)):
        expect(page.locator(f"#chart-{name} .bar")).to_have_count(bars)
        expect(page.locator(f"#chart-{name} svg")).to_have_attribute("role", "img")
        expect(page.locator(f"#chart-{name} table tbody tr")).to_have_count(bars)
    # Library-calendar dates, although the browser runs in UTC (7 hours behind Jakarta).
    today = local_now().date()
    expected_day = f"{today:%A}, {today:%B} {today.day}, {today.year}"
    expect(page.locator("#today-date")).to_have_text(expected_day)
    last_row = page.locator("#chart-weekly table tbody tr").last
    expect(last_row).to_contain_text(f"{today:%B} {today.day}")
    expect(last_row).to_contain_text("5")
    expect(page.locator("#chart-weekly svg")).to_have_attribute(
        "aria-label", re.compile(rf"{today:%A}, {today:%B} {today.day}, {today.year} 5 visitors$")
    )
    page.locator("#chart-weekly .slot").last.hover()
    expect(page.locator("#chart-weekly .tooltip")).to_be_visible()
    expect(page.locator("#chart-weekly .tooltip")).to_have_text(
        f"{today:%A}, {today:%B} {today.day}, {today.year}: 5 visitors"
    )
    page.evaluate("document.documentElement.dataset.marker = 'same page'")

    insert_today(3)
    run_sync_loop_once()

    expect(page.locator("#today-count")).to_have_text("8", timeout=UPDATE_TIMEOUT_MS)
    assert api_summary(page, live_server.url)["today"] == 8
    expect(last_row).to_contain_text("8")
    assert page.evaluate("document.documentElement.dataset.marker") == "same page", "no reload"
    assert opened.log.console_errors == []
    assert opened.log.page_errors == []
    assert opened.log.external_requests == []


def test_revalidates_with_the_etag_the_api_sends(open_page: OpenPage, live_server, visitor_rows):
    """Whatever the API sends as ETag comes back as If-None-Match; a 304 keeps the numbers."""
    insert_today(2)
    run_sync_loop_once()
    opened = open_page("/")
    page = opened.page
    wait_live(page)
    body = json.dumps(api_summary(page, live_server.url))
    seen_if_none_match: list[str | None] = []

    def with_etag(route) -> None:
        sent = route.request.headers.get("if-none-match")
        seen_if_none_match.append(sent)
        if sent == '"v1"':
            route.fulfill(status=304, headers={"ETag": '"v1"'})
        else:
            route.fulfill(
                status=200, body=body, content_type="application/json", headers={"ETag": '"v1"'}
            )

    page.route(SUMMARY_PATTERN, with_etag)
    deadline = monotonic() + UPDATE_TIMEOUT_MS / 1000
    while len(seen_if_none_match) < 4 and monotonic() < deadline:
        page.wait_for_timeout(POLL_MS)

    assert seen_if_none_match[0] != '"v1"'  # the first poll knew only the real ETag, or none
    assert '"v1"' in seen_if_none_match[1:], seen_if_none_match
    expect(page.locator("#dashboard")).to_have_attribute("data-state", "live")
    expect(page.locator("#today-count")).to_have_text("2")
    assert opened.log.page_errors == []


def test_shows_stale_when_the_api_fails_and_recovers(
    open_page: OpenPage, live_server, visitor_rows
):
    insert_today(4)
    run_sync_loop_once()
    opened = open_page("/")
    page = opened.page
    wait_live(page)
    expect(page.locator("#stale-badge")).to_be_hidden()

    page.route(
        SUMMARY_PATTERN,
        lambda route: route.fulfill(
            status=503, content_type="application/json", body='{"detail": "unavailable"}'
        ),
    )

    expect(page.locator("#dashboard")).to_have_attribute(
        "data-state", "stale", timeout=UPDATE_TIMEOUT_MS
    )
    expect(page.locator("#status-text")).to_contain_text("Stale")
    expect(page.locator("#status-text")).to_contain_text("HTTP 503")
    expect(page.locator("#stale-badge")).to_be_visible()
    expect(page.locator("#today-count")).to_have_text("4")  # the last numbers stay
    expect(page.locator("#chart-weekly .bar")).to_have_count(7)
    screenshot(page, "dashboard-stale-desktop", full_page=False)

    page.unroute(SUMMARY_PATTERN)
    expect(page.locator("#dashboard")).to_have_attribute(
        "data-state", "live", timeout=UPDATE_TIMEOUT_MS
    )
    expect(page.locator("#stale-badge")).to_be_hidden()
    assert opened.log.page_errors == []


def test_degraded_when_the_api_marks_its_values_stale(
    open_page: OpenPage, live_server, visitor_rows
):
    """A later API may serve last good values with ``"stale": true`` and ``"as_of"``."""
    insert_today(1)
    run_sync_loop_once()
    opened = open_page("/")
    page = opened.page
    wait_live(page)
    body = api_summary(page, live_server.url)
    body.update(stale=True, as_of="2024-03-05T09:15:00+07:00")

    page.route(
        SUMMARY_PATTERN,
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(body)
        ),
    )

    expect(page.locator("#dashboard")).to_have_attribute(
        "data-state", "degraded", timeout=UPDATE_TIMEOUT_MS
    )
    expect(page.locator("#stale-badge")).to_have_text("degraded")
    # as_of is shown in the library's zone (the browser is in UTC).
    expect(page.locator("#as-of")).to_contain_text("09:15:00")
    expect(page.locator("#as-of")).to_contain_text("Mar 5")
    assert opened.log.page_errors == []


def test_shows_service_health_without_doubting_the_numbers(
    open_page: OpenPage, live_server, visitor_rows
):
    """/health's verdict is about the service (loop, cache); the numbers stay live."""
    insert_today(1)
    run_sync_loop_once()
    health = {"status": "degraded", "reasons": ["sync-loop heartbeat older than 15s"]}

    def degraded_health(page: Page) -> None:
        page.route(
            "**/health",
            lambda route: route.fulfill(
                status=200, content_type="application/json", body=json.dumps(health)
            ),
        )

    opened = open_page("/", before_load=degraded_health)
    page = opened.page

    expect(page.locator("#status-health")).to_have_text(
        "service degraded: sync-loop heartbeat older than 15s", timeout=UPDATE_TIMEOUT_MS
    )
    expect(page.locator("#dashboard")).to_have_attribute("data-state", "live")
    assert opened.log.page_errors == []


@pytest.fixture
def mid_afternoon() -> Iterator[datetime]:
    """Today at 14:30 in the library (server side only; the browser keeps its own clock), so
    the pictures show a typical day whenever the test runs."""
    afternoon = datetime.combine(local_now().date(), time(14, 30), tzinfo=local_now().tzinfo)
    with time_machine.travel(afternoon, tick=True):
        yield afternoon


def test_screenshots_desktop_phone_and_dark(
    open_page: OpenPage, live_server, visitor_rows, mid_afternoon, settings
):
    """Realistic data (five years of a university library's gate log) for the pictures."""
    settings.VISITORS = replace(
        settings.VISITORS, DASHBOARD_POLL_MS=5000
    )  # the default, as the pictures say
    now = local_now().replace(tzinfo=None)
    assert now.hour == 14
    seed_visitors(
        rows=400_000, days=demo_days(now.date()), seed=DEMO_SEED, now=now, existing="truncate"
    )
    run_sync_loop_once()

    desktop = open_page("/", viewport=DESKTOP)
    wait_live(desktop.page)
    assert displayed_today(desktop.page) == api_summary(desktop.page, live_server.url)["today"]
    screenshot(desktop.page, "dashboard-desktop", full_page=False)

    phone = open_page("/", viewport=PHONE)
    wait_live(phone.page)
    overflow = phone.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "no sideways scrolling on a phone"
    screenshot(phone.page, "dashboard-phone")

    wall = open_page("/", viewport=WALL)
    wait_live(wall.page)
    screenshot(wall.page, "dashboard-wall", full_page=False)

    dark = open_page("/", viewport=DESKTOP, color_scheme="dark")
    wait_live(dark.page)
    screenshot(dark.page, "dashboard-desktop-dark", full_page=False)
    background = dark.page.evaluate("getComputedStyle(document.body).backgroundColor")
    light_background = desktop.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != light_background
    assert _luminance(background) < 0.2 < _luminance(light_background)

    for opened in (desktop, phone, wall, dark):
        assert opened.log.console_errors == []
        assert opened.log.external_requests == []


def _luminance(css_rgb: str) -> float:
    red, green, blue = (int(v) / 255 for v in re.findall(r"\d+", css_rgb)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_phone_layout_stacks_the_cards(open_page: OpenPage, live_server, visitor_rows):
    insert_today(1)
    run_sync_loop_once()
    page = open_page("/", viewport=PHONE).page
    wait_live(page)
    boxes = [
        page.locator(selector).bounding_box()
        for selector in (".today", "#chart-weekly", "#chart-monthly", "#chart-yearly")
    ]
    lefts = {round(box["x"]) for box in boxes}
    assert len(lefts) == 1, "one column"
    tops = [box["y"] for box in boxes]
    assert tops == sorted(tops)


# --- live push -----------------------------------------------------------------------------
@pytest.fixture
def streams_server(tmp_path, settings) -> Iterator[Server]:
    """A real streams server on the same MariaDB and Redis; the page reaches it through the
    web side's redirect (the live server), as under ``make run``."""
    server = Server(
        "streams",
        env=services_env(tmp_path, STREAM_KEEPALIVE_S="1"),
        log=tmp_path / "streams.log",
        port_from=4300,
    ).start()
    settings.VISITORS = replace(settings.VISITORS, STREAM_PORT=server.port)
    yield server
    if server.process is not None:
        server.stop()


def test_the_count_changes_over_the_stream_without_a_reload(
    open_page: OpenPage, live_server, visitor_rows, streams_server
):
    insert_today(2)
    run_sync_loop_once()
    polls: list[str] = []
    opened = open_page("/", streams=f"http://localhost:{streams_server.port}")
    page = opened.page
    page.on("request", lambda r: polls.append(r.url) if "/api/visitors/summary" in r.url else None)
    wait_live(page)
    expect(page.locator("#dashboard")).to_have_attribute("data-transport", "live")
    expect(page.locator("#status-transport")).to_have_text("live: pushed by the server")
    polls.clear()
    # Set before the change: a reload would drop it.
    page.evaluate("document.documentElement.dataset.marker = 'same page'")

    insert_today(3)
    run_sync_loop_once()
    expect(page.locator("#today-count")).to_have_text("5", timeout=UPDATE_TIMEOUT_MS)
    assert polls == []  # pushed, not polled
    assert page.evaluate("document.documentElement.dataset.marker") == "same page"
    assert opened.log.page_errors == []
    assert opened.log.external_requests == []


def test_killing_the_stream_falls_back_to_polling(
    open_page: OpenPage, live_server, visitor_rows, streams_server
):
    insert_today(2)
    run_sync_loop_once()
    opened = open_page("/", streams=f"http://localhost:{streams_server.port}")
    page = opened.page
    wait_live(page)
    expect(page.locator("#dashboard")).to_have_attribute("data-transport", "live")

    streams_server.stop()
    expect(page.locator("#dashboard")).to_have_attribute(
        "data-transport", "polling", timeout=UPDATE_TIMEOUT_MS
    )
    expect(page.locator("#status-transport")).to_contain_text("polling every")
    insert_today(4)
    run_sync_loop_once()
    expect(page.locator("#today-count")).to_have_text("6", timeout=UPDATE_TIMEOUT_MS)
    assert opened.log.page_errors == []


def test_rankings_show_faculty_bars_and_members_masked_unless_staff(
    open_page: OpenPage, live_server, visitor_rows
):
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    insert_today(3)
    with connections["visitors"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO visitor_count (member_id, member_name, institution, room_code, "
            "checkin_date) VALUES ('LAW2400002', 'Budi Santoso', NULL, 'READ-1', %s)",
            [local_now().replace(tzinfo=None, microsecond=0, hour=0, minute=0, second=1)],
        )
    run_sync_loop_once()
    opened = open_page("/")
    page = opened.page
    expect(page.locator("#rankings")).to_have_attribute("data-state", "ready")
    expect(page.locator("#faculty-bars li")).to_have_count(2)
    expect(page.locator("#faculty-bars li").first).to_contain_text("Faculty of Engineering")
    expect(page.locator("#faculty-bars li").first).to_contain_text("3")
    expect(page.locator("#faculty-bars li").last).to_contain_text("No institution")
    expect(page.locator("#visitor-list li")).to_have_count(2)
    expect(page.locator("#visitor-list li").first).to_contain_text("D. L.")
    expect(page.locator("#visitor-privacy")).to_be_visible()
    assert "Dewi" not in page.locator("#rankings").inner_text()
    assert "ENG2400001" not in page.locator("#rankings").inner_text()
    page.locator('[data-period="year"]').click()
    expect(page.locator("#rankings h3").first).to_contain_text("this year")
    expect(page.locator("#visitor-list li").first).to_contain_text("D. L.")
    screenshot(page, "dashboard-rankings")

    staff = Client()
    staff.force_login(User.objects.create_user("clerk", password="pw", is_staff=True))
    session = staff.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    page.reload()
    expect(page.locator("#visitor-list li").first).to_contain_text("Dewi Lestari")
    expect(page.locator("#visitor-list li").first).to_contain_text("ENG2400001")
    expect(page.locator("#visitor-privacy")).to_be_hidden()
    assert opened.log.console_errors == []
    assert opened.log.page_errors == []
