"""The optional anonymous rate limit (``API_ANON_RATE``), counted in the shared cache.

It fails open: while the cache is unreachable (or a counter is corrupt) requests are let
through, so a Redis outage never locks the dashboard out.
"""

from __future__ import annotations

from typing import Any

from rest_framework import throttling
from rest_framework.request import Request

from visitors import cache


def _is_history(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(t, int | float) for t in value)


class _SharedCache:
    """The two cache calls DRF's throttles make, through ``visitors.cache`` (breaker, errors)."""

    def get(self, key: str, default: Any = None) -> Any:
        value = cache.read_valid(key, _is_history)
        return default if value is None else value

    def set(self, key: str, value: Any, timeout: int | None = None) -> None:
        cache.safe("set", key, value, timeout)


class AnonRateThrottle(throttling.AnonRateThrottle):
    cache = _SharedCache()

    def allow_request(self, request: Request, view: Any) -> bool:
        if cache.breaker.is_open:
            return True
        return super().allow_request(request, view)
