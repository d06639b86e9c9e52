"""The admin's Reports page: a date range, the table, CSV and Excel downloads (staff only).

The same report as ``/api/visitors/report`` (``visitors.reports``): answered from the kept
counts, never a scan of the visitor table. Routed by ``VisitorAdmin.get_urls`` behind
``admin_view``, so only active staff reach it.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.contrib import admin
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from visitors import reports, serving
from visitors.api.renderers import XLSX
from visitors.clock import local_now

logger = logging.getLogger(__name__)

DOWNLOADS = {
    "csv": ("text/csv; charset=utf-8", reports.csv_bytes),
    "xlsx": (XLSX, reports.xlsx_bytes),
}


def _shown(row: dict[str, Any]) -> dict[str, str]:
    """A row in the page's language: local dates and digit grouping."""
    return {
        "period": row["period"],
        "start": date_format(date.fromisoformat(row["start"])),
        "end": date_format(date.fromisoformat(row["end"])),
        "total": number_format(row["total"], force_grouping=True),
    }


def reports_view(request: HttpRequest, site: admin.AdminSite) -> HttpResponse:
    today = local_now().date()
    params = {
        "from": request.GET.get("from") or (today.replace(day=1)).isoformat(),
        "to": request.GET.get("to") or today.isoformat(),
        "by": request.GET.get("by") or "day",
    }
    report = error = None
    if "from" in request.GET:
        try:
            report = reports.answer(reports.parse(params))
        except reports.ReportInputError as exc:
            error = exc.message
        except (DatabaseError, serving.NoData) as exc:
            logger.warning("admin report unavailable: %s", exc)
            error = _("The visitor database is unreachable and the counts were never kept.")
    download = request.GET.get("format")
    if report is not None and download in DOWNLOADS:
        content_type, render = DOWNLOADS[download]
        response = HttpResponse(render(report), content_type=content_type)
        name = reports.filename(report, download)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    context = {
        **site.each_context(request),
        "rows": None if report is None else [_shown(row) for row in report["rows"]],
        "total": None if report is None else number_format(report["total"], force_grouping=True),
        "title": _("Reports"),
        "params": params,
        "choices": reports.BY,
        "report": report,
        "error": error,
    }
    return TemplateResponse(request, "admin/visitors/reports.html", context)
