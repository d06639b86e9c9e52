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


class LastResult(Generic[V]):
    """The last result of a pure computation, reused while it is asked again with the same
    inputs: the very same objects for containers (the loop hands each cycle the same rows
    and kept days until they change), equal values for the rest. Each sync cycle then
    recomputes only what changed. The result is shared: callers must not mutate it."""

    def __init__(self) -> None:
        self._last: tuple[tuple[object, ...], V] | None = None

    @staticmethod
    def _same(a: object, b: object) -> bool:
        return a is b if isinstance(a, dict | list | tuple | set) else a == b

    def get(self, inputs: tuple[object, ...], compute: Callable[[], V], *, keep: bool) -> V:
        """``compute()``, or the last result for the same inputs; remembered only when
        ``keep`` (``Facts.keeps_results``)."""
        if not keep:
            return compute()
        last = self._last
        if (
            last is not None
            and len(last[0]) == len(inputs)
            and all(self._same(a, b) for a, b in zip(last[0], inputs, strict=True))
        ):
            return last[1]
        value = compute()
        self._last = (inputs, value)
        return value

    def clear(self) -> None:
        self._last = None
