"""The dashboard's hourly chart, comparison, rooms and heatmap, and the kiosk view at
``/kiosk``, in headless Chromium against the live server, MariaDB and Redis."""

from __future__ import annotations

from dataclasses import replace

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import WALL, OpenPage, screenshot
from tests.e2e.test_dashboard_browser import (
    POLL_MS,
    UPDATE_TIMEOUT_MS,
    displayed_today,
    insert_today,
    run_sync_loop_once,
    visitor_rows,  # noqa: F401
    wait_live,
)
from visitors.clock import local_now

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "visitors"]),
]


@pytest.fixture(autouse=True)
def fast(settings) -> None:
    settings.VISITORS = replace(settings.VISITORS, DASHBOARD_POLL_MS=POLL_MS, KIOSK_ROTATE_MS=2000)


def test_the_dashboard_shows_hours_comparison_rooms_and_heatmap(
    open_page: OpenPage,
    live_server,
    visitor_rows,  # noqa: F811
):
    insert_today(3)
    run_sync_loop_once()
    opened = open_page("/")
    page = opened.page
    wait_live(page)
    expect(page.locator("#dashboard")).to_have_attribute("data-heatmap-loaded", "true")
    expect(page.locator("#panel-hourly .hour-bar")).to_have_count(24)
    expect(page.locator("#panel-hourly .last-week-line")).to_have_count(1)
    bars = page.locator("#panel-hourly .hour-bar")
    total = sum(int(bars.nth(i).get_attribute("data-total")) for i in range(24))
    assert total == 3
    expect(page.locator("#compare-today")).to_have_text("3")
    expect(page.locator("#rooms-list li")).to_have_count(1)
    expect(page.locator("#rooms-list li")).to_contain_text("READ-1")
    expect(page.locator("#heatmap-slot tbody tr")).to_have_count(7)
    expect(page.locator("#heatmap-slot tbody td")).to_have_count(7 * 24)
    expect(page.locator("#hourly-peak")).to_contain_text("Busiest hour so far")
    screenshot(page, "dashboard-when-where", full_page=True)
    assert opened.log.console_errors == [] and opened.log.page_errors == []
    assert opened.log.external_requests == []


def test_the_kiosk_is_full_screen_large_without_links_rotating_and_live(
    open_page: OpenPage,
    live_server,
    visitor_rows,  # noqa: F811
):
    insert_today(2)
    run_sync_loop_once()
    opened = open_page("/kiosk", viewport=WALL)
    page = opened.page
    expect(page.locator("#dashboard")).to_have_attribute("data-state", "live")
    assert page.locator("a").count() == 0, "no links on the entrance screen"
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    size = page.evaluate(
        "parseFloat(getComputedStyle(document.getElementById('today-count')).fontSize)"
    )
    assert size >= 150, f"large type: {size}px"
    expect(page.locator("[data-rotate]:visible")).to_have_count(1)
    seen = set()
    for _ in range(4):
        panel = page.locator("#dashboard").get_attribute("data-panel")
        seen.add(panel)
        # Full screen whatever the panel: the page fills the viewport's height, no scrolling.
        box = page.locator("#dashboard").bounding_box()
        assert box and box["y"] == 0 and box["height"] >= WALL["height"] - 1, (panel, box)
        heights = page.evaluate("[document.documentElement.scrollHeight, window.innerHeight]")
        assert heights[0] <= heights[1], (panel, heights)
        page.wait_for_timeout(2100)
    assert {"panel-hourly", "panel-compare", "panel-rooms"} <= seen
    screenshot(page, "kiosk-wall", full_page=False)
    insert_today(4)
    run_sync_loop_once()
    expect(page.locator("#today-count")).to_have_text("6", timeout=UPDATE_TIMEOUT_MS)
    assert displayed_today(page) == 6
    assert opened.log.console_errors == [] and opened.log.page_errors == []


def test_the_indonesian_dashboard_and_kiosk(open_page: OpenPage, live_server, visitor_rows):  # noqa: F811
    insert_today(1234)
    run_sync_loop_once()
    opened = open_page("/", locale="id-ID")
    page = opened.page
    wait_live(page)
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.locator("#today-heading")).to_have_text("Pengunjung hari ini")
    expect(page.locator("#today-count")).to_have_text("1.234")  # Indonesian digit grouping
    today = local_now().date()
    months = [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ]
    days = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]
    expected = f"{days[today.weekday()]}, {today.day} {months[today.month - 1]} {today.year}"
    expect(page.locator("#today-date")).to_have_text(expected)
    expect(page.locator("#status-text")).to_have_text("Langsung")  # from the JS catalogue
    expect(page.locator("#chart-weekly figcaption h2")).to_have_text("7 hari terakhir")
    expect(page.locator("#compare-today")).to_have_text("1.234")
    expect(page.locator("#hourly-peak")).to_contain_text("Jam tersibuk sejauh ini")
    screenshot(page, "dashboard-id", full_page=True)
    kiosk = open_page("/kiosk", viewport=WALL, locale="id-ID").page
    expect(kiosk.locator("#today-heading")).to_have_text("Pengunjung hari ini")
    expect(kiosk.locator("#today-count")).to_have_text("1.234")
    assert opened.log.console_errors == [] and opened.log.page_errors == []
