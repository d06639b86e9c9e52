"""Change notices: the publisher announces each change, every web and stream process watches.

A notice carries a version that only grows: the publish time in milliseconds since the
epoch, and at least one more than the version before (so it keeps growing across leader
changes and a Redis that lost its data). It is stored under ``visitors:version`` with the
time of the data, and on Redis also PUBLISHed on ``visitors:changes`` so that watchers
wake at once; on the embedded default (no Redis) they poll the key a few times a second.

A version is announced only when a published response changed, so a stream client that is
current stays quiet, and one that reconnects with an older ``Last-Event-ID`` catches up.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from visitors import cache, keys

logger = logging.getLogger(__name__)

CHANNEL = "visitors:changes"


@dataclass(frozen=True)
class Notice:
    version: int
    at: str  # ISO 8601, library-local: when the published data was read
    digest: str  # of every published response's ETag: what the version stands for

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "at": self.at, "digest": self.digest}

    @classmethod
    def parse(cls, value: Any) -> Notice | None:
        if not (isinstance(value, dict) and value.keys() == {"version", "at", "digest"}):
            return None
        version, at, digest = value["version"], value["at"], value["digest"]
        if type(version) is not int or not isinstance(at, str) or not isinstance(digest, str):
            return None
        return cls(version, at, digest)


def digest_of(etags: Iterable[str]) -> str:
    return hashlib.blake2b("".join(etags).encode(), digest_size=12).hexdigest()


def current() -> Notice | None:
    """The last announced notice (None when absent or unreadable; raises if unreachable)."""
    return Notice.parse(cache.call("get", keys.VERSION))


class Announcer:
    """The publisher's side: one per process that publishes (the loop, the daily job)."""

    def __init__(self) -> None:
        self.last: Notice | None = None
        self._read_stored = False

    def announce(self, *, etags: Iterable[str], now: datetime) -> Notice | None:
        """Store and publish a new version when ``etags`` differ from the last announced
        ones; returns it (None when nothing changed). Raises ``CacheUnavailable``."""
        notice = self.prepare(etags=etags, now=now)
        if notice is not None:
            cache.call("set", keys.VERSION, notice.as_dict(), None)
            self.stored(notice)
        return notice

    def prepare(self, *, etags: Iterable[str], now: datetime) -> Notice | None:
        """The new version for ``etags``, not stored yet: the publisher stores it with the
        responses it stands for (one transaction, so no reader pairs them wrongly), then
        calls ``stored``. None when nothing changed. Raises ``CacheUnavailable``."""
        digest = digest_of(etags)
        if not self._read_stored:  # a new leader continues the stored sequence
            self.last = current()
            self._read_stored = True
        if self.last is not None and self.last.digest == digest:
            # Nothing changed; but if the key is gone (Redis restarted or flushed), put the
            # last notice back, or watchers would label every response "version 0". ``add``
            # never overwrites a newer notice of another publisher (the daily job).
            cache.call("add", keys.VERSION, self.last.as_dict(), None)
            return None
        floor = self.last.version + 1 if self.last is not None else 0
        return Notice(max(int(now.timestamp() * 1000), floor), now.isoformat(), digest)

    def stored(self, notice: Notice) -> None:
        """``notice`` is stored: wake the watchers (PUBLISH) and continue from it."""
        if cache.is_redis():
            try:
                cache.raw_redis(
                    lambda client: client.publish(CHANNEL, str(notice.version)), "PUBLISH"
                )
            except cache.CacheUnavailable as exc:  # watchers still see it when they poll
                logger.warning("could not publish the change notice: %s", exc)
        self.last = notice


class Watcher(threading.Thread):
    """Calls ``on_tick(woken)`` after every notice (``woken=True``) and at least every
    ``poll`` seconds (``woken=False``). On Redis it holds one pub/sub subscription, which
    it re-opens with backoff when Redis goes away; elsewhere it only polls."""

    def __init__(
        self,
        on_tick: Callable[[bool], None],
        *,
        poll: float,
        max_backoff: float = 5.0,
        name: str = "visitors-change-watcher",
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.on_tick = on_tick
        self.poll = poll
        self.max_backoff = max_backoff
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()

    def _tick(self, woken: bool) -> None:
        try:
            self.on_tick(woken)
        except cache.CacheUnavailable as exc:  # an outage (or a failover), already logged
            logger.debug("change watcher: tick skipped: %s", exc)
        except Exception:  # a watcher never dies: the next tick tries again
            logger.exception("change watcher: tick failed")

    def run(self) -> None:
        if not cache.is_redis():
            while not self.stopped.wait(self.poll):
                self._tick(False)
            return
        backoff = 0.1
        while not self.stopped.is_set():
            pubsub = None
            try:
                from django_redis import get_redis_connection

                pubsub = get_redis_connection("default").pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                self._tick(False)  # anything missed while (re)connecting
                backoff = 0.1
                while not self.stopped.is_set():
                    message = pubsub.get_message(timeout=self.poll)
                    self._tick(message is not None)
            except Exception as exc:
                logger.warning(
                    "change watcher: subscription lost (%s); retrying in %.1fs", exc, backoff
                )
                self._tick(False)
                self.stopped.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
