"""HTTP caching of the catalogue's responses: a strong ETag, Cache-Control and 304.

Every 200 carries a strong ``ETag`` (a hash of the body) and ``Cache-Control: max-age``
(``HTTP_MAX_AGE``, by default the sync interval); a request whose ``If-None-Match`` matches
gets ``304 Not Modified``. Errors are ``no-store``. The pre-rendered responses
(``visitors.api.prerendered``) and the DRF viewset (``HttpCachingMiddleware``) use the
same functions, so both send the same headers.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase, HttpResponseNotModified
from django.utils.cache import parse_etags

from visitors.conf import visitor_settings
from visitors.endpoints import CATALOGUE, REPORT_PATH
from visitors.rendered import etag_for

# Each catalogue endpoint's path and the report's, without and with the trailing slash.
PATHS = frozenset(
    p for path in (*(e.url_path for e in CATALOGUE), REPORT_PATH) for p in (path, path + "/")
)


# A staff member's full ranking: for their browser only, never a shared cache.
PRIVATE = "private, no-cache"


def cache_control() -> str:
    return f"public, max-age={visitor_settings().HTTP_MAX_AGE}"


def matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` matches ``etag`` (weak comparison, as RFC 9110 asks for GET/HEAD)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == bare for tag in parse_etags(if_none_match))


def _not_modified(etag: str, control: str, vary: str | None) -> HttpResponseNotModified:
    response = HttpResponseNotModified()
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = control
    if vary:
        response.headers["Vary"] = vary
    return response


class HttpCachingMiddleware:
    """ETag, Cache-Control and 304 for the catalogue's responses that Django produced."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.path_info not in PATHS or request.method not in ("GET", "HEAD"):
            return response
        if response.status_code != 200 or response.streaming:
            response.headers["Cache-Control"] = "no-store"
            return response
        etag = etag_for(response.content)  # type: ignore[attr-defined]
        # A full (staff) answer keeps the view's private Cache-Control; its ETag differs
        # from the masked answer's, since the bytes do.
        control = response.headers.get("Cache-Control") or cache_control()
        if matches(request.META.get("HTTP_IF_NONE_MATCH"), etag):
            return _not_modified(etag, control, response.headers.get("Vary"))
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = control
        return response
