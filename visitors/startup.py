"""What a web worker does once, as it loads: create now the long-lived objects that its first
cache outage would otherwise create.

Warm, a worker answers from pre-rendered bytes and never runs the database path; whatever
that path creates once and keeps (metric series, the module Django imports at the first ORM
query) was created amid the first outage's short-lived counts. Python's allocator gives a
1 MiB arena back only when every object in it is gone, so those few survivors kept the
outage's freed memory from going back. Created here, they sit with the worker's other
start-up objects.
"""

from __future__ import annotations

import importlib

from django.urls import resolve

from visitors import prometheus
from visitors.endpoints import CATALOGUE
from visitors.queries import get_queries


def prepare_web_worker() -> None:
    """Metric series of the database path at 0, and the ORM's SQL compiler imported."""
    prometheus.start_series(
        endpoints=[(resolve(endpoint.url_path).view_name, endpoint.key) for endpoint in CATALOGUE],
        questions=prometheus.timed_questions(type(get_queries())),
    )
    importlib.import_module("django.db.models.sql.compiler")
