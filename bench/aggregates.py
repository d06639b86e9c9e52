"""The breakdowns behind the rankings (and the when-and-where payloads), on the bench table.

- ``rankings``: the old service's way (this year's ``GROUP BY member_id, member_name,
  institution`` on every refresh, and the faculties' ``GROUP BY institution``) against
  ours: the daily job's ranking work (re-checking the recheck window of the member and
  institution stores: days whose prints did not change are not counted again; and, as
  if every re-checked day had late rows, the same work counting them all), filling
  those stores once, and a cold ranking (its payload gone, the stores kept).
- ``payload_costs``: what each catalogued payload adds to a loop cycle (its build, median
  over warm cycles), with today's rows step; the payloads the first version did not have
  are summed as the growth of the cycle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.config import BenchConfig
from bench.stats import median

# The payloads of the first version: everything else is what the cycle grew by.
FIRST_VERSION = ("today", "weekly", "monthly", "yearly", "summary")
OLD_MEMBER_SQL = (
    "SELECT member_id, member_name, institution, COUNT(*) AS total FROM visitor_count "
    "WHERE checkin_date >= %s AND checkin_date < %s "
    "GROUP BY member_id, member_name, institution ORDER BY total DESC LIMIT 10"
)
OLD_FACULTY_SQL = (
    "SELECT institution, COUNT(*) AS total FROM visitor_count "
    "WHERE checkin_date >= %s AND checkin_date < %s GROUP BY institution ORDER BY total DESC"
)


def _ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _old_ranking(sql: str) -> Callable[[], Any]:
    """The old service's yearly ranking query: this year so far, today included."""
    from django.db import connections

    from visitors.clock import day_start, local_date, next_day

    today = local_date()

    def run() -> Any:
        with connections["visitors"].cursor() as cursor:
            cursor.execute(
                sql, [day_start(today.replace(month=1, day=1)), day_start(next_day(today))]
            )
            return cursor.fetchall()

    return run


def rankings(config: BenchConfig) -> dict[str, Any]:
    from django.conf import settings
    from django.core.cache import cache

    from visitors import rankings as ranking_payloads
    from visitors import serving
    from visitors.breakdowns import INSTITUTIONS, MEMBERS
    from visitors.clock import local_date
    from visitors.endpoints import RANKINGS
    from visitors.queries import get_queries

    today = local_date()
    queries = get_queries()
    stores = (MEMBERS, INSTITUTIONS)
    recheck = settings.VISITORS.VISITOR_ROLLUP_RECHECK_DAYS
    for store in stores:
        _forget_store(store, today)
    fill_ms = {s.name: _ms(lambda s=s: s.keep(today=today, queries=queries)) for s in stores}  # type: ignore[misc]

    def daily_work() -> None:
        for store in stores:
            store.keep(today=today, queries=queries, recheck_days=recheck)

    daily_runs = [_ms(daily_work) for _ in range(config.daily_runs)]

    def every_day_changed() -> None:  # as if each re-checked day had late rows
        cache.delete_many([store.prints_key for store in stores])

    recount_runs = []
    for _ in range(config.daily_runs):
        every_day_changed()
        recount_runs.append(_ms(daily_work))
    old_runs = {
        "members": [_ms(_old_ranking(OLD_MEMBER_SQL)) for _ in range(config.full_scan_runs)],
        "faculties": [_ms(_old_ranking(OLD_FACULTY_SQL)) for _ in range(config.full_scan_runs)],
    }
    cold: dict[str, float] = {}
    for endpoint in RANKINGS:
        samples = []
        for _ in range(3):
            cache.delete_many([endpoint.key])
            ranking_payloads.forget()  # and this process's own tallies
            samples.append(_ms(lambda e=endpoint: serving.value(e, serving.request_facts())))  # type: ignore[misc]
        cold[endpoint.name] = median(samples)
    old = median(old_runs["members"]) + median(old_runs["faculties"])
    ours = median(daily_runs)
    result = {
        "recheck_days": recheck,
        "fill_ms": fill_ms,
        "daily_runs_ms": daily_runs,
        "daily_median_ms": ours,
        "recount_runs_ms": recount_runs,
        "recount_median_ms": median(recount_runs),
        "old_runs_ms": old_runs,
        "old_median_ms": old,
        "speedup": old / ours if ours else float("inf"),
        "cold_ms": cold,
    }
    print(
        f"bench: rankings daily work {ours:.1f}ms (every re-checked day changed: "
        f"{result['recount_median_ms']:.0f}ms) vs the old GROUP BYs {old:.0f}ms "
        f"({result['speedup']:.0f}x); cold {cold}"
    )
    return result


def _forget_store(store: Any, today: Any) -> None:
    """Every key a breakdown store holds (its days, coverage, fold): a first fill follows."""
    from django.core.cache import cache

    if hasattr(cache, "delete_pattern"):  # django-redis
        cache.delete_pattern(f"{store.coverage_key}*")
        return
    first = store.keep_from(today)
    days = [first + timedelta(days=n) for n in range((today - first).days + 1)]
    cache.delete_many([store.coverage_key, *(store.day_key(day) for day in days)])


def payload_costs(config: BenchConfig) -> dict[str, Any]:
    """Each payload's build in a warm cycle (median), and the cycle with and without them."""
    from visitors import publishing
    from visitors.clock import local_now
    from visitors.endpoints import CATALOGUE
    from visitors.queries import get_queries
    from visitors.sync import Cycle
    from visitors.today import make_counter

    queries = get_queries()
    counter = make_counter("direct", queries=queries, reconcile_interval=timedelta(seconds=60))
    cycle = Cycle(counter=counter, queries=queries)
    for _ in range(3):
        cycle.run(now=local_now(), key_ttl=60)
    builds: dict[str, list[float]] = {endpoint.name: [] for endpoint in CATALOGUE}
    totals: list[float] = []
    rows: list[float] = []
    for _ in range(config.cycles):
        report = cycle.run(now=local_now(), key_ttl=60)
        totals.append(report.total_ms)
        rows.append(report.steps_ms.get("rows", 0.0))
        assert cycle.closed is not None
        facts = publishing.CycleFacts(
            local_now(),
            cycle.closed,
            report.count,
            cycle.today_rows.rows,
            cycle.breakdowns,
            cycle.faculty_names,
        )
        for endpoint in CATALOGUE:
            if not endpoint.parts:  # a composite only assembles its parts' values
                builds[endpoint.name].append(_ms(lambda e=endpoint, f=facts: e.build(f)))  # type: ignore[misc]
    per_payload = {name: median(samples) for name, samples in builds.items() if samples}
    added = sum(ms for name, ms in per_payload.items() if name not in FIRST_VERSION)
    result = {
        "cycles": config.cycles,
        "cycle_median_ms": median(totals),
        "rows_step_median_ms": median(rows),
        "build_median_ms": per_payload,
        "growth_ms": added + median(rows),
        "today_rows": len(cycle.today_rows.rows),
    }
    print(f"bench: cycle {result['cycle_median_ms']:.2f}ms, grown by {result['growth_ms']:.2f}ms")
    return result


def when_and_where(config: BenchConfig) -> dict[str, Any]:
    """Filling the hour and room stores once; a 5-year report by day, as JSON and as CSV,
    from the kept counts, against a GROUP BY over the same range (same run)."""
    import json

    from django.db import connections

    from visitors import reports
    from visitors.breakdowns import HOURS, ROOMS
    from visitors.clock import day_start, local_date, next_day
    from visitors.queries import get_queries

    today = local_date()
    queries = get_queries()
    fill_ms = {}
    for store in (HOURS, ROOMS):
        _forget_store(store, today)
        fill_ms[store.name] = _ms(lambda s=store: s.keep(today=today, queries=queries))  # type: ignore[misc]
    start = today.replace(year=today.year - 5) + timedelta(days=1)
    request = reports.parse({"from": start.isoformat(), "to": today.isoformat(), "by": "day"})
    reports.answer(request)  # the rollup is warm after the loop; this fills anything else
    runs = max(5, config.daily_runs)
    json_ms = [_ms(lambda: json.dumps(reports.answer(request)).encode()) for _ in range(runs)]
    csv_ms = [_ms(lambda: reports.csv_bytes(reports.answer(request))) for _ in range(runs)]

    def group_by() -> Any:
        with connections["visitors"].cursor() as cursor:
            cursor.execute(
                "SELECT DATE(checkin_date), COUNT(*) FROM visitor_count WHERE checkin_date >= %s "
                "AND checkin_date < %s GROUP BY DATE(checkin_date)",
                [day_start(start), day_start(next_day(today))],
            )
            return cursor.fetchall()

    scan_ms = [_ms(group_by) for _ in range(config.full_scan_runs)]
    result = {
        "fill_ms": fill_ms,
        "report_days": (today - start).days + 1,
        "report_json_ms": median(json_ms),
        "report_csv_ms": median(csv_ms),
        "group_by_ms": median(scan_ms),
    }
    print(
        f"bench: 5-year report by day: JSON {result['report_json_ms']:.1f}ms, CSV "
        f"{result['report_csv_ms']:.1f}ms; GROUP BY {result['group_by_ms']:.0f}ms; fill {fill_ms}"
    )
    return result
