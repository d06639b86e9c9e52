"""The visitor counts API: one DRF action per catalogue entry (``visitors.endpoints``).

The API is read-only (GET, HEAD, OPTIONS; anything else is 405). The report's parameters
(``visitors.api.report``) are the only query parameters the API reads; these endpoints use
none, and unknown ones are ignored (all of them, ``format`` included).
"""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from visitors import serving
from visitors.api import serializers
from visitors.api.exceptions import ServiceUnavailable
from visitors.api.http_caching import PRIVATE
from visitors.endpoints import CATALOGUE, Endpoint

DESCRIPTION = (
    "Query parameters are not used (the report's are the only ones the API reads); unknown "
    "ones are ignored. While the database is "
    "unreachable (for the rankings of members, also while the cache is), the last good value "
    "is served with `stale: true` and `as_of`; if there is none, 503. Every 200 carries an `ETag` and `Cache-Control: max-age` (the refresh "
    "interval); a request with a matching `If-None-Match` gets 304 with no body."
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(serializers.ErrorSerializer, description=description)


def _responses(body: type[Serializer]) -> dict[int, object]:
    return {
        200: body,
        304: OpenApiResponse(description="Not Modified: `If-None-Match` matched the `ETag`."),
        400: OpenApiResponse(
            serializers.BadRequestSerializer,
            description="A Host not in ALLOWED_HOSTS, or more than 1000 query parameters.",
        ),
        405: _error("Any method but GET, HEAD or OPTIONS: the API is read-only."),
        406: _error("The Accept header allows no JSON."),
        429: _error("Rate limit (API_ANON_RATE) exceeded; see Retry-After."),
        503: _error("The database is unreachable and no earlier value was ever stored."),
    }


MASKED = (
    "Members' names and ids are personal data: anonymous callers get `member_id: null` and "
    "the name's initials (unless RANKINGS_PUBLIC_MEMBERS=true); staff signed in to the admin "
    "(session cookie) get them in full, with `Cache-Control: private`."
)


class StaffSession(SessionAuthentication):
    """The admin's session, read to tell staff apart. The API only reads (every other
    method is 405), so there is no state change for CSRF to protect: not enforced, and a
    signed-in POST gets the same 405 as anyone's."""

    def enforce_csrf(self, request: Request) -> None:
        return None


class StaffSessionScheme(SessionScheme):
    """In the OpenAPI schema: the admin's session cookie, optional (anonymous is masked)."""

    target_class = StaffSession
    name = "staffSession"


def is_staff(request: Request) -> bool:
    user = request.user
    return bool(user is not None and user.is_active and user.is_staff)


def _answer(endpoint: Endpoint, request: Request) -> Response:
    full = endpoint.masked and is_staff(request)
    try:
        response = Response(serving.response_body(endpoint, full=full))
    except serving.NoData as exc:
        raise ServiceUnavailable() from exc
    if endpoint.masked:  # the answer depends on the session: never shared by a cache
        response.headers["Vary"] = "Cookie"
        if full:
            response.headers["Cache-Control"] = PRIVATE
    return response


def _action(endpoint: Endpoint) -> Callable[..., Response]:
    def serve(self: viewsets.ViewSet, request: Request) -> Response:
        return _answer(endpoint, request)

    serve.__name__ = endpoint.name
    documented = extend_schema(
        summary=endpoint.title,
        description=MASKED if endpoint.mask is not None else None,
        responses=_responses(endpoint.serializer),
    )
    routed = action(
        detail=False,
        methods=["get"],
        url_path=endpoint.path or endpoint.name,
        url_name=endpoint.name,
        # Staff see members in full: the admin's session, read only where it matters.
        authentication_classes=[StaffSession] if endpoint.mask is not None else [],
    )
    return documented(routed(serve))


@extend_schema(tags=["Visitors"], description=DESCRIPTION)
class VisitorCountsViewSet(viewsets.ViewSet):
    """Visitor counts for the dashboard, in the library's local calendar."""


for _endpoint in CATALOGUE:
    setattr(VisitorCountsViewSet, _endpoint.name, _action(_endpoint))
