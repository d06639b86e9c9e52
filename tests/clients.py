"""A test client that goes through the WSGI layer in front of Django, as the server does."""

from __future__ import annotations

from typing import Any

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.test import Client

from visitors.api.prerendered import PrerenderedResponses

_TO_DJANGO = object()


class _FrontHandler:
    """Calls ``PrerenderedResponses`` like a server would; what it passes on to Django is
    answered by the test client's own handler (so responses keep their test attributes)."""

    def __init__(self, django_handler: Any) -> None:
        self.django_handler = django_handler
        self.front = PrerenderedResponses(lambda environ, start_response: _TO_DJANGO)

    def __call__(self, environ: dict[str, Any]) -> Any:
        started: list[Any] = []
        body = self.front(environ, lambda status, headers: started.extend((status, headers)))
        if body is _TO_DJANGO:
            return self.django_handler(environ)
        status, headers = started
        response = HttpResponse(b"".join(body), status=int(status[:3]))
        del response.headers["Content-Type"]
        for name, value in headers:
            response.headers[name] = value
        response.answered_by = "prerendered"  # type: ignore[attr-defined]
        response.wsgi_request = WSGIRequest(environ)  # type: ignore[attr-defined]
        return response


class FrontClient(Client):
    """Django's test client; the catalogue's endpoints are answered by
    ``PrerenderedResponses`` first, like ``library_dashboard.wsgi.application`` does."""

    def __init__(self, **defaults: Any) -> None:
        super().__init__(**defaults)
        self.handler = _FrontHandler(self.handler)  # type: ignore[assignment]
