"""In-process measurements: loop cycles, the daily job against a full scan, cold starts.

Everything goes through the service's own code (``visitors.sync.Cycle``,
``visitors.daily.warm_aggregates``, ``visitors.serving``) against the bench database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.config import BenchConfig
from bench.stats import median, percentile

MODES = ("direct", "delta", "incremental")
LAYERS = {"raw": False, "orm": True}
WARMUP_CYCLES = 3


def _ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def loop_cycles(config: BenchConfig) -> list[dict[str, Any]]:
    """Median and p90 of ``Cycle.run`` per today-count mode and DB layer (warm rollup)."""
    from django.core.cache import cache

    from visitors.clock import local_now
    from visitors.queries import get_queries
    from visitors.sync import Cycle
    from visitors.today import make_counter

    results = []
    for layer, use_orm in LAYERS.items():
        for mode in MODES:
            cache.clear()
            queries = get_queries(use_orm=use_orm)
            counter = make_counter(mode, queries=queries, reconcile_interval=timedelta(seconds=60))
            cycle = Cycle(counter=counter, queries=queries)
            first_ms, _ = _ms(lambda c=cycle: c.run(now=local_now(), key_ttl=60))
            for _ in range(WARMUP_CYCLES):
                cycle.run(now=local_now(), key_ttl=60)
            totals: list[float] = []
            steps: dict[str, list[float]] = {}
            count = 0
            for _ in range(config.cycles):
                report = cycle.run(now=local_now(), key_ttl=60)
                totals.append(report.total_ms)
                count = report.count
                for name, ms in report.steps_ms.items():
                    steps.setdefault(name, []).append(ms)
            results.append(
                {
                    "layer": layer,
                    "mode": mode,
                    "cycles": len(totals),
                    "count": count,
                    "first_ms": first_ms,
                    "median_ms": median(totals),
                    "p90_ms": percentile(totals, 90),
                    "max_ms": max(totals),
                    "steps_median_ms": {name: median(v) for name, v in steps.items()},
                }
            )
            print(
                f"bench: loop {layer:3} {mode:11} median={results[-1]['median_ms']:.2f}ms "
                f"p90={results[-1]['p90_ms']:.2f}ms"
            )
    return results


def _full_yearly_scan() -> list[tuple[int, int]]:
    """What the old service ran for /yearly: one GROUP BY over five years of rows."""
    from django.db import connections

    from visitors.clock import day_start, local_date, next_day
    from visitors.series import history_start

    today = local_date()
    with connections["visitors"].cursor() as cursor:
        cursor.execute(
            "SELECT YEAR(checkin_date), COUNT(*) FROM visitor_count "
            "WHERE checkin_date >= %s AND checkin_date < %s GROUP BY YEAR(checkin_date)",
            [day_start(history_start(today)), day_start(next_day(today))],
        )
        return list(cursor.fetchall())


def daily_job(config: BenchConfig) -> dict[str, Any]:
    """``warm_aggregates`` with a kept rollup vs a full five-year GROUP BY, same run."""
    from django.conf import settings
    from django.core.cache import cache

    from visitors import rollup
    from visitors.breakdowns import BREAKDOWNS
    from visitors.clock import local_date
    from visitors.daily import warm_aggregates
    from visitors.queries import get_queries

    cache.clear()
    fill_ms, _ = _ms(lambda: rollup.update(today=local_date(), queries=get_queries()))
    job_runs = [_ms(warm_aggregates)[0] for _ in range(config.daily_runs)]

    def every_day_changed() -> Any:  # as if each re-checked day had late rows
        cache.delete_many([store.prints_key for store in BREAKDOWNS])
        return warm_aggregates()

    recount_runs = [_ms(every_day_changed)[0] for _ in range(config.daily_runs)]
    scan_runs = [_ms(_full_yearly_scan)[0] for _ in range(config.full_scan_runs)]
    job, scan = median(job_runs), median(scan_runs)
    result = {
        "recheck_days": settings.VISITORS.VISITOR_ROLLUP_RECHECK_DAYS,
        "job_runs_ms": job_runs,
        "job_median_ms": job,
        "recount_runs_ms": recount_runs,
        "recount_median_ms": median(recount_runs),
        "full_scan_runs_ms": scan_runs,
        "full_scan_median_ms": scan,
        "rollup_fill_ms": fill_ms,
        "speedup": scan / job if job else float("inf"),
    }
    print(f"bench: daily job {job:.1f}ms vs full GROUP BY {scan:.0f}ms ({result['speedup']:.0f}x)")
    return result


COLD_CLIENTS = 8


def _concurrent(fn: Callable[[], Any], clients: int) -> list[float]:
    """Each client's wait when ``clients`` threads ask at once (single flight: one computes)."""
    from django.db import connections

    waits: list[float] = []
    barrier = threading.Barrier(clients)

    def client() -> None:
        barrier.wait()
        try:
            waits.append(_ms(fn)[0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(waits)


def cold_start(config: BenchConfig) -> dict[str, Any]:
    """Empty Redis to every payload; then cold series with the rollup kept."""
    from django.core.cache import cache

    from visitors import serving
    from visitors.endpoints import SUMMARY, TODAY

    def summary() -> Any:
        return serving.value(SUMMARY, serving.request_facts())

    cache.clear()
    empty_ms, _ = _ms(summary)
    cache.clear()
    concurrent_ms = _concurrent(summary, COLD_CLIENTS)
    series_ms: dict[str, float] = {}
    runs = max(3, config.daily_runs)
    series = [part for part in SUMMARY.parts if part is not TODAY]
    for endpoint in series:
        samples = []
        for _ in range(runs):
            cache.delete_many([endpoint.key, TODAY.key, SUMMARY.key])
            samples.append(
                _ms(lambda e=endpoint: serving.value(e, serving.request_facts()))[0]  # type: ignore[misc]
            )
        series_ms[endpoint.name] = median(samples)
    samples = []
    for _ in range(runs):
        cache.delete_many([endpoint.key for endpoint in (*series, TODAY, SUMMARY)])
        samples.append(_ms(summary)[0])
    result = {
        "empty_redis_summary_ms": empty_ms,
        "empty_redis_concurrent_clients": COLD_CLIENTS,
        "empty_redis_concurrent_ms": concurrent_ms,
        "cold_series_with_rollup_ms": series_ms,
        "cold_summary_with_rollup_ms": median(samples),
    }
    print(f"bench: cold start {empty_ms:.0f}ms; with rollup {series_ms}")
    return result
