"""The visitor admin and /docs in headless Chromium, against the live server and MariaDB.

A staff member logs in, opens the visitor list, searches, filters, opens a row; then the
API docs load. Screenshots go to ``test-artifacts/admin-*.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connections
from playwright.sync_api import Page, expect

from tests.e2e.browser import OpenPage, screenshot
from visitors.clock import local_now
from visitors.seeding import seed_visitors

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "visitors"]),
]

LONG_NAME = "Raden Ajeng " + "Sangat Panjang " * 7 + "Sekali"


def _delete_rows() -> None:
    with connections["visitors"].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")


@pytest.fixture
def visitor_rows() -> Iterator[None]:
    """500 synthetic check-ins over 30 days, plus a row of NULLs and a very long name."""
    _delete_rows()
    seed_visitors(rows=500, days=30, seed=5, now=local_now().replace(tzinfo=None))
    now = local_now().replace(tzinfo=None, microsecond=0)
    with connections["visitors"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO visitor_count (member_id, member_name, institution, room_code, "
            "checkin_date) VALUES (NULL, NULL, NULL, NULL, %s), ('LONG0001', %s, %s, NULL, %s)",
            [now, LONG_NAME[:128], "I" * 128, now],
        )
    yield
    _delete_rows()


@pytest.fixture
def clerk() -> User:
    user = User.objects.create_user("clerk", password="clerk-password", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_visitor"))
    return user


def _cells(page: Page, column: str) -> list[str]:
    page.wait_for_load_state()
    expect(page.locator("#changelist")).to_be_visible()
    return [
        text.strip() for text in page.locator(f"#result_list td.field-{column}").all_inner_texts()
    ]


def _log_in(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    page.fill("#id_username", "clerk")
    page.fill("#id_password", "clerk-password")
    page.click("input[type=submit]")


def test_staff_browses_searches_filters_and_opens_a_row(
    open_page: OpenPage, visitor_rows, clerk
) -> None:
    opened = open_page("/admin/visitors/visitor/")
    page = opened.page
    _log_in(page)
    expect(page.locator("#site-name")).to_contain_text("Library Dashboard administration")
    expect(page.locator("#result_list tbody tr")).to_have_count(100)
    expect(page.locator("p.paginator")).to_contain_text("502 visitor check-ins")
    ids = [int(text) for text in page.locator("#result_list th.field-visitor_id").all_inner_texts()]
    with connections["visitors"].cursor() as cursor:
        cursor.execute("SELECT MAX(visitor_id) FROM visitor_count")
        newest = cursor.fetchone()[0]
    assert ids == sorted(ids, reverse=True) and ids[0] == newest  # newest first
    expect(page.locator("#result_list")).to_contain_text(LONG_NAME[:57] + "...")
    assert page.locator("a.addlink").count() == 0  # read-only: no "Add"
    screenshot(page, "admin-changelist")

    member = next(cell for cell in _cells(page, "member_id") if cell.startswith(("E", "M")))
    prefix = member[:5]
    page.fill("#searchbar", prefix.lower())
    page.press("#searchbar", "Enter")
    expect(page).to_have_url(re.compile(rf"[?&]q={re.escape(prefix.lower())}"))
    found = _cells(page, "member_id")
    assert found and all(cell.upper().startswith(prefix) for cell in found)
    screenshot(page, "admin-search")

    page.goto(page.url.split("?")[0])
    page.locator("#changelist-filter a", has_text="MAIN-HALL").first.click()
    expect(page).to_have_url(re.compile(r"room_code=MAIN-HALL"))
    rooms = _cells(page, "room_code")
    assert rooms and set(rooms) == {"MAIN-HALL"}
    page.locator("#changelist-filter a", has_text="Past 7 days").first.click()
    expect(page).to_have_url(
        re.compile(r"checkin_date__gte=.*room_code=|room_code=.*checkin_date__gte=")
    )
    assert set(_cells(page, "room_code")) <= {"MAIN-HALL"}
    screenshot(page, "admin-filtered")

    page.goto(page.url.split("?")[0] + "?q=LONG0001")
    page.locator("#result_list th.field-visitor_id a").first.click()
    expect(page.locator("h1")).to_contain_text("View visitor check-in")
    expect(page.locator("#content")).to_contain_text(LONG_NAME[:128])
    assert page.locator("input[name=_save]").count() == 0
    screenshot(page, "admin-detail")

    assert opened.log.page_errors == []
    assert opened.log.external_requests == []


def test_anonymous_visitor_list_asks_for_login(open_page: OpenPage) -> None:
    page = open_page("/admin/visitors/visitor/").page
    expect(page.locator("#id_username")).to_be_visible()
    assert "/admin/login/" in page.url


def test_api_docs_load(open_page: OpenPage) -> None:
    opened = open_page("/docs")
    page = opened.page
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Library Dashboard API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    screenshot(page, "admin-docs")
    assert opened.log.page_errors == []
    assert opened.log.external_requests == []
