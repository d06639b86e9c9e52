"""The report's file formats (``/api/visitors/report``): CSV and Excel, next to JSON.

Picked by ``format=json|csv|xlsx`` when given, otherwise by the ``Accept`` header
(``ReportNegotiation``); errors are always JSON.
"""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer

from visitors import reports

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return reports.csv_bytes(data)


class ReportXLSXRenderer(BaseRenderer):
    media_type = XLSX
    format = "xlsx"
    charset = None
    render_style = "binary"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return reports.xlsx_bytes(data)


class UnknownFormat(ValueError):
    pass


class ReportNegotiation(DefaultContentNegotiation):
    """``format`` first (an unknown one raises ``UnknownFormat``), then ``Accept``."""

    def select_renderer(
        self, request: Any, renderers: list[Any], format_suffix: str | None = None
    ) -> Any:
        wanted = request.query_params.get("format")
        if wanted is None:
            return super().select_renderer(request, renderers)
        for renderer in renderers:
            if renderer.format == wanted:
                return renderer, renderer.media_type
        raise UnknownFormat(wanted)
