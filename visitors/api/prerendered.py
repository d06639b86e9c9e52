"""The hot path: a small WSGI layer in front of Django that answers from pre-rendered bytes.

For ``GET``/``HEAD`` on an endpoint of the catalogue (``/api/visitors/today``, ``/summary``,
...), with no query string, a Host in ``ALLOWED_HOSTS`` and an ``Accept`` that allows JSON,
``PrerenderedResponses`` answers with the response bytes the sync loop published
(``visitors.rendered``), read from this process's memory (``visitors.live``): no Django
request, no URL resolving, no DRF, no JSON encoding, no Redis round trip. The answer is the
one the DRF viewset would give: the same body and ETag, ``Cache-Control``, 304 on a
matching ``If-None-Match``, CORS for ``CORS_ALLOWED_ORIGINS``, and the security headers,
which are learned once from Django's own middleware.

Everything else goes to Django unchanged: other paths, other methods (405), a bad Host
(400), other ``Accept`` values (406), query strings, a plain-HTTP request that
``SECURE_SSL_REDIRECT`` redirects, the optional rate limit (then every request goes to
DRF), and any request while no confirmed pre-rendered copy exists (loop stopped, Redis
down): the viewset then computes or serves the last good value, and stores the bytes again.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.http.request import split_domain_port, validate_host
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware

from visitors import keys, prometheus
from visitors.api.http_caching import cache_control, matches
from visitors.conf import visitor_settings
from visitors.endpoints import CATALOGUE, Endpoint
from visitors.live import LiveResponses

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

ALLOW = "GET, HEAD, OPTIONS"
_JSON_ACCEPTS = ("json", "*/*", "application/*")
_CORS_PATH_PREFIX = "/api/"  # settings.CORS_URLS_REGEX covers every catalogue path


def learned_security_headers(*, secure: bool) -> list[tuple[str, str]]:
    """The headers Django's SecurityMiddleware and XFrameOptionsMiddleware add to a 200 for
    a (non-)HTTPS request, asked of the middleware itself."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": CATALOGUE[0].url_path,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443" if secure else "80",
        "wsgi.input": io.BytesIO(),
        "wsgi.url_scheme": "https" if secure else "http",
    }
    request, response = WSGIRequest(environ), HttpResponse()
    for middleware in (SecurityMiddleware(HttpResponse), XFrameOptionsMiddleware(HttpResponse)):
        response = middleware.process_response(request, response)
    return [(k, v) for k, v in response.headers.items() if k.lower() != "content-type"]


class PrerenderedResponses:
    """The WSGI application in front of Django: the pre-rendered answer when there is one,
    else ``django``."""

    def __init__(self, django: WSGIApp, *, live: LiveResponses | None = None) -> None:
        self.django = django
        self.live = live or LiveResponses()
        conf = visitor_settings()
        # The optional rate limit is DRF's: with it on, every request goes through DRF.
        self.enabled = conf.HTTP_FAST_PATH and not settings.REST_FRAMEWORK.get(
            "DEFAULT_THROTTLE_CLASSES"
        )
        self.routes: dict[str, Endpoint] = {}
        for endpoint in CATALOGUE:
            self.routes[endpoint.url_path] = self.routes[endpoint.url_path + "/"] = endpoint
        self.cache_control = cache_control()
        self.security = {s: learned_security_headers(secure=s) for s in (False, True)}
        self.ssl_redirect = settings.SECURE_SSL_REDIRECT
        self.proxy_ssl_header = settings.SECURE_PROXY_SSL_HEADER
        self.cors_origins = frozenset(settings.CORS_ALLOWED_ORIGINS)
        self.cors_expose = ", ".join(settings.CORS_EXPOSE_HEADERS)
        self._hosts: dict[str, bool] = {}
        self.session_cookie = settings.SESSION_COOKIE_NAME + "="

    # -- the checks Django would make, answered from settings read once -------------------
    def _host_allowed(self, environ: dict[str, Any]) -> bool:
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        allowed = self._hosts.get(host)
        if allowed is None:
            domain, _ = split_domain_port(host)
            allowed = bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
            if len(self._hosts) < 1000:  # a hostile client cannot grow it without bound
                self._hosts[host] = allowed
        return allowed

    def _secure(self, environ: dict[str, Any]) -> bool:
        if self.proxy_ssl_header:
            header, value = self.proxy_ssl_header
            return environ.get(header) == value
        return environ.get("wsgi.url_scheme") == "https"

    @staticmethod
    def _accepts_json(environ: dict[str, Any]) -> bool:
        accept = environ.get("HTTP_ACCEPT")
        return not accept or any(token in accept for token in _JSON_ACCEPTS)

    def _cors(self, environ: dict[str, Any], *, cookie: bool = False) -> list[tuple[str, str]]:
        headers = [("Vary", "Cookie, origin" if cookie else "origin")]
        origin = environ.get("HTTP_ORIGIN")
        if origin and origin in self.cors_origins:
            headers.append(("access-control-allow-origin", origin))
            if self.cors_expose:
                headers.append(("access-control-expose-headers", self.cors_expose))
        return headers

    # -- the answer ---------------------------------------------------------------------
    def answer(
        self, environ: dict[str, Any], endpoint: Endpoint
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """(status, headers, body) from the pre-rendered copy, or None for Django."""
        method = environ.get("REQUEST_METHOD")
        if (
            method not in ("GET", "HEAD")
            or environ.get("QUERY_STRING")
            or not self._host_allowed(environ)
            or not self._accepts_json(environ)
        ):
            return None
        secure = self._secure(environ)
        if self.ssl_redirect and not secure:
            return None
        # Members in full are for staff: a request with a session goes to Django, which
        # checks it; the bytes here are the masked form.
        if endpoint.masked and self.session_cookie in environ.get("HTTP_COOKIE", ""):
            return None
        stored = self.live.lookup(endpoint)
        if stored is None:
            return None
        common = [
            ("ETag", stored.etag),
            ("Cache-Control", self.cache_control),
            *self._cors(environ, cookie=endpoint.masked),
            *self.security[secure],
        ]
        if matches(environ.get("HTTP_IF_NONE_MATCH"), stored.etag):
            return "304 Not Modified", [("Content-Length", "0"), *common], b""
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(stored.body))),
            ("Allow", ALLOW),
            *common,
        ]
        return "200 OK", headers, b"" if method == "HEAD" else stored.body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        endpoint = self.routes.get(environ.get("PATH_INFO", ""))
        if endpoint is not None and self.enabled:
            result = self.answer(environ, endpoint)
            if result is not None:
                status, headers, body = result
                prometheus.tally.add(
                    endpoint.url_name,
                    environ["REQUEST_METHOD"],
                    status[:3],
                    hit=keys.prerendered(endpoint.name),
                )
                start_response(status, headers)
                return [body]
        return self.django(environ, start_response)
