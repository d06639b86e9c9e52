"""Typed, validated reads of environment variables.

Every variable the service understands is read once, in ``settings.py``, through these
helpers. A bad value stops start-up with ``ImproperlyConfigured`` naming the variable and
what it accepts, instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def load_dotenv_file(base_dir: Path) -> None:
    """Load ``DOTENV_PATH`` (unset or empty, as in .env.example: ``.env`` in the project root),
    never overriding the real environment."""
    from dotenv import load_dotenv

    path = Path(os.environ.get("DOTENV_PATH", "").strip() or base_dir / ".env")
    if path.is_file():
        load_dotenv(path, override=False)


class Env:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None else value.strip()

    def str(self, name: str, default: str = "") -> str:
        value = self._raw(name)
        return default if value in (None, "") else value

    def bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if not value:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use true or false.")

    def int(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        value = self._raw(name)
        if value in (None, ""):
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
        if number < minimum or (maximum is not None and number > maximum):
            upper = "" if maximum is None else f" and at most {maximum}"
            raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}{upper}.")
        return number

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.str(name, default).lower()
        if value not in choices:
            raise ImproperlyConfigured(
                f"{name}={value!r} is not accepted; use one of: {', '.join(choices)}."
            )
        return value

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self._raw(name)
        if value in (None, ""):
            return default
        return [item.strip() for item in value.split(",") if item.strip()]

    def host_ports(self, name: str) -> list[tuple[str, int]]:
        """``host:port,host:port`` (IPv6 as ``[::1]:26379``); empty = none."""
        addresses = []
        for item in self.list(name, []):
            match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([^:\[\]\s]+):(\d+)", item)
            port = int(match.group(2) or match.group(4)) if match else 0
            if not match or not 1 <= port <= 65535:
                raise ImproperlyConfigured(
                    f"{name}={self.str(name)!r}: {item!r} is not host:port; use e.g. "
                    "10.0.0.7:26379,10.0.0.8:26379 (IPv6 as [::1]:26379)."
                )
            addresses.append((match.group(1) or match.group(3), port))
        return addresses

    def time_zone(self, name: str, default: str) -> str:
        value = self.str(name, default)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ImproperlyConfigured(
                f"{name}={value!r} is not an IANA time zone name (e.g. Asia/Jakarta, UTC)."
            ) from None
        return value

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        value = self.str(name)
        if not value:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}={value!r} is not a valid URL: {exc}.") from None
        if parts.scheme not in schemes or not (parts.hostname or parts.path):
            raise ImproperlyConfigured(
                f"{name}={value!r} is not a valid URL; expected {' or '.join(schemes)}://host:port"
            )
        return value

    def redis_url(self, name: str) -> str | None:
        """redis://host:port[/db] (or rediss://, unix://); the db, if any, must be a number."""
        value = self.url(name, ("redis", "rediss", "unix"))
        if value:
            parts = urlsplit(value)
            if parts.scheme != "unix" and not re.fullmatch(r"(/\d+)?/?", parts.path):
                raise ImproperlyConfigured(
                    f"{name}={value!r}: the database after the port must be a number (e.g. /0)."
                )
        return value

    def database_url(self, name: str, default: str) -> dict[str, Any]:
        """A Django DATABASES entry from a URL (sqlite:///path, mysql://user:pass@host/db, ...)."""
        import dj_database_url

        value = self.str(name, default)
        try:
            return dj_database_url.parse(value, conn_max_age=60)
        except Exception as exc:
            raise ImproperlyConfigured(
                f"{name}={value!r} is not a database URL Django can use ({exc}); e.g. "
                "sqlite:////srv/var/django.sqlite3 or mysql://user:password@host:3306/name."
            ) from None

    def rate(self, name: str) -> str | None:
        """A DRF throttle rate like ``120/min`` (per s, sec, m, min, h, hour, d or day); empty = off."""
        value = self.str(name).lower()
        if not value:
            return None
        if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
            raise ImproperlyConfigured(
                f"{name}={value!r} is not a rate; use requests/period, e.g. 120/min or 5/s."
            )
        return value

    def cron(self, name: str, default: str) -> tuple[str, str, str, str, str]:
        """A 5-field cron expression; the old service's 6-field form with seconds 0 is accepted."""
        value = self.str(name, default)
        fields = value.split()
        if len(fields) == 6 and fields[0] == "0":
            fields = fields[1:]
        field_re = re.compile(r"^[\d*/,\-A-Za-z]+$")
        if len(fields) != 5 or not all(field_re.match(f) for f in fields):
            raise ImproperlyConfigured(
                f"{name}={value!r} is not a cron schedule; use 5 fields 'minute hour day month "
                "weekday' (e.g. '5 0 * * *'), or 6 fields only when the first (seconds) is 0."
            )
        return tuple(fields)  # type: ignore[return-value]
