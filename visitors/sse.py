"""Server-Sent Events framing (the WHATWG ``text/event-stream`` format), as bytes."""

from __future__ import annotations

HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]
KEEPALIVE = b": keepalive\n\n"


def event(name: str, data: bytes, *, id: int | None = None) -> bytes:
    """One event; a ``data`` with line breaks becomes several ``data:`` lines."""
    lines = [] if id is None else [b"id: %d" % id]
    lines.append(b"event: " + name.encode())
    lines += [b"data: " + line for line in data.splitlines() or [b""]]
    return b"\n".join(lines) + b"\n\n"


def retry(milliseconds: int) -> bytes:
    """How long a client waits before it reconnects."""
    return b"retry: %d\n\n" % milliseconds


def last_event_id(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The ``Last-Event-ID`` a reconnecting client sends, when it is one of our versions."""
    for name, value in headers:
        if name == b"last-event-id":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 20 else None
    return None
