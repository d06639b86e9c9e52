"""Headless Chromium for the end-to-end tests: Debian's ``/usr/bin/chromium`` driven by
Playwright (never ``playwright install``; no downloaded browser).

One browser per test session (Playwright's sync API allows one driver at a time); each test
gets fresh pages from ``open_page``, which records console errors and refuses every request
that leaves the live server, so a page that needs the internet fails its test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
WALL = {"width": 2560, "height": 1440}


@dataclass
class PageLog:
    """What a page said and asked for that a test may want to assert on."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)


@dataclass
class OpenedPage:
    page: Page
    log: PageLog


OpenPage = Callable[..., OpenedPage]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    # The sync API runs an event loop in this thread; Django's ORM calls made by the test
    # itself (inserting rows) are still plain synchronous calls.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()


@pytest.fixture
def open_page(chromium: Browser, live_server) -> Iterator[OpenPage]:
    """``open_page(path, viewport=DESKTOP, color_scheme="light", before_load=None,
    streams=None, locale="en-US")`` on the live server (``locale`` also sets the browser's
    Accept-Language).

    Without ``streams`` (the URL of a running streams server) the page's live stream answers
    204, which tells EventSource not to reconnect: the page polls, as when streams are down.
    """
    contexts = []
    origin = live_server.url

    def opener(
        path: str = "/",
        *,
        viewport: dict[str, int] = DESKTOP,
        color_scheme: str = "light",
        before_load: Callable[[Page], None] | None = None,
        streams: str | None = None,
        locale: str = "en-US",
    ) -> OpenedPage:
        context = chromium.new_context(
            viewport=viewport, color_scheme=color_scheme, locale=locale, timezone_id="UTC"
        )
        contexts.append(context)
        log = PageLog()

        def local_only(route: Route) -> None:
            if any(_same_origin(route.request.url, o) for o in (origin, streams) if o):
                route.fallback()
            else:
                log.external_requests.append(route.request.url)
                route.abort()

        context.route("**/*", local_only)
        page = context.new_page()
        if streams is None:
            page.route("**/api/visitors/stream", lambda route: route.fulfill(status=204))
        page.on("console", lambda message: _record_console(message, log))
        page.on("pageerror", lambda error: log.page_errors.append(str(error)))
        if before_load is not None:
            before_load(page)  # e.g. page.route(...) for requests made while loading
        page.goto(origin + path)
        return OpenedPage(page, log)

    yield opener
    for context in contexts:
        context.close()


def _same_origin(url: str, origin: str) -> bool:
    a, b = urlsplit(url), urlsplit(origin)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc) or a.scheme in ("data", "blob")


def _record_console(message: ConsoleMessage, log: PageLog) -> None:
    if message.type == "error":
        log.console_errors.append(message.text)


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save ``test-artifacts/<name>.png`` (gitignored) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
