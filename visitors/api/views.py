"""The visitor counts API: one DRF action per catalogue entry (``visitors.endpoints``).

The API is read-only (GET, HEAD, OPTIONS; anything else is 405). The report's parameters
(``visitors.api.report``) are the only query parameters the API reads; these endpoints use
none, and unknown ones are ignored (all of them, ``format`` included).
"""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from visitors import serving
from visitors.api import serializers
from visitors.api.exceptions import ServiceUnavailable
from visitors.endpoints import CATALOGUE, Endpoint

DESCRIPTION = (
    "Query parameters are not used (the report's are the only ones the API reads); unknown "
    "ones are ignored. While the database is "
    "unreachable, the last good value is served with `stale: true` and `as_of`; if there is "
    "none, 503. Every 200 carries an `ETag` and `Cache-Control: max-age` (the refresh "
    "interval); a request with a matching `If-None-Match` gets 304 with no body."
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(serializers.ErrorSerializer, description=description)


def _responses(body: type[Serializer]) -> dict[int, object]:
    return {
        200: body,
        304: OpenApiResponse(description="Not Modified: `If-None-Match` matched the `ETag`."),
        405: _error("Any method but GET, HEAD or OPTIONS: the API is read-only."),
        406: _error("The Accept header allows no JSON."),
        429: _error("Rate limit (API_ANON_RATE) exceeded; see Retry-After."),
        503: _error("The database is unreachable and no earlier value was ever stored."),
    }


def _answer(endpoint: Endpoint) -> Response:
    try:
        return Response(serving.response_body(endpoint))
    except serving.NoData as exc:
        raise ServiceUnavailable() from exc


def _action(endpoint: Endpoint) -> Callable[..., Response]:
    def serve(self: viewsets.ViewSet, request: Request) -> Response:
        return _answer(endpoint)

    serve.__name__ = endpoint.name
    documented = extend_schema(summary=endpoint.title, responses=_responses(endpoint.serializer))
    routed = action(
        detail=False,
        methods=["get"],
        url_path=endpoint.path or endpoint.name,
        url_name=endpoint.name,
    )
    return documented(routed(serve))


@extend_schema(tags=["Visitors"], description=DESCRIPTION)
class VisitorCountsViewSet(viewsets.ViewSet):
    """Visitor counts for the dashboard, in the library's local calendar."""


for _endpoint in CATALOGUE:
    setattr(VisitorCountsViewSet, _endpoint.name, _action(_endpoint))
