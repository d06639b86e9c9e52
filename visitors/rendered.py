"""Pre-rendered API responses: the JSON bytes and ETag of each payload, stored at publish time.

When the sync loop (or the daily job) publishes, every endpoint's body is rendered once with
DRF's own ``JSONRenderer`` (the bytes the viewset would send for a cache hit) and stored next
to the data as ``visitors:http:<name>`` = ``<etag>\\n<body>``, with the same TTL. The
pre-rendered response middleware (``visitors.api.prerendered``) serves these bytes without
touching DRF; on a miss the viewset answers, and its bytes are the same.

A web process may keep what it read for ``HTTP_MEMO_MS`` (default 1 s, 0 = off), so a
poller storm costs one Redis read per endpoint per process per period, not one per request.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rest_framework.renderers import JSONRenderer

from visitors import cache, keys
from visitors.conf import visitor_settings
from visitors.endpoints import Endpoint
from visitors.memo import Memo

logger = logging.getLogger(__name__)

_SEPARATOR = b"\n"


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


def store(values: Mapping[Endpoint, Any], *, ttl: int) -> None:
    """Render and store each endpoint's body, as served from the cache (publishing calls it)."""
    entries = {
        keys.prerendered(endpoint.name): _encode(render(endpoint.body(value, "cache")))
        for endpoint, value in values.items()
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


# What this process read, reused for HTTP_MEMO_MS.
memo: Memo[Rendered] = Memo()


def load(endpoint: Endpoint) -> Rendered | None:
    """The stored response for ``endpoint``, or None (absent, unreadable, or the cache is down)."""
    name, memo_seconds = endpoint.name, visitor_settings().http_memo_s
    if memo_seconds:
        hit = memo.get(name)
        if hit is not None:
            return hit
    if cache.breaker.is_open:
        return None  # Redis is known down: the viewset serves (from the DB or last good)
    try:
        client = _redis()
        key = keys.prerendered(name)
        raw = client.get(key) if client is not None else cache.call("get", key)
    except Exception as exc:
        logger.debug("pre-rendered %s unavailable: %s", name, exc)
        return None
    rendered = _decode(raw)
    if rendered is not None and memo_seconds:
        memo.put(name, rendered, memo_seconds)
    return rendered
