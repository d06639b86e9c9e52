"""What a web worker does once, as it loads: create now the long-lived objects that its first
cache outage would otherwise create.

Warm, a worker answers from pre-rendered bytes and never runs the database path, so the
metric series that path writes were first created amid the first outage's short-lived
counts. Python's allocator gives a 1 MiB arena back only when every object in it is gone:
those survivors kept the outage's freed memory from going back. Created here, they sit with
the worker's other start-up objects.
"""

from __future__ import annotations

from visitors import keys, prometheus
from visitors.breakdowns import BREAKDOWNS
from visitors.conf import visitor_settings
from visitors.endpoints import CATALOGUE
from visitors.queries import LAYERS


def prepare_web_worker() -> None:
    """The metric series of the database path, at 0."""
    prometheus.start_series(
        endpoints=[endpoint.url_name for endpoint in CATALOGUE],
        # every key a request may compute on a miss (``cache.get_or_compute``)
        cache_keys=[
            *(endpoint.key for endpoint in CATALOGUE),
            keys.ROLLUP_DAILY,
            keys.ROLLUP_HISTORY,
            *(breakdown.coverage_key for breakdown in BREAKDOWNS),
        ],
        copy_keys=[endpoint.key for endpoint in CATALOGUE if endpoint.costly],
        questions=prometheus.timed_questions(LAYERS[visitor_settings().USE_ORM]),
    )
