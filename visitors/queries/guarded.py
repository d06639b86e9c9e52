"""The request path's queries, behind a circuit breaker.

While MySQL is known to be down, a request should not pay a connect timeout: it is told at
once (``DatabaseUnavailable``) and serves the last good value instead. The sync loop does
not use this guard; it backs off on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.db import InterfaceError, OperationalError

from visitors.breaker import Breaker
from visitors.queries.base import VisitorQueries


class DatabaseUnavailable(OperationalError):
    """The visitor database failed moments ago; it is not retried until the breaker allows."""


breaker = Breaker("visitor database")


class GuardedQueries:
    """``VisitorQueries`` whose every question fails fast while ``breaker`` is open."""

    def __init__(self, queries: VisitorQueries) -> None:
        self.queries = queries
        self.using = queries.using

    def __getattr__(self, question: str) -> Callable[..., Any]:
        ask = getattr(self.queries, question)

        def guarded(**kwargs: Any) -> Any:
            if not breaker.allow():
                raise DatabaseUnavailable("the visitor database is unreachable (retrying shortly)")
            try:
                result = ask(**kwargs)
            except (OperationalError, InterfaceError) as exc:
                breaker.record_failure(exc)
                raise
            breaker.record_success()
            return result

        return guarded


def guarded(queries: VisitorQueries) -> VisitorQueries:
    """``queries`` behind the request path's breaker."""
    return cast(VisitorQueries, GuardedQueries(queries))
