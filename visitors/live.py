"""This process's copy of the published responses, kept current by a change watcher.

One thread per process (``visitors.changes.Watcher``) reads the pre-rendered responses
(``visitors.rendered``) from the cache whenever a change is announced, and confirms them at
least every ``HTTP_MEMO_MS / 4``; requests and streams read them from memory, so the hot
path does no I/O at all. A copy is served only while it is confirmed: its key has not
expired in the cache, and the cache answered within the last ``HTTP_MEMO_MS``. Otherwise
``lookup`` says None and the request goes to Django (computed from the database, or the
last good value), exactly as when the cache is cold.

The last copy of each response read is kept apart (``kept_copy``) through an outage: while
the cache is unreachable, a costly payload is served from it, marked stale, rather than
counted from the database in every process (``Endpoint.costly``).

With ``HTTP_MEMO_MS=0`` there is no thread: every lookup reads the cache (for tests).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from visitors import changes, rendered
from visitors.changes import Notice
from visitors.conf import visitor_settings
from visitors.endpoints import CATALOGUE, Endpoint
from visitors.rendered import Rendered

logger = logging.getLogger(__name__)

# Reload a copy this long before its key would expire in the cache.
EXPIRY_MARGIN = 1.0
# Reads of the responses while changes keep being announced (then the last read is kept).
_RELOAD_TRIES = 3
# The last response of each endpoint this process read, with the time of its data (the
# notice's): replaced by a newer one, never dropped (a cache that comes back empty or
# goes away leaves it), so it outlasts an outage.
_last_copies: dict[str, tuple[Rendered, str]] = {}


def kept_copy(endpoint: Endpoint, *, today: date) -> tuple[dict[str, Any], str] | None:
    """(the body, the time of its data) of the last response of ``endpoint`` this process
    read, as published (personal data masked), if its data is of ``today``; else None."""
    kept = _last_copies.get(endpoint.name)
    if kept is None:
        return None
    entry, at = kept
    if datetime.fromisoformat(at).date() != today:
        return None
    return json.loads(entry.body), at


def _keep_copies(responses: Mapping[str, Rendered], notice: Notice) -> None:
    try:
        datetime.fromisoformat(notice.at)
    except ValueError:
        logger.warning(
            "change notice %s has no usable time (%r): no copy kept", notice.version, notice.at
        )
        return
    _last_copies.update((name, (entry, notice.at)) for name, entry in responses.items())


@dataclass(frozen=True)
class Snapshot:
    """What this process last read: the change notice and every published response."""

    notice: Notice | None
    responses: Mapping[str, Rendered] = field(default_factory=lambda: MappingProxyType({}))


Listener = Callable[[Snapshot], None]


class LiveResponses:
    def __init__(
        self,
        endpoints: tuple[Endpoint, ...] = CATALOGUE,
        *,
        memo_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        watch: bool = True,
    ) -> None:
        self.endpoints = endpoints
        self.memo_s = visitor_settings().http_memo_s if memo_s is None else memo_s
        self.clock = clock
        self.watch = watch  # False: no watcher thread, ``tick()`` is called by the owner
        self.snapshot = Snapshot(None)
        self._expires: dict[str, float] = {}
        self._confirmed_until = 0.0
        self._listeners: list[Listener] = []
        self._watcher: changes.Watcher | None = None
        self._guard = threading.Lock()

    # -- the request path ----------------------------------------------------------------
    def lookup(self, endpoint: Endpoint) -> Rendered | None:
        """The published response for ``endpoint`` if it is confirmed, else None."""
        if not self.memo_s:
            return rendered.load(endpoint)
        if self._watcher is None and self.watch:
            self.start()
        now = self.clock()
        if now > self._confirmed_until or now > self._expires.get(endpoint.name, 0.0):
            return None
        return self.snapshot.responses.get(endpoint.name)

    # -- the watcher's side --------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """``listener(snapshot)`` is called (from the watcher's thread) after each change."""
        self._listeners.append(listener)

    def start(self) -> None:
        with self._guard:
            if self._watcher is None:
                self._watcher = changes.Watcher(self.tick, poll=max(self.memo_s / 4, 0.05))
                self._watcher.start()

    def stop(self) -> None:
        with self._guard:
            if self._watcher is not None:
                self._watcher.stop()
                self._watcher = None

    def tick(self, woken: bool = False) -> None:
        """Confirm the copies, and reload them when a change was announced, one is missing
        or about to expire. Raises ``CacheUnavailable`` (the copies then lapse)."""
        notice = changes.current()
        now = self.clock()
        stale = (
            woken
            or notice != self.snapshot.notice
            or any(now + EXPIRY_MARGIN > self._expires.get(e.name, 0.0) for e in self.endpoints)
        )
        if stale:
            self._reload(notice, now)
        self._confirmed_until = now + self.memo_s

    def _reload(self, notice: Notice | None, now: float) -> None:
        # The loop stores the responses, then announces: read the notice again after them,
        # so a snapshot never pairs responses with an older notice (its id and time).
        settled = False
        for _ in range(_RELOAD_TRIES):
            stored = rendered.load_many(self.endpoints)
            after = changes.current()
            settled = after == notice
            if settled:
                break
            notice = after
        responses = {name: entry for name, (entry, _) in stored.items()}
        self._expires = {
            name: now + (ttl if ttl is not None else self.memo_s)
            for name, (_, ttl) in stored.items()
        }
        changed = notice != self.snapshot.notice or responses != dict(self.snapshot.responses)
        # A copy outlasts an outage with its time as ``as_of``: keep only responses known to
        # go with their notice (a read between two announcements, every try, may not).
        if settled and notice is not None and notice != self.snapshot.notice:
            _keep_copies(responses, notice)
        self.snapshot = Snapshot(notice, MappingProxyType(responses))
        if changed:
            for listener in self._listeners:
                listener(self.snapshot)
