"""Many clients at once, and a count of the statements they cause on the visitor table."""

from __future__ import annotations

import threading
from collections import Counter

from django.db import connections
from django.test import Client


class CountedLock:
    """A real lock that counts how often it was let go: put in place of the single flight's
    guard (``visitors.cache._flights_guard``), ``passed(n)`` waits until n callers have
    looked up or registered their flight, so a test knows a second caller has joined."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._passed = threading.Condition()
        self.released = 0

    def __enter__(self) -> CountedLock:
        self._lock.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
        with self._passed:
            self.released += 1
            self._passed.notify_all()

    def passed(self, times: int, timeout: float = 10) -> bool:
        with self._passed:
            return self._passed.wait_for(lambda: self.released >= times, timeout)


class QueryLog:
    """Counts statements on the visitor alias, in every thread it is installed in."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.total: Counter[str] = Counter()
        self.running: Counter[str] = Counter()
        self.max_running: Counter[str] = Counter()

    def __call__(self, execute, sql, params, many, context):
        shape = " ".join(sql.split())
        with self.guard:
            self.total[shape] += 1
            self.running[shape] += 1
            self.max_running[shape] = max(self.max_running[shape], self.running[shape])
        try:
            return execute(sql, params, many, context)
        finally:
            with self.guard:
                self.running[shape] -= 1

    def selects(self) -> int:
        return sum(n for sql, n in self.total.items() if "visitor_count" in sql)


def concurrent_gets(paths: list[str], log: QueryLog) -> list[tuple[int, dict]]:
    """One thread and one test client per path, released together."""
    barrier = threading.Barrier(len(paths))
    results: list[tuple[int, dict] | BaseException] = [None] * len(paths)  # type: ignore[list-item]

    def worker(index: int, path: str) -> None:
        try:
            with connections["visitors"].execute_wrapper(log):
                client = Client()
                barrier.wait(10)
                response = client.get(path)
                results[index] = (response.status_code, response.json())
        except BaseException as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, p)) for i, p in enumerate(paths)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]
