"""Who sees what of the probes: ``/health`` in full, and ``/metrics`` at all.

Anonymous callers get the health status and short reason classes only (never a driver's
message, which names hosts and ports). The full report is for staff (an admin session) and
for client addresses in ``HEALTH_DETAIL_ALLOWED``. ``/metrics`` needs ``Authorization:
Bearer <METRICS_TOKEN>`` when that is set (nothing else opens it); when it is unset, the
same callers as the full health report may read it.

The client address is the one the rate limit uses (``API_NUM_PROXIES``):
- ``0`` (no proxy configured): the socket's peer (``REMOTE_ADDR``), but a request that
  carries ``X-Forwarded-For``, ``Forwarded`` or ``X-Real-IP`` is never trusted by address:
  it came through a proxy the service was not told about (a proxy on this host would
  otherwise make every client look like 127.0.0.1);
- ``N``: the address the N-th proxy from us appended to ``X-Forwarded-For`` (the peer
  itself when the header is absent: a connection that did not pass the proxies).
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Literal

from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest

from visitors.conf import visitor_settings

PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
MetricsAccess = Literal["allowed", "unauthorized", "forbidden"]


def client_address(request: HttpRequest) -> str | None:
    """The caller's IP address as far as it can be trusted, or None."""
    num_proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    peer = request.META.get("REMOTE_ADDR") or None
    forwarded_for = request.META.get("HTTP_X_FORWARDED_FOR")
    if num_proxies == 0:
        return None if any(request.META.get(h) for h in PROXY_HEADERS) else peer
    if not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    return hops[-num_proxies] if len(hops) >= num_proxies else None


def address_allowed(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in visitor_settings().HEALTH_DETAIL_ALLOWED)


def is_staff(request: HttpRequest) -> bool:
    """An admin session's user is staff (read from the session: DRF, which authenticates
    nobody here, replaces ``request.user`` with None)."""
    if not hasattr(request, "session"):
        return False
    user = get_user(request)
    return bool(user.is_active and user.is_staff)


def sees_health_detail(request: HttpRequest) -> bool:
    return is_staff(request) or address_allowed(client_address(request))


def metrics_access(request: HttpRequest) -> MetricsAccess:
    token = visitor_settings().METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return "allowed"
        return "unauthorized"
    return "allowed" if sees_health_detail(request) else "forbidden"
