"""The admin's Reports page: a date range, the table, CSV and Excel downloads (staff only).

The same report as ``/api/visitors/report`` (``visitors.reports``): answered from the kept
counts, never a scan of the visitor table. Routed by ``VisitorAdmin.get_urls`` behind
``admin_view``, so only active staff reach it.
"""

from __future__ import annotations

import logging

from django.contrib import admin
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from visitors import reports, serving
from visitors.api.renderers import XLSX
from visitors.clock import local_now

logger = logging.getLogger(__name__)

DOWNLOADS = {
    "csv": ("text/csv; charset=utf-8", reports.csv_bytes),
    "xlsx": (XLSX, reports.xlsx_bytes),
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
            error = "The visitor database is unreachable and the counts were never kept."
    download = request.GET.get("format")
    if report is not None and download in DOWNLOADS:
        content_type, render = DOWNLOADS[download]
        response = HttpResponse(render(report), content_type=content_type)
        name = reports.filename(report, download)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    context = {
        **site.each_context(request),
        "title": "Reports",
        "params": params,
        "choices": reports.BY,
        "report": report,
        "error": error,
    }
    return TemplateResponse(request, "admin/visitors/reports.html", context)
