"""Thin DRF views over ``visitors.payloads``: the paths and JSON keys of the old service.

The API is read-only (GET, HEAD, OPTIONS; anything else is 405). Query parameters are not
used, and unknown ones are ignored (all of them, ``format`` included).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from visitors import payloads
from visitors.api import serializers
from visitors.api.exceptions import ServiceUnavailable

DESCRIPTION = (
    "Query parameters are not used; unknown ones are ignored. While the database is "
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


def _answer(name: str) -> Response:
    try:
        return Response(payloads.response_body(name))
    except payloads.NoData as exc:
        raise ServiceUnavailable() from exc


@extend_schema(tags=["Visitors"], description=DESCRIPTION)
class VisitorMetricsViewSet(viewsets.ViewSet):
    """Visitor counts for the dashboard, in the library's local calendar."""

    @extend_schema(
        summary="Today's visitor count", responses=_responses(serializers.TodaySerializer)
    )
    @action(detail=False, methods=["get"])
    def today(self, request: Request) -> Response:
        return _answer("today")

    @extend_schema(
        summary="Last 7 days, daily counts", responses=_responses(serializers.WeeklySerializer)
    )
    @action(detail=False, methods=["get"])
    def weekly(self, request: Request) -> Response:
        return _answer("weekly")

    @extend_schema(
        summary="Last 12 months, monthly totals",
        responses=_responses(serializers.MonthlySerializer),
    )
    @action(detail=False, methods=["get"])
    def monthly(self, request: Request) -> Response:
        return _answer("monthly")

    @extend_schema(
        summary="Last 5 years, annual totals", responses=_responses(serializers.YearlySerializer)
    )
    @action(detail=False, methods=["get"])
    def yearly(self, request: Request) -> Response:
        return _answer("yearly")

    @extend_schema(
        summary="Today, weekly, monthly and yearly in one response",
        responses=_responses(serializers.SummarySerializer),
    )
    @action(detail=False, methods=["get"])
    def summary(self, request: Request) -> Response:
        return _answer("summary")
