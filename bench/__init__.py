"""Benchmarks for the library dashboard service (``python -m bench``; not part of the tests).

``python -m bench`` measures on a 10M-row ``visitor_count`` in its own MariaDB database and
Redis database and writes ``docs/BENCHMARKS.md`` plus a chart; ``python -m bench --smoke``
runs every measurement on a tiny table in seconds (CI proves the harness with it).
"""
