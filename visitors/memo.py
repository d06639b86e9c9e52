"""A small per-process memo: values that expire after a while, safe across threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, tuple[float, V]] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        return entry[1] if entry is not None and self.clock() < entry[0] else None

    def put(self, key: str, value: V, lifetime: float) -> None:
        with self._guard:
            self._entries[key] = (self.clock() + lifetime, value)

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
