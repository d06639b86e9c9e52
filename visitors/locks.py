"""The sync loop's leader lock: one worker across hosts, held with a TTL that it renews.

On Redis this is redis-py's Lock (atomic token check on renew and release). On the embedded
default (one host, Django's database cache) a simpler add/touch lock does the same job.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Protocol

from django.core.cache import cache as django_cache

from visitors import cache, keys

logger = logging.getLogger(__name__)


class LeaderLock(Protocol):
    def acquire(self) -> bool: ...

    def renew(self) -> bool:
        """Extend the TTL; False when the lock is no longer ours."""
        ...

    def release(self) -> None: ...


class RedisLeaderLock:
    def __init__(self, key: str, ttl: float) -> None:
        self.ttl = ttl
        self._lock = django_cache.lock(key, timeout=ttl, thread_local=False)

    def acquire(self) -> bool:
        return bool(self._lock.acquire(blocking=False))

    def renew(self) -> bool:
        from redis.exceptions import LockError

        try:
            self._lock.reacquire()
            return True
        except LockError:
            return False

    def release(self) -> None:
        from redis.exceptions import LockError

        with contextlib.suppress(LockError):
            self._lock.release()


class CacheLeaderLock:
    def __init__(self, key: str, ttl: float) -> None:
        self.key = key
        self.ttl = ttl
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        return bool(cache.call("add", self.key, self.token, self.ttl))

    def renew(self) -> bool:
        if cache.call("get", self.key) != self.token:
            return False
        return bool(cache.call("touch", self.key, self.ttl))

    def release(self) -> None:
        if cache.safe("get", self.key) == self.token:
            cache.safe("delete", self.key)


def leader_lock(ttl: float, key: str = keys.SYNC_LEADER) -> LeaderLock:
    return RedisLeaderLock(key, ttl) if cache.is_redis() else CacheLeaderLock(key, ttl)
