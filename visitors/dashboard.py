"""The dashboard page at ``/``: one template, live numbers from ``/api/visitors/summary``.

The page polls the API itself (``static/visitors/dashboard.js``); the view only renders the
shell with the current summary embedded, so the first paint already has numbers.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_safe

from visitors import payloads
from visitors.clock import local_now

logger = logging.getLogger(__name__)


def initial_summary() -> dict[str, Any] | None:
    """The summary for the first paint, or None when it cannot be had (the page then polls)."""
    try:
        return payloads.summary()
    except DatabaseError as exc:
        logger.warning("dashboard: no initial summary (%s); the page will poll for it", exc)
        return None


def optional_url(name: str) -> str | None:
    """The path of a URL name another part of the service may not define (yet)."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


@require_safe
def dashboard_view(request: HttpRequest) -> HttpResponse:
    summary = initial_summary()
    context = {
        "summary": summary,
        "initial": {"summary": summary, "rendered_at": local_now().isoformat()},
        "poll_ms": settings.DASHBOARD_POLL_MS,
        "poll_seconds": f"{settings.DASHBOARD_POLL_MS / 1000:g}",
        "health_url": optional_url("health"),
        "time_zone": settings.TIME_ZONE,
        "today_mode": settings.VISITORS_TODAY_COUNT_MODE,
        "db_layer": "ORM" if settings.VISITORS_USE_ORM else "raw SQL",
    }
    return render(request, "visitors/dashboard.html", context)
