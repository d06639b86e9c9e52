"""``GET /api/visitors/report?from=&to=&by=``: totals for any range, as JSON, CSV or Excel.

The report's query parameters (``from``, ``to``, ``by``, ``format``) are the only ones the API
reads; unknown ones are ignored. The format is ``format=json|csv|xlsx`` when given, else the
``Accept`` header (``text/csv``, the xlsx media type, JSON by default). Bad input is a 400
whose ``parameter`` names the one at fault. The answer comes from the kept counts
(``visitors.reports``), never a scan of the range.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from visitors import reports, serving
from visitors.api import serializers
from visitors.api.exceptions import ServiceUnavailable
from visitors.api.renderers import (
    XLSX,
    ReportCSVRenderer,
    ReportNegotiation,
    ReportXLSXRenderer,
    UnknownFormat,
)

FORMATS = ("json", "csv", "xlsx")


class InvalidParameter(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_parameter"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message, self.default_code)
        self.parameter = parameter


def _error(description: str, body: Any = serializers.ErrorSerializer) -> OpenApiResponse:
    return OpenApiResponse(body, description=description)


PARAMETERS = [
    OpenApiParameter(
        "from", OpenApiTypes.DATE, required=True, description="The first day, YYYY-MM-DD."
    ),
    OpenApiParameter(
        "to",
        OpenApiTypes.DATE,
        required=True,
        description="The last day, YYYY-MM-DD, inclusive; at most 20 years after `from`.",
    ),
    OpenApiParameter(
        "by", str, enum=list(reports.BY), description="The period of a row (default `day`)."
    ),
    OpenApiParameter(
        "format",
        str,
        enum=list(FORMATS),
        description="json, csv or xlsx; over the Accept header when given.",
    ),
]
RESPONSES: dict[Any, object] = {
    (200, "application/json"): serializers.ReportSerializer,
    (200, "text/csv"): OpenApiResponse(
        OpenApiTypes.STR, description="period,start,end,total; one line per period."
    ),
    (200, XLSX): OpenApiResponse(
        OpenApiTypes.BINARY, description="One sheet: the header, the periods, the total."
    ),
    304: OpenApiResponse(description="Not Modified: `If-None-Match` matched the `ETag`."),
    400: _error(
        "A bad parameter, named in `parameter`: an unparsable or missing date, `from` after "
        "`to`, a range over 20 years, an unknown `by` or `format`. Or, with `code: "
        "bad_request` and no `parameter`, a Host not in ALLOWED_HOSTS or more than 1000 "
        "query parameters.",
        PolymorphicProxySerializer(
            component_name="ReportBadRequest",
            serializers=[serializers.ReportErrorSerializer, serializers.BadRequestSerializer],
            resource_type_field_name=None,
        ),
    ),
    405: _error("Any method but GET, HEAD or OPTIONS: the API is read-only."),
    406: _error("The Accept header allows none of JSON, CSV and xlsx."),
    429: _error("Rate limit (API_ANON_RATE) exceeded; see Retry-After."),
    503: _error("The database is unreachable and the counts were never kept."),
}


class ReportView(APIView):
    renderer_classes = [JSONRenderer, ReportCSVRenderer, ReportXLSXRenderer]
    content_negotiation_class = ReportNegotiation

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        try:
            return super().perform_content_negotiation(request, force)
        except UnknownFormat as exc:
            message = _("'format' must be one of %(choices)s: %(value)s.")
            choices = {"choices": ", ".join(FORMATS), "value": repr(str(exc)[:40])}
            raise InvalidParameter("format", message % choices) from None

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, InvalidParameter):
            response.data["parameter"] = exc.parameter
        return response

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        # Only a report is a file; errors and OPTIONS are JSON whatever was asked for.
        if not (isinstance(response, Response) and isinstance(response.data, dict)) or (
            "rows" not in response.data
        ):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        tags=["Visitors"],
        summary="Totals for any range, by day, week, month or year (JSON, CSV, Excel)",
        description=(
            "Totals per day, ISO week, month or year for any range of up to 20 years, back "
            "to the first check-in, from the kept daily counts (never a scan of the table). "
            "`from`, `to`, `by` and `format` are the only query parameters the API reads; "
            "unknown ones are ignored. The format is `format=json|csv|xlsx` when given, "
            "else the `Accept` header (`text/csv`, the xlsx media type; JSON by default); "
            "errors are always JSON, and a 400 names the bad `parameter`. Periods are "
            "clipped to the range (`start`/`end`). Every 200 carries an `ETag`; a matching "
            "`If-None-Match` gets 304. While the database is down, today's count is its "
            "last good value and the body says `stale: true` with `as_of`."
        ),
        parameters=PARAMETERS,
        responses=RESPONSES,
    )
    def get(self, request: Request) -> Response:
        try:
            wanted = reports.parse(request.query_params)
        except reports.ReportInputError as exc:
            raise InvalidParameter(exc.parameter, exc.message) from None
        try:
            report = reports.answer(wanted)
        except (DatabaseError, serving.NoData) as exc:
            raise ServiceUnavailable() from exc
        response = Response(report)
        file_format = request.accepted_renderer.format
        if file_format in ("csv", "xlsx"):
            name = reports.filename(report, file_format)
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        patch_vary_headers(response, ["Accept"])
        return response
