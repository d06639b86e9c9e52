"""The last good value of each served payload, kept without expiry (``visitors:last:<name>``).

Written whenever a payload is published or computed from the database; served, marked
stale, while the database is unreachable (``visitors.serving.response_body``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from visitors import cache, keys
from visitors.endpoints import Endpoint


@dataclass(frozen=True)
class LastGood:
    value: Any
    as_of: str  # ISO 8601, library-local: when the data was read from the database


def _stored(value: Any, now: datetime) -> dict[str, Any]:
    return {"value": value, "as_of": now.isoformat()}


def store_many(values: Mapping[Endpoint, Any], *, now: datetime) -> None:
    """Replace the copies of ``values`` (the loop publishes); raises ``CacheUnavailable``."""
    cache.call(
        "set_many",
        {keys.last_good(endpoint.name): _stored(value, now) for endpoint, value in values.items()},
        None,
    )


def remember(endpoint: Endpoint, value: Any, *, now: datetime) -> None:
    """Keep a value a request computed from the database (best effort)."""
    if not cache.breaker.is_open:
        cache.safe("set", keys.last_good(endpoint.name), _stored(value, now), None)


def _is_last_good(validate: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not (isinstance(value, dict) and value.keys() == {"value", "as_of"}):
            return False
        try:
            datetime.fromisoformat(value["as_of"])
        except (TypeError, ValueError):
            return False
        return validate(value["value"])

    return check


def read(endpoint: Endpoint) -> LastGood | None:
    """The last value served or published for ``endpoint``, with the time of its data."""
    stored = cache.read_valid(keys.last_good(endpoint.name), _is_last_good(endpoint.validate))
    return None if stored is None else LastGood(stored["value"], stored["as_of"])
