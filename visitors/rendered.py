"""Pre-rendered API responses: the JSON bytes and ETag of each payload, stored at publish time.

When the sync loop (or the daily job) publishes, every endpoint's body is rendered once with
DRF's own ``JSONRenderer`` (the bytes the viewset would send for a cache hit) and stored next
to the data as ``visitors:http:<name>`` = ``<etag>\\n<body>``, with the same TTL. The WSGI
layer in front of Django (``visitors.api.prerendered``) serves these bytes without touching
DRF; on a miss the viewset answers, and its bytes are the same.

Web and stream processes keep a copy in memory (``visitors.live``), so a poller storm
costs no Redis reads at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rest_framework.renderers import JSONRenderer

from visitors import cache, keys
from visitors.changes import Notice
from visitors.endpoints import Endpoint

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


def render_all(values: Mapping[Endpoint, Any]) -> dict[Endpoint, Rendered]:
    """Each endpoint's body as served from the cache, rendered."""
    return {endpoint: render(endpoint.body(value, "cache")) for endpoint, value in values.items()}


def write(
    responses: Mapping[Endpoint, Rendered], *, ttl: int, notice: Notice | None = None
) -> None:
    """Store rendered responses for ``ttl`` seconds (best effort: it only costs the fast
    path; the data itself is stored by the caller). With the change ``notice`` they stand
    for, the notice is stored too: on Redis in the same transaction (a reader sees both or
    neither), on the database cache just after them (a reader may see the new responses
    with the old notice until its next poll, never the reverse); a failure then raises
    ``CacheUnavailable``: the notice must not be lost."""
    entries = {keys.prerendered(e.name): _encode(r) for e, r in responses.items()}

    def pipelined(client: Any) -> None:
        pipe = client.pipeline(transaction=True)
        for key, value in entries.items():
            pipe.set(key, value, ex=ttl)
        if notice is not None:  # as the cache's JSON serializer stores it
            pipe.set(keys.VERSION, json.dumps(notice.as_dict()).encode())
        pipe.execute()

    try:
        if cache.is_redis():
            cache.raw_redis(pipelined, "storing pre-rendered responses")
        else:
            cache.call("set_many", {key: value.decode() for key, value in entries.items()}, ttl)
            if notice is not None:
                cache.call("set", keys.VERSION, notice.as_dict(), None)
    except cache.CacheUnavailable as exc:
        if notice is not None:
            raise
        logger.log(logging.DEBUG if cache.breaker.is_open else logging.WARNING, "%s", exc)


def store(values: Mapping[Endpoint, Any], *, ttl: int) -> dict[Endpoint, Rendered]:
    """Render and store each endpoint's body as served from the cache; returns them (a
    request stores a value it computed this way)."""
    responses = render_all(values)
    write(responses, ttl=ttl)
    return responses


def load(endpoint: Endpoint) -> Rendered | None:
    """The stored response for ``endpoint``, or None (absent, unreadable, or the cache is down)."""
    key = keys.prerendered(endpoint.name)
    try:
        if cache.is_redis():
            raw = cache.raw_redis(lambda client: client.get(key), "reading a pre-rendered response")
        else:
            raw = cache.call("get", key)
    except cache.CacheUnavailable as exc:
        logger.debug("%s", exc)
        return None
    return _decode(raw)


def load_many(endpoints: tuple[Endpoint, ...]) -> dict[str, tuple[Rendered, float | None]]:
    """Every stored response of ``endpoints`` with its seconds to live (None: unknown, on
    the database cache), in one round trip; absent or damaged ones are left out.

    Raises ``CacheUnavailable`` when the cache cannot be read.
    """
    names = [endpoint.name for endpoint in endpoints]
    stored = [keys.prerendered(name) for name in names]

    def read(client: Any) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        pipe.mget(stored)
        for key in stored:
            pipe.pttl(key)
        return pipe.execute()

    if cache.is_redis():
        replies = cache.raw_redis(read, "reading the pre-rendered responses")
        raws: list[Any] = replies[0]
        ttls = [ms / 1000 if isinstance(ms, int) and ms > 0 else None for ms in replies[1:]]
    else:
        values = cache.call("get_many", stored)
        raws = [values.get(key) for key in stored]
        ttls = [None] * len(names)
    result: dict[str, tuple[Rendered, float | None]] = {}
    for name, raw, ttl in zip(names, raws, ttls, strict=True):
        entry = _decode(raw)
        if entry is not None:
            result[name] = (entry, ttl)
    return result
