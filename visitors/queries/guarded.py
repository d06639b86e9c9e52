"""The request path's queries, behind a circuit breaker.

While MySQL is known to be down, a request should not pay a connect timeout: it is told at
once (``DatabaseUnavailable``) and serves the last good value instead. The sync loop does
not use this guard; it backs off on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from django.db import InterfaceError, OperationalError

from visitors.breaker import Breaker
from visitors.queries.base import VisitorQueries


class DatabaseUnavailable(OperationalError):
    """The visitor database failed moments ago; it is not retried until the breaker allows."""


breaker = Breaker("visitor database")


class GuardedQueries:
    """``VisitorQueries`` that fail fast while ``breaker`` is open."""

    def __init__(self, queries: VisitorQueries) -> None:
        self.queries = queries
        self.using = queries.using

    def _run(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        if not breaker.allow():
            raise DatabaseUnavailable("the visitor database is unreachable (retrying shortly)")
        try:
            result = fn(**kwargs)
        except (OperationalError, InterfaceError) as exc:
            breaker.record_failure(exc)
            raise
        breaker.record_success()
        return result

    def count(self, *, start: date, end: date) -> int:
        return self._run(self.queries.count, start=start, end=end)

    def count_after_id(self, *, start: date, end: date, after_id: int) -> tuple[int, int]:
        return self._run(self.queries.count_after_id, start=start, end=end, after_id=after_id)

    def daily_counts(self, *, start: date, end: date) -> dict[date, int]:
        return self._run(self.queries.daily_counts, start=start, end=end)
