"""A live demo: realistic check-ins for today, inserted at a steady rate (``simulate_checkins``).

Arrivals follow a Poisson process of ``rate`` per minute (random gaps, as at a real gate);
each inserts one row dated now (library-local) in the shape ``visitors.seeding`` uses. In
``incremental`` mode each insert is also recorded in the writers' counter, as a gate
system would. Only the embedded SQLite table is written unless the caller says the
database is a test one: this never runs against the gate system's MySQL by accident.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime

from django.db import connections

from visitors.clock import local_now
from visitors.conf import visitor_settings
from visitors.legacy_table import ensure_table
from visitors.routers import VISITORS_DB
from visitors.seeding import INSERT_SQL, Population, checkin
from visitors.today import record_checkins

logger = logging.getLogger(__name__)


class NotATestDatabase(Exception):
    """The visitor database is not the embedded default."""


def check_database(*, using: str = VISITORS_DB, database_is_a_test: bool = False) -> str:
    """What will be written (for messages); raises ``NotATestDatabase`` for a real MySQL."""
    connection = connections[using]
    where = f"{connection.vendor} database {connection.settings_dict['NAME']!s}"
    if connection.vendor != "sqlite" and not database_is_a_test:
        raise NotATestDatabase(
            f"the visitor database is the {where} on {connection.settings_dict.get('HOST')}, "
            "not the embedded default; simulated check-ins only go there with "
            "--database-is-a-test"
        )
    return where


def simulate(
    *,
    rate_per_minute: float,
    stop: threading.Event,
    count: int | None = None,
    seed: int | None = None,
    using: str = VISITORS_DB,
    now: Callable[[], datetime] = local_now,
) -> int:
    """Insert check-ins until ``stop`` is set (or ``count`` were inserted); returns how many."""
    if rate_per_minute <= 0:
        raise ValueError("the rate must be positive")
    ensure_table(using)
    rng = random.Random(seed)
    population = Population.build(500, rng)
    incremental = visitor_settings().TODAY_COUNT_MODE == "incremental"
    inserted = 0
    while count is None or inserted < count:
        if stop.wait(rng.expovariate(rate_per_minute / 60)):
            break
        row = checkin(now().replace(tzinfo=None, microsecond=0), population, rng)
        with connections[using].cursor() as cursor:
            cursor.execute(INSERT_SQL, list(row))
        inserted += 1
        if incremental:
            record_checkins(1)
        logger.debug("simulated check-in at %s in %s", row[4], row[3])
        if inserted % 50 == 0:
            logger.info("simulated %d check-ins so far", inserted)
    return inserted
