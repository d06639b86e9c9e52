"""Operations endpoints: ``/health`` (in the API schema) and ``/metrics`` (Prometheus, not)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiResponse, extend_schema
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from visitors import health, prometheus
from visitors.api import probe_access

DETAIL_ONLY = "Only for staff (an admin session) and addresses in HEALTH_DETAIL_ALLOWED."


class HealthDatabaseSerializer(serializers.Serializer):
    reachable = serializers.BooleanField()
    vendor = serializers.CharField(help_text="mysql, or sqlite on the embedded default.")
    latency_ms = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class HealthCacheSerializer(serializers.Serializer):
    reachable = serializers.BooleanField()
    backend = serializers.CharField(help_text="redis, or database on the embedded default.")
    latency_ms = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class HealthLoopSerializer(serializers.Serializer):
    fresh = serializers.BooleanField(help_text="A heartbeat came within stale_after_s.")
    stale_after_s = serializers.FloatField()
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    heartbeat_age_s = serializers.FloatField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_success_age_s = serializers.FloatField(allow_null=True)
    leader = serializers.CharField(allow_null=True, help_text="host:pid of the loop leader.")
    leader_lock_held = serializers.BooleanField(allow_null=True)
    mode = serializers.CharField(allow_null=True)
    db_layer = serializers.CharField(allow_null=True)
    interval_ms = serializers.IntegerField(allow_null=True)
    cycle = serializers.IntegerField(allow_null=True)
    count = serializers.IntegerField(allow_null=True, help_text="Today's count, last cycle.")
    cycle_ms = serializers.FloatField(allow_null=True, help_text="Last cycle's duration.")
    steps_ms = serializers.DictField(child=serializers.FloatField(), allow_null=True)
    error = serializers.CharField(allow_null=True, help_text="Last cycle's error, if it failed.")


class HealthKeySerializer(serializers.Serializer):
    present = serializers.BooleanField()
    ttl_s = serializers.IntegerField(allow_null=True, help_text="null: no expiry or unknown.")
    ttl_known = serializers.BooleanField(help_text="False on the database cache backend.")
    age_s = serializers.FloatField(allow_null=True)
    age_from = serializers.ChoiceField(
        choices=["heartbeat", "unknown"],
        help_text="heartbeat: the loop's last successful cycle wrote it (upper bound); "
        "unknown: a key the loop does not rewrite every cycle (the rollup).",
    )
    last_good = serializers.BooleanField(
        allow_null=True,
        help_text="Served payloads: a last good copy exists (served, marked stale, while the "
        "database is down). null for other keys.",
    )


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "down"])
    reasons = serializers.ListField(
        child=serializers.CharField(),
        help_text="Why not ok. Anonymous callers get each reason's class only (e.g. "
        "`visitor database unreachable`); the detail after `:` is for staff.",
    )
    checked_at = serializers.DateTimeField()
    database = HealthDatabaseSerializer(required=False, help_text=DETAIL_ONLY)
    cache = HealthCacheSerializer(required=False, help_text=DETAIL_ONLY)
    loop = HealthLoopSerializer(required=False, help_text=DETAIL_ONLY)
    keys = serializers.DictField(
        child=HealthKeySerializer(), required=False, help_text=f"Per cache key. {DETAIL_ONLY}"
    )


class HealthView(APIView):
    """Can this instance serve the dashboard, and how fresh are its numbers?"""

    @extend_schema(
        tags=["Operations"],
        summary="Service health (for load balancers and monitoring)",
        description=(
            "`ok`: database and cache reachable, sync loop running, every served value cached. "
            "`degraded`: requests can still be served (see `reasons`). "
            "`down`: neither the database nor the cache can serve a request. "
            "The database ping is reused for up to a second, so probing every second is cheap. "
            "Anonymous callers get `status`, the reasons' classes and `checked_at`; the "
            "probes' details (latencies, errors, the loop, the keys) are for staff and for "
            "addresses in `HEALTH_DETAIL_ALLOWED`."
        ),
        responses={
            200: OpenApiResponse(HealthSerializer, description="ok or degraded: serving."),
            503: OpenApiResponse(HealthSerializer, description="down: cannot serve."),
        },
    )
    def get(self, request: Request) -> Response:
        report = health.check()
        detail = probe_access.sees_health_detail(request._request)
        return Response(
            report.as_dict() if detail else report.as_public_dict(),
            status=503 if report.status == "down" else 200,
            headers={"Cache-Control": "no-store"},
        )


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, summed over every process sharing PROMETHEUS_MULTIPROC_DIR.

    Behind ``METRICS_TOKEN`` when set, else for staff and HEALTH_DETAIL_ALLOWED addresses.
    """
    access = probe_access.metrics_access(request)
    if access == "unauthorized":
        response = HttpResponse("metrics need a bearer token\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if access == "forbidden":
        return HttpResponse("metrics are not open to this address\n", status=403)
    prometheus.tally.flush()  # this process's pre-rendered answers; the others flush each second
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(settings.PROMETHEUS_MULTIPROC_DIR))
    # Prometheus' own negotiation: OpenMetrics when the scraper asks for it, else text 0.0.4.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)
