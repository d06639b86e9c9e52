"""The daily job (``manage.py warm_aggregates``, installed with ``crontab add``).

It closes yesterday in the rollup, re-counts the last ``VISITOR_ROLLUP_RECHECK_DAYS`` days
for rows that arrived late, fills any holes (a new Redis, a long outage) and, when that
changed anything, publishes every payload. The sync loop closes yesterday by itself at
local midnight (and republishes when the job changed the closed days: it watches their
stamps); this job is what picks up late rows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from visitors import breakdowns, faculties, history, hourly, publishing, rollup, serving
from visitors.clock import local_now
from visitors.conf import visitor_settings
from visitors.day_prints import DayPrints
from visitors.endpoints import FALLBACK_TTL, TODAY
from visitors.queries import get_queries
from visitors.sync import closed_stamps

logger = logging.getLogger(__name__)


def warm_aggregates(
    *, now: datetime | None = None, recheck_days: int | None = None
) -> dict[str, Any]:
    now = now or local_now()
    days = visitor_settings().VISITOR_ROLLUP_RECHECK_DAYS if recheck_days is None else recheck_days
    queries = get_queries()
    before = closed_stamps()
    prints = DayPrints(queries, now.date(), days)  # one read for the rollup and every store
    closed, ranges = rollup.update(
        today=now.date(), recheck_days=days, queries=queries, prints=prints
    )
    history.update(today=now.date(), queries=queries)
    kept = breakdowns.keep_all(today=now.date(), recheck_days=days, queries=queries, prints=prints)
    request = serving.RequestFacts(now, queries)
    count, _ = serving.value(TODAY, request)
    result = {
        "days": len(closed),
        "queried": [
            (start.isoformat(), (end - timedelta(days=1)).isoformat()) for start, end in ranges
        ],
        "today": count,
        "published": False,
    }
    if closed_stamps() == before:  # no late row, no hole: what is published still holds
        logger.info("daily job: the re-checked days did not change; nothing to publish")
        return result
    facts = publishing.CycleFacts.of(
        now=now,
        closed=closed,
        today_count=count,
        today_rows=request.today_rows,
        breakdowns=kept,
        faculty_names=faculties.names(),
        minutes={key: request.hour_minutes(*key) for key in hourly.minutes_wanted(now)},
    )
    publishing.publish(facts, ttl=FALLBACK_TTL)
    return {**result, "published": True}
