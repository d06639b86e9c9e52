"""A small circuit breaker: after a backend failed to answer, skip it for a short while.

While Redis or MySQL is known to be down, a request should not pay a connect timeout every
time. After ``retry_after`` seconds one caller is let through as a probe; its success closes
the breaker, its failure keeps it open for another period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from visitors import memory
from visitors.conf import visitor_settings

logger = logging.getLogger(__name__)


def outage_retry_s() -> float:
    """``OUTAGE_RETRY_MS``, read when needed (tests change it)."""
    return visitor_settings().outage_retry_s


class Breaker:
    def __init__(
        self,
        name: str,
        retry_after: Callable[[], float] = outage_retry_s,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.retry_after = retry_after
        self.clock = clock
        self._open_until: float | None = None
        self._guard = threading.Lock()
        self._on_reachable: list[Callable[[], None]] = []
        # How many times the backend came back: what was built in an earlier era (from an
        # outage's fallback counts) is not kept past it.
        self.recoveries = 0

    def when_reachable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the backend answers again after an outage (to drop
        what was kept only for the outage)."""
        self._on_reachable.append(callback)

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def allow(self) -> bool:
        """May the caller try the backend now? At most one probe per period while open.
        A caller told to skip first lets the outage's garbage be collected (``memory``)."""
        if self._open_until is None:
            return True
        with self._guard:
            if self._open_until is None:
                return True
            now = self.clock()
            if now >= self._open_until:
                self._open_until = now + self.retry_after()  # this caller probes, others skip
                return True
        memory.collect_during_outage()
        return False

    def record_success(self) -> None:
        if self._open_until is None:
            return
        with self._guard:
            if self._open_until is None:
                return
            self._open_until = None
            self.recoveries += 1
        logger.warning("%s is reachable again", self.name)
        for callback in self._on_reachable:
            callback()
        # What the outage's fallbacks counted is dropped now: give the pages back.
        memory.give_back_freed_memory()

    def record_failure(self, error: BaseException) -> None:
        with self._guard:
            first = self._open_until is None
            self._open_until = self.clock() + self.retry_after()
        if first:
            logger.error(
                "%s is unreachable (%s); skipping it for %.1fs at a time until it answers",
                self.name,
                error,
                self.retry_after(),
            )

    def reset(self) -> None:
        with self._guard:
            self._open_until = None
