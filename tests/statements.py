"""Counting the statements that reach the check-in table, for the tests of what queries what."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections


@contextmanager
def visitor_queries(alias: str = "visitors") -> Iterator[list[tuple[str, tuple]]]:
    """Every statement on ``visitor_count`` run on ``alias`` inside the block: (sql, params)."""
    seen: list[tuple[str, tuple]] = []

    def record(execute, sql, params, many, context):
        if "visitor_count" in sql:
            seen.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)

    with connections[alias].execute_wrapper(record):
        yield seen
