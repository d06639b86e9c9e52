"""The service's own settings: typed, validated, each with its one default.

``library_dashboard/settings.py`` reads them from the environment once
(``VisitorSettings.from_env``) into ``settings.VISITORS``; every module reads them through
``visitor_settings()``. A field is named exactly like its environment variable, so
``grep VISITOR_SYNC_MIN_INTERVAL_MS`` finds the variable, its default and every reader.

Tests change one with ``settings.VISITORS = dataclasses.replace(settings.VISITORS, ...)``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from library_dashboard.env import Env

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TodayCountMode = Literal["direct", "incremental", "delta"]
TODAY_COUNT_MODES: tuple[TodayCountMode, ...] = ("direct", "incremental", "delta")


def _int(default: int | None, *, minimum: int = 0, maximum: int | None = None) -> Any:
    """An integer variable; ``default=None`` means derived from others (see __post_init__)."""
    return field(default=default, metadata={"minimum": minimum, "maximum": maximum})


def _choice(default: str, choices: tuple[str, ...]) -> Any:
    return field(default=default, metadata={"choices": choices})


def _networks(*default: str) -> Any:
    """Comma-separated IP addresses or CIDR networks; ``none`` = no address."""
    networks = tuple(ipaddress.ip_network(item) for item in default)
    return field(default=networks, metadata={"networks": True})


def _secret() -> Any:
    """A string kept out of repr() (so out of logs and debug pages); empty = unset."""
    return field(default="", repr=False, metadata={"secret": True})


def parse_networks(name: str, items: list[str]) -> tuple[IPNetwork, ...]:
    if [item.lower() for item in items] == ["none"]:
        return ()
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}={','.join(items)!r}: {item!r} is not an IP address or network; use e.g. "
                "127.0.0.1,::1,10.0.0.0/8 (comma-separated), or none."
            ) from None
    return tuple(networks)


@dataclass(frozen=True)
class VisitorSettings:
    # Counting
    USE_ORM: bool = False
    TODAY_COUNT_MODE: TodayCountMode = _choice("direct", TODAY_COUNT_MODES)
    VISITOR_RECONCILE_INTERVAL_MS: int = _int(60_000, minimum=1000)
    VISITOR_ROLLUP_RECHECK_DAYS: int = _int(3, maximum=366)
    # The sync loop
    VISITOR_SYNC_MIN_INTERVAL_MS: int = _int(5000, minimum=100)
    VISITOR_SYNC_BUFFER_MS: int = _int(500)
    VISITOR_SYNC_ADAPTIVE: bool = False
    VISITOR_SYNC_MAX_INTERVAL_MS: int = _int(None, minimum=100)  # max(60 s, min interval)
    VISITOR_SYNC_LOCK_TTL_MS: int = _int(5000, minimum=1000)
    # Outages: after Redis or MySQL failed, a web process skips it this long.
    OUTAGE_RETRY_MS: int = _int(2000, minimum=100, maximum=60_000)
    # HTTP serving
    HTTP_FAST_PATH: bool = True
    HTTP_MEMO_MS: int = _int(1000, maximum=60_000)
    HTTP_MAX_AGE: int = _int(None, maximum=86_400)  # the sync interval, rounded up to seconds
    # Live push (the streams process)
    STREAM_PORT: int = _int(3001, minimum=1, maximum=65535)
    STREAM_KEEPALIVE_S: int = _int(15, minimum=1, maximum=300)
    STREAM_MAX_CLIENTS: int = _int(10_000, minimum=1, maximum=1_000_000)
    STREAM_SEND_TIMEOUT_S: int = _int(10, minimum=1, maximum=300)
    STREAM_RETRY_MS: int = _int(2000, minimum=100, maximum=600_000)
    # Rankings: how many, how often today's part is re-tallied, and whether members' names
    # and ids are public (else masked for anonymous callers; staff see them in full).
    RANKING_SIZE: int = _int(10, minimum=1, maximum=100)
    RANKING_REFRESH_S: int = _int(60, maximum=3600)
    RANKINGS_PUBLIC_MEMBERS: bool = False
    # The heatmap: average per weekday x hour over this many closed weeks (the hourly
    # breakdown keeps 371 days, so at most 52).
    HEATMAP_WEEKS: int = _int(8, minimum=1, maximum=52)
    # The dashboard page
    DASHBOARD_POLL_MS: int = _int(5000, minimum=250)
    # The kiosk view (/kiosk): each panel shows this long before the next one.
    KIOSK_ROTATE_MS: int = _int(15_000, minimum=2000, maximum=600_000)
    # Probes: who sees /health in full and may read /metrics (visitors/api/probe_access.py)
    HEALTH_DETAIL_ALLOWED: tuple[IPNetwork, ...] = _networks("127.0.0.1/32", "::1/128")
    METRICS_TOKEN: str = _secret()

    def __post_init__(self) -> None:
        derived = {
            "VISITOR_SYNC_MAX_INTERVAL_MS": max(60_000, self.VISITOR_SYNC_MIN_INTERVAL_MS),
            "HTTP_MAX_AGE": math.ceil(self.VISITOR_SYNC_MIN_INTERVAL_MS / 1000),
        }
        for name, value in derived.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.METRICS_TOKEN and len(self.METRICS_TOKEN) < 16:
            raise ImproperlyConfigured(
                "METRICS_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 24`), "
                "or empty."
            )
        if self.VISITOR_SYNC_MAX_INTERVAL_MS < self.VISITOR_SYNC_MIN_INTERVAL_MS:
            raise ImproperlyConfigured(
                "VISITOR_SYNC_MAX_INTERVAL_MS must be at least VISITOR_SYNC_MIN_INTERVAL_MS "
                f"({self.VISITOR_SYNC_MIN_INTERVAL_MS})."
            )

    @classmethod
    def from_env(cls, env: Env) -> VisitorSettings:
        """Every field from the variable of the same name; unset or empty means the default."""
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            name, default, meta = spec.name, spec.default, spec.metadata
            if "choices" in meta:
                values[name] = env.choice(name, default, meta["choices"])
            elif "networks" in meta:
                items = env.list(name, [])
                values[name] = parse_networks(name, items) if items else default
            elif "secret" in meta:
                values[name] = env.str(name, default)
            elif isinstance(default, bool):
                values[name] = env.bool(name, default)
            elif env.str(name) or default is not None:
                values[name] = env.int(
                    name, default, minimum=meta["minimum"], maximum=meta["maximum"]
                )
        return cls(**values)

    # -- derived values, in the units the code uses -------------------------------------
    @property
    def db_layer(self) -> Literal["orm", "raw"]:
        return "orm" if self.USE_ORM else "raw"

    @property
    def outage_retry_s(self) -> float:
        return self.OUTAGE_RETRY_MS / 1000

    @property
    def http_memo_s(self) -> float:
        return self.HTTP_MEMO_MS / 1000


def visitor_settings() -> VisitorSettings:
    from django.conf import settings

    return settings.VISITORS
