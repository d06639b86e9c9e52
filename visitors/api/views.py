"""Thin DRF views over ``visitors.payloads``: the paths and JSON keys of the old service."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from visitors import payloads
from visitors.api import serializers


def _series_response(spec: payloads.Series) -> Response:
    values, source = payloads.series(spec)
    return Response({spec.field: values, "source": source})


@extend_schema(tags=["Visitors"])
class VisitorMetricsViewSet(viewsets.ViewSet):
    """Visitor counts for the dashboard, in the library's local calendar."""

    @extend_schema(summary="Today's visitor count", responses=serializers.TodaySerializer)
    @action(detail=False, methods=["get"])
    def today(self, request: Request) -> Response:
        total, source = payloads.today_count()
        return Response({"total": total, "source": source})

    @extend_schema(summary="Last 7 days, daily counts", responses=serializers.WeeklySerializer)
    @action(detail=False, methods=["get"])
    def weekly(self, request: Request) -> Response:
        return _series_response(payloads.WEEKLY)

    @extend_schema(
        summary="Last 12 months, monthly totals", responses=serializers.MonthlySerializer
    )
    @action(detail=False, methods=["get"])
    def monthly(self, request: Request) -> Response:
        return _series_response(payloads.MONTHLY)

    @extend_schema(summary="Last 5 years, annual totals", responses=serializers.YearlySerializer)
    @action(detail=False, methods=["get"])
    def yearly(self, request: Request) -> Response:
        return _series_response(payloads.YEARLY)

    @extend_schema(
        summary="Today, weekly, monthly and yearly in one response",
        responses=serializers.SummarySerializer,
    )
    @action(detail=False, methods=["get"])
    def summary(self, request: Request) -> Response:
        return Response(payloads.summary())
