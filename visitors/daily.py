"""The daily job (``manage.py warm_aggregates``, installed with ``crontab add``).

It closes yesterday in the rollup, re-counts the last ``VISITOR_ROLLUP_RECHECK_DAYS`` days
for rows that arrived late, fills any holes (a new Redis, a long outage) and publishes every
payload. The sync loop closes yesterday by itself at local midnight; this job is what picks
up late rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from visitors import breakdowns, faculties, history, hourly, publishing, rollup, serving
from visitors.clock import local_now
from visitors.conf import visitor_settings
from visitors.endpoints import FALLBACK_TTL, TODAY
from visitors.queries import get_queries


def warm_aggregates(
    *, now: datetime | None = None, recheck_days: int | None = None
) -> dict[str, Any]:
    now = now or local_now()
    days = visitor_settings().VISITOR_ROLLUP_RECHECK_DAYS if recheck_days is None else recheck_days
    queries = get_queries()
    closed, ranges = rollup.update(today=now.date(), recheck_days=days, queries=queries)
    history.update(today=now.date(), queries=queries)
    kept = breakdowns.keep_all(today=now.date(), recheck_days=days, queries=queries)
    request = serving.RequestFacts(now, queries)
    count, _ = serving.value(TODAY, request)
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
    return {
        "days": len(closed),
        "queried": [
            (start.isoformat(), (end - timedelta(days=1)).isoformat()) for start, end in ranges
        ],
        "today": count,
    }
