"""The dashboard page at ``/`` and the kiosk view at ``/kiosk``: live numbers from the API.

The page polls the API itself (``static/visitors/dashboard.js``; the rankings card,
``static/visitors/rankings.js``, polls the four ranking endpoints with the visitor's own
session, so staff see members in full); the view only renders the shell with the current
summary embedded, so the first paint already has numbers.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from visitors import serving
from visitors.clock import local_now
from visitors.conf import visitor_settings
from visitors.endpoints import SUMMARY

logger = logging.getLogger(__name__)


def initial_summary() -> dict[str, Any] | None:
    """The summary for the first paint, or None when it cannot be had (the page then polls)."""
    try:
        return SUMMARY.body(*serving.value(SUMMARY, serving.request_facts()))
    except DatabaseError as exc:
        logger.warning("dashboard: no initial summary (%s); the page will poll for it", exc)
        return None


def _context() -> dict[str, Any]:
    conf = visitor_settings()
    summary = initial_summary()
    return {
        "summary": summary,
        "initial": {"summary": summary, "rendered_at": local_now().isoformat()},
        "poll_ms": conf.DASHBOARD_POLL_MS,
        "poll_seconds": f"{conf.DASHBOARD_POLL_MS / 1000:g}",
        "health_url": reverse("health"),
        "time_zone": settings.TIME_ZONE,
        "today_mode": conf.TODAY_COUNT_MODE,
        "db_layer": "ORM" if conf.USE_ORM else "raw SQL",
        "rotate_ms": conf.KIOSK_ROTATE_MS,
    }


@require_safe
def dashboard_view(request: HttpRequest) -> HttpResponse:
    return render(request, "visitors/dashboard.html", _context())


@require_safe
def kiosk_view(request: HttpRequest) -> HttpResponse:
    """The entrance screen: full screen, large type, no links; the panels take turns
    every ``KIOSK_ROTATE_MS`` while the numbers stay live."""
    return render(request, "visitors/kiosk.html", _context())
