"""Pre-rendered API responses: the JSON bytes and ETag of each payload, stored at publish time.

When the sync loop (or the daily job) publishes, every endpoint's body is rendered once with
DRF's own ``JSONRenderer`` (the bytes the viewset would send for a cache hit) and stored next
to the data as ``visitors:http:<name>`` = ``<etag>\\n<body>``, with the same TTL. The lean
request path (``visitors.api.fastpath``) serves these bytes without touching DRF; on a miss
the viewset answers, and its bytes are the same.

A web process may keep what it read for ``HTTP_MEMO_MS`` (default 1 s, 0 = off), so a
poller storm costs one Redis read per endpoint per process per period, not one per request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework.renderers import JSONRenderer

from visitors import cache

logger = logging.getLogger(__name__)

KEY_PREFIX = "visitors:http:"
NAMES = ("today", "weekly", "monthly", "yearly", "summary")
SERIES_FIELDS = {"weekly": "days", "monthly": "months", "yearly": "years"}
_SEPARATOR = b"\n"


def http_key(name: str) -> str:
    return f"{KEY_PREFIX}{name}"


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str  # quoted, strong: '"<hex>"'


def etag_for(body: bytes) -> str:
    return f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def render(data: Any) -> Rendered:
    """The exact bytes DRF's JSONRenderer sends for ``data``, with their ETag."""
    body = JSONRenderer().render(data)
    return Rendered(body, etag_for(body))


def cached_bodies(payloads: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each endpoint's JSON for published values (``name -> value``), as served from the cache.

    ``payloads`` maps today/weekly/monthly/yearly/summary to the stored values; the bodies
    match ``visitors.payloads.response_body`` on a cache hit (the fast-path tests prove it).
    """
    bodies: dict[str, dict[str, Any]] = {"today": {"total": payloads["today"], "source": "cache"}}
    for name, field in SERIES_FIELDS.items():
        bodies[name] = {field: payloads[name], "source": "cache"}
    summary = payloads["summary"]
    bodies["summary"] = {
        **summary,
        "source": ",".join(f"{part}:cache" for part in ("today", *SERIES_FIELDS)),
    }
    return bodies


def _encode(rendered: Rendered) -> bytes:
    return rendered.etag.encode() + _SEPARATOR + rendered.body


def _decode(raw: bytes | str | None) -> Rendered | None:
    if isinstance(raw, str):
        raw = raw.encode()
    if not raw:
        return None
    etag, sep, body = raw.partition(_SEPARATOR)
    if not sep or not body:
        return None
    rendered = Rendered(body, etag.decode("ascii", "replace"))
    if rendered.etag != etag_for(body):  # truncated or foreign bytes: a miss, never served
        logger.warning("pre-rendered response does not match its ETag; ignoring it")
        return None
    return rendered


def _redis() -> Any | None:
    """The raw redis-py client when the cache is Redis (bytes in, bytes out), else None."""
    if not cache.is_redis():
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def store(payloads: Mapping[str, Any], *, ttl: int) -> None:
    """Render and store every endpoint's body (called by ``payloads.publish``)."""
    entries = {
        http_key(name): _encode(render(body)) for name, body in cached_bodies(payloads).items()
    }
    client = _redis()
    if client is None:
        cache.call("set_many", {key: value.decode() for key, value in entries.items()}, ttl)
        return
    try:
        pipe = client.pipeline(transaction=False)
        for key, value in entries.items():
            pipe.set(key, value, ex=ttl)
        pipe.execute()
    except Exception as exc:  # a failed store only costs the fast path; the data is stored
        logger.warning("could not store pre-rendered responses: %s", exc)


class _Memo:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Rendered]] = {}
        self._guard = threading.Lock()

    def get(self, name: str, now: float) -> Rendered | None:
        entry = self._entries.get(name)
        return entry[1] if entry is not None and now < entry[0] else None

    def put(self, name: str, rendered: Rendered, expires: float) -> None:
        with self._guard:
            self._entries[name] = (expires, rendered)

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()


memo = _Memo()


def load(name: str) -> Rendered | None:
    """The stored response for ``name``, or None (absent, unreadable, or the cache is down)."""
    memo_seconds = settings.VISITORS_HTTP_MEMO_MS / 1000
    now = time.monotonic()
    if memo_seconds:
        hit = memo.get(name, now)
        if hit is not None:
            return hit
    if cache.breaker.is_open:
        return None  # Redis is known down: the viewset serves (from the DB or last good)
    try:
        client = _redis()
        raw = (
            client.get(http_key(name)) if client is not None else cache.call("get", http_key(name))
        )
    except Exception as exc:
        logger.debug("pre-rendered %s unavailable: %s", name, exc)
        return None
    rendered = _decode(raw)
    if rendered is not None and memo_seconds:
        memo.put(name, rendered, now + memo_seconds)
    return rendered
