"""Admin page times on a 10M-row MariaDB table: a stock ModelAdmin vs ``visitors.admin``.

    .venv/bin/python -m bench.admin_bench [--runs 5] [--before-runs 3] [--member-index]

Uses (and leaves in place) the MariaDB database ``library_bench``: when it does not hold
``--rows`` rows (within 1%) reaching yesterday or today, it is (re)loaded with
``seed_visitors`` and the load is timed. Django's own tables go to a SQLite file under
``var/bench_admin/``; the cache is Redis db 11. Pages are rendered in-process by Django's
test client (no HTTP server), so the times are the server's: SQL plus rendering.

"Before" is what a ModelAdmin with the obvious options does (full COUNT(*) per page,
``date_hierarchy``, field list filters that SELECT DISTINCT their choices, ``icontains``
search); "after" is the project's admin. ``--member-index`` also times the searches with
``INDEX(member_id)`` added, then drops it again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import dataset, machine
from bench.config import BenchConfig

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "var" / "bench_admin"
DB_NAME = os.environ.get("BENCH_ADMIN_DB_NAME", "library_bench")
REDIS_URL = os.environ.get("BENCH_ADMIN_REDIS_URL", "redis://127.0.0.1:6379/11")


def configure(config: BenchConfig) -> None:
    """Django on the bench database, with its own tables in a SQLite file of this run."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    dataset.create_database(config)
    os.environ.update(
        {
            **config.environment(),
            "DJANGO_DATABASE_URL": f"sqlite:///{WORK_DIR / 'django.sqlite3'}",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@dataclass
class Timing:
    case: str
    variant: str
    url: str
    first_ms: float
    median_ms: float
    min_ms: float
    max_ms: float
    queries: int
    slowest_sql_ms: float
    slowest_sql: str
    status: int


def build_sites() -> None:
    """URLconf of this module: the project's admin at /admin/, the stock one at /before/."""
    from django.contrib import admin
    from django.urls import path

    from visitors.models import Visitor

    class StockVisitorAdmin(admin.ModelAdmin):
        list_display = (
            "visitor_id",
            "checkin_date",
            "member_id",
            "member_name",
            "institution",
            "room_code",
        )
        list_filter = ("room_code", "institution")
        date_hierarchy = "checkin_date"
        search_fields = ("visitor_id", "member_id", "member_name")
        show_facets = admin.ShowFacets.NEVER

    before = admin.AdminSite(name="before")
    before.register(Visitor, StockVisitorAdmin)
    module = sys.modules[__name__]
    module.urlpatterns = [path("before/", before.urls), path("admin/", admin.site.urls)]


def cases(newest_member: str, mid_id: int) -> list[tuple[str, str, str]]:
    """(case, before query string, after query string)."""
    from visitors.clock import local_now

    now = local_now()
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (month + timedelta(days=32)).replace(day=1)
    this_month = urlencode({"checkin_date__gte": month, "checkin_date__lt": next_month})
    prefix = newest_member[:7]
    return [
        ("changelist, no filter", "", ""),
        ("page 50", "p=50", "p=50"),
        (f"search visitor id {mid_id}", f"q={mid_id}", f"q={mid_id}"),
        (f"search member prefix {prefix}", f"q={prefix}", f"q={prefix}"),
        (f"search member id {newest_member}", f"q={newest_member}", f"q={newest_member}"),
        ("search, no match (ZZZ)", "q=ZZZ", "q=ZZZ"),
        ("filter room ARCHIVE", "room_code__exact=ARCHIVE", "room_code=ARCHIVE"),
        (
            "filter institution",
            "institution__exact=Graduate+School",
            "institution=Graduate+School",
        ),
        (
            "this month",
            f"checkin_date__year={month.year}&checkin_date__month={month.month}",
            this_month,
        ),
    ]


def measure(client: Any, case: str, variant: str, url: str, runs: int) -> Timing:
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    times = []
    first = 0.0
    status = 0
    captured: list[dict[str, str]] = []
    for run in range(runs + 1):  # the first load is reported apart (cold caches)
        with CaptureQueriesContext(connections["visitors"]) as queries:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code not in (200, 302):  # 302: stopped by the time limit
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
        status = response.status_code
        if run == 0:
            first = elapsed
        else:
            times.append(elapsed)
            captured = queries.captured_queries
    slowest = max(captured, key=lambda query: float(query["time"]), default={"time": 0, "sql": ""})
    timing = Timing(
        case=case,
        variant=variant,
        url=url,
        first_ms=round(first, 1),
        median_ms=round(statistics.median(times), 1),
        min_ms=round(min(times), 1),
        max_ms=round(max(times), 1),
        queries=len(captured),
        slowest_sql_ms=round(float(slowest["time"]) * 1000, 1),
        slowest_sql=str(slowest["sql"])[:300],
        status=status,
    )
    print(
        f"{variant:>22} | {case:<34} | median {timing.median_ms:>9.1f} ms "
        f"(first {timing.first_ms:.0f}, {timing.queries} queries, HTTP {status})",
        flush=True,
    )
    return timing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_bench")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=1826)
    parser.add_argument("--runs", type=int, default=5, help="timed loads per page (after)")
    parser.add_argument("--before-runs", type=int, default=3, help="timed loads (before)")
    parser.add_argument("--member-index", action="store_true")
    parser.add_argument("--skip-before", action="store_true")
    args = parser.parse_args(argv)
    config = replace(
        BenchConfig(), db_name=DB_NAME, redis_url=REDIS_URL, rows=args.rows, days=args.days
    )
    configure(config)
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client
    from django.test.utils import override_settings

    from visitors import admin as visitor_admin

    call_command("migrate", verbosity=0, interactive=False)
    data = dataset.ensure(config)
    print(f"admin_bench: {data.rows:,} rows ({data.first} .. {data.last})", flush=True)
    build_sites()
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", password="bench"
    )
    client = Client()
    client.force_login(user)
    with connections["visitors"].cursor() as cursor:
        cursor.execute(
            "SELECT member_id FROM visitor_count WHERE member_id IS NOT NULL "
            "ORDER BY visitor_id DESC LIMIT 1"
        )
        newest_member = cursor.fetchone()[0]
        cursor.execute("SELECT MAX(visitor_id) FROM visitor_count")
        mid_id = cursor.fetchone()[0] // 2

    results: list[Timing] = []
    # Plain static URLs: rendering must not need a collectstatic manifest.
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(ROOT_URLCONF=__name__, STORAGES=storages):
        for case, before_query, after_query in cases(newest_member, mid_id):
            if not args.skip_before:
                results.append(
                    measure(
                        client,
                        case,
                        "before (stock)",
                        f"/before/visitors/visitor/?{before_query}",
                        args.before_runs,
                    )
                )
            cache.delete(visitor_admin.CHOICES_KEY.format(using="visitors"))
            results.append(
                measure(client, case, "after", f"/admin/visitors/visitor/?{after_query}", args.runs)
            )
        if args.member_index:
            results += _with_member_index(client, newest_member, args.runs)

    out = WORK_DIR / "results.json"
    report = {
        "machine": machine.describe(),
        "dataset": asdict(data),
        "results": [asdict(r) for r in results],
    }
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"admin_bench: wrote {out}")
    print(markdown(results))


def _with_member_index(client: Any, newest_member: str, runs: int) -> list[Timing]:
    from django.db import connections

    from visitors import admin as visitor_admin

    with connections["visitors"].cursor() as cursor:
        started = time.monotonic()
        cursor.execute("CREATE INDEX bench_member_id ON visitor_count (member_id)")
        print(f"admin_bench: INDEX(member_id) built in {time.monotonic() - started:.1f}s")
    visitor_admin.member_id_is_indexed.cache_clear()
    try:
        prefix = newest_member[:7]
        return [
            measure(
                client, case, "after + INDEX(member_id)", f"/admin/visitors/visitor/?q={q}", runs
            )
            for case, q in (
                (f"search member prefix {prefix}", prefix),
                (f"search member id {newest_member}", newest_member),
                ("search, no match (ZZZ)", "ZZZ"),
                ("search digits 2024 (id or member)", "2024"),
            )
        ]
    finally:
        with connections["visitors"].cursor() as cursor:
            cursor.execute("DROP INDEX bench_member_id ON visitor_count")
        visitor_admin.member_id_is_indexed.cache_clear()


def markdown(results: list[Timing]) -> str:
    lines = [
        "| page | variant | median ms | min-max ms | first load ms | SQL queries | slowest SQL ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.case} | {r.variant} | {r.median_ms:,.0f} | {r.min_ms:,.0f}-{r.max_ms:,.0f} "
            f"| {r.first_ms:,.0f} | {r.queries} | {r.slowest_sql_ms:,.0f} |"
        )
    return "\n".join(lines)


urlpatterns: list[Any] = []

if __name__ == "__main__":
    main()
