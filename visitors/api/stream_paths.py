"""The stream paths as the web process sees them: documented here, served by the streams
process (``visitors/streams.py``).

Behind the proxy of docs/OPERATIONS.md the stream paths go straight to the streams
process and never reach these views. Without a proxy (``make run``), a request that
reaches the web process is redirected (307) to the same path on the streams process:
this host, ``STREAM_PORT``. Browsers' ``EventSource`` follows the redirect (the streams
allow any origin: they carry only public counts).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseRedirect
from django.http.request import split_domain_port
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from visitors.api import serializers
from visitors.conf import visitor_settings


class EventStreamRenderer(BaseRenderer):
    """Lets ``Accept: text/event-stream`` through content negotiation (for the redirect)."""

    media_type = "text/event-stream"
    format = "event-stream"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return b""


class TemporaryRedirect(HttpResponseRedirect):
    status_code = 307  # the method and headers (Last-Event-ID) are kept


def streams_url(request: Request) -> str:
    """The same path and query on the streams process: this host, ``STREAM_PORT``."""
    domain, _ = split_domain_port(request.get_host())
    host = f"[{domain}]" if ":" in domain else domain
    return f"{request.scheme}://{host}:{visitor_settings().STREAM_PORT}{request.get_full_path()}"


def _errors() -> dict[Any, Any]:
    def error(text: str) -> OpenApiResponse:
        return OpenApiResponse(serializers.ErrorSerializer, description=text)

    return {
        307: OpenApiResponse(
            description="Reached the web process (no proxy routes the stream paths): the same "
            "path on the streams process, this host, `STREAM_PORT`."
        ),
        400: error("The Host is not in ALLOWED_HOSTS."),
        405: error("Any method but GET."),
        503: error(
            "This process holds STREAM_MAX_CLIENTS streams already, or is shutting down; "
            "see Retry-After."
        ),
    }


class _StreamPath(APIView):
    renderer_classes = [EventStreamRenderer, JSONRenderer]

    def get(self, request: Request) -> TemporaryRedirect:
        return TemporaryRedirect(streams_url(request))


STREAM_HEADERS = (
    "`Content-Type: text/event-stream`, `Cache-Control: no-cache, no-transform`, "
    "`X-Accel-Buffering: no`; a `: keepalive` comment every `STREAM_KEEPALIVE_S` (15 s)."
)


class TodayStreamView(_StreamPath):
    @extend_schema(
        tags=["Visitors"],
        summary="Live: today's visitor count (Server-Sent Events)",
        description=(
            "Compatible with the old service. First `event: init` with "
            '`{"total", "source", "at"}`, then `event: update` with '
            '`{"total", "generated_at"}` each time the count changes. '
            + STREAM_HEADERS
            + ' If no count can be had at all, `event: error` with `{"detail", "code"}`.'
        ),
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="TodayStreamEvent",
                    serializers=[
                        serializers.TodayStreamInitSerializer,
                        serializers.TodayStreamUpdateSerializer,
                        serializers.ErrorSerializer,
                    ],
                    resource_type_field_name=None,
                ),
                description="The `data:` of each event: `init`, `update`, or `error`.",
            ),
            **_errors(),
        },
    )
    def get(self, request: Request) -> TemporaryRedirect:
        return super().get(request)


class SummaryStreamView(_StreamPath):
    @extend_schema(
        tags=["Visitors"],
        summary="Live: the whole summary (Server-Sent Events)",
        description=(
            "`retry:` first, then `event: summary` whose `data:` is exactly the body of "
            "`/api/visitors/summary`, at connect and whenever any part of it changes. Each "
            "event carries `id:`, a version that only grows; reconnect with "
            "`Last-Event-ID` to get the current summary at once if you missed a change, and "
            "nothing if you are current. "
            + STREAM_HEADERS
            + ' If no summary can be had at connect, `event: error` with `{"detail", "code"}`.'
        ),
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="SummaryStreamEvent",
                    serializers=[serializers.SummarySerializer, serializers.ErrorSerializer],
                    resource_type_field_name=None,
                ),
                description="The `data:` of each event: `summary`, or `error`.",
            ),
            **_errors(),
        },
    )
    def get(self, request: Request) -> TemporaryRedirect:
        return super().get(request)
