"""Pre-rendered responses for the catalogue's endpoints, and HTTP caching for all of them.

``PrerenderedResponseMiddleware`` sits early in ``MIDDLEWARE``. For ``GET``/``HEAD`` on an
endpoint of the catalogue (``/api/visitors/today``, ``/summary``, ...) it answers from the
response bytes the sync loop pre-rendered (``visitors.rendered``): no URL resolving, no
DRF, no serializer, no JSON encoding. On a miss (loop not running, Redis down, a request Django or
DRF must judge: a query string, a Host not in ALLOWED_HOSTS, an ``Accept`` without JSON,
the optional rate limit) the DRF viewset answers, and this middleware adds the same headers
to its response.

Every 200 carries a strong ``ETag`` (a hash of the body) and ``Cache-Control: max-age``
(``HTTP_MAX_AGE``, by default the sync interval); a matching ``If-None-Match`` gets
``304 Not Modified``. Errors are ``no-store``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.urls import ResolverMatch, resolve
from django.utils.cache import parse_etags

from visitors import keys, prometheus, rendered
from visitors.conf import visitor_settings
from visitors.endpoints import CATALOGUE, Endpoint

# Each endpoint's path, without and with the trailing slash the router also accepts.
PATHS: dict[str, Endpoint] = {}
for _endpoint in CATALOGUE:
    PATHS[_endpoint.url_path] = PATHS[_endpoint.url_path + "/"] = _endpoint
ALLOW = "GET, HEAD, OPTIONS"
_JSON_ACCEPTS = ("json", "*/*", "application/*")


_matches: dict[str, ResolverMatch] = {}


def resolver_match(path: str) -> ResolverMatch:
    """What URL resolving would give (the Prometheus middleware labels requests with it)."""
    match = _matches.get(path)
    if match is None:
        match = _matches[path] = resolve(path)
    return match


def cache_control() -> str:
    return f"public, max-age={visitor_settings().HTTP_MAX_AGE}"


def not_modified(request: HttpRequest, etag: str) -> bool:
    """``If-None-Match`` matches ``etag`` (weak comparison, as RFC 9110 asks for GET/HEAD)."""
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == bare for tag in parse_etags(header))


def _not_modified_response(etag: str) -> HttpResponseNotModified:
    response = HttpResponseNotModified()
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = cache_control()
    return response


def _accepts_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT")
    return not accept or any(token in accept for token in _JSON_ACCEPTS)


def _plain_request(request: HttpRequest) -> bool:
    """No query string, and a Host we serve: anything else gets Django's and DRF's checks."""
    if request.META.get("QUERY_STRING"):
        return False
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True


def prerendered_response(request: HttpRequest, endpoint: Endpoint) -> HttpResponseBase | None:
    """The pre-rendered answer for ``endpoint``, or None when the viewset must answer."""
    stored = rendered.load(endpoint)
    if stored is None:
        return None
    prometheus.record_cache_hit(keys.prerendered(endpoint.name))
    if not_modified(request, stored.etag):
        return _not_modified_response(stored.etag)
    head = request.method == "HEAD"
    response = HttpResponse(b"" if head else stored.body, content_type="application/json")
    response.headers["Content-Length"] = str(len(stored.body))
    response.headers["Allow"] = ALLOW
    response.headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS
    response.headers["ETag"] = stored.etag
    response.headers["Cache-Control"] = cache_control()
    return response


def add_caching_headers(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """ETag, Cache-Control and 304 for a response the viewset produced."""
    if request.method not in ("GET", "HEAD"):
        return response
    if response.status_code != 200 or response.streaming:
        response.headers["Cache-Control"] = "no-store"
        return response
    etag = rendered.etag_for(response.content)  # type: ignore[attr-defined]
    if not_modified(request, etag):
        return _not_modified_response(etag)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = cache_control()
    return response


class PrerenderedResponseMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        # The optional rate limit is DRF's: with it on, every request goes through DRF.
        self.enabled = visitor_settings().HTTP_FAST_PATH and not settings.REST_FRAMEWORK.get(
            "DEFAULT_THROTTLE_CLASSES"
        )

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        endpoint = PATHS.get(request.path_info)
        if endpoint is None:
            return self.get_response(request)
        if (
            self.enabled
            and request.method in ("GET", "HEAD")
            and _accepts_json(request)
            and _plain_request(request)
        ):
            response = prerendered_response(request, endpoint)
            if response is not None:
                request.resolver_match = resolver_match(request.path_info)
                return response
        return add_caching_headers(request, self.get_response(request))
