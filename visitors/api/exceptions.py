"""Every API error as JSON ``{"detail": ..., "code": ...}``, never a stack trace or HTML page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext, gettext_lazy
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = gettext_lazy(
        "The visitor database is unreachable and no earlier value is available."
    )
    default_code = "database_unavailable"


def json_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with the body flattened to ``detail`` and a machine-readable ``code``."""
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, APIException):
        return response
    detail = exc.detail
    if isinstance(detail, dict | list):
        response.data = {"detail": detail, "code": exc.default_code}
    else:
        response.data = {"detail": str(detail), "code": getattr(detail, "code", exc.default_code)}
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/docs/json"))


def _wants_json(request: HttpRequest) -> bool:
    """Under the API paths, or a client that asks for JSON rather than a page."""
    if _is_api(request):
        return True
    accepted = request.headers.get("Accept", "")
    return "json" in accepted and "text/html" not in accepted


def _json_error(status_code: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status_code)


# Django-level errors (unknown path, bad Host header, a crash): JSON under the API paths
# and for clients that ask for JSON; elsewhere the site's own page (templates/404.html).
def bad_request(request: HttpRequest, exception: Exception, **kwargs: Any) -> Any:
    if _is_api(request):
        return _json_error(400, gettext("Bad request."), "bad_request")
    return defaults.bad_request(request, exception, **kwargs)


def not_found(request: HttpRequest, exception: Exception, **kwargs: Any) -> Any:
    if _wants_json(request):
        return _json_error(404, gettext("Not found."), "not_found")
    return defaults.page_not_found(request, exception, **kwargs)


def server_error(request: HttpRequest, **kwargs: Any) -> Any:
    if _is_api(request):
        return _json_error(500, gettext("Internal server error."), "server_error")
    return defaults.server_error(request, **kwargs)
