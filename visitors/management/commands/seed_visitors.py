"""Load synthetic check-ins into ``visitor_count`` (demo, tests, benchmarks; never production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from visitors import seeding
from visitors.clock import local_now
from visitors.faculties import load_csv
from visitors.models import Faculty
from visitors.routers import VISITORS_DB

# The demo rows' institutions (English faculty names) with their Indonesian names.
DEMO_FACULTIES = Path(settings.BASE_DIR) / "docs" / "faculties.demo.csv"


class Command(BaseCommand):
    help = (
        "Create visitor_count if absent and load realistic synthetic check-ins ending now "
        "(library-local time). Refuses a table that has rows unless --append or --truncate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=100_000, help="rows to load (100000)")
        parser.add_argument("--days", type=int, default=730, help="span in days up to now (730)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
        existing = parser.add_mutually_exclusive_group()
        existing.add_argument("--append", action="store_true", help="keep existing rows")
        existing.add_argument(
            "--truncate", action="store_true", help="delete existing rows first (!)"
        )
        existing.add_argument(
            "--demo",
            action="store_true",
            help=(
                f"{seeding.DEMO_ROWS} rows over five calendar years, only into the embedded "
                "SQLite table and only when it is empty (used by `make run`)"
            ),
        )
        parser.add_argument("--database", default=VISITORS_DB, help="DB alias (visitors)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        if using not in connections:
            raise CommandError(f"unknown database alias {using!r}")
        now = local_now().replace(tzinfo=None)
        if options["demo"]:
            self._demo(using, now)
            return
        if options["rows"] < 0 or options["days"] < 1:
            raise CommandError("--rows must be >= 0 and --days >= 1")
        existing = (
            "truncate" if options["truncate"] else "append" if options["append"] else "refuse"
        )
        try:
            result = seeding.seed_visitors(
                rows=options["rows"],
                days=options["days"],
                seed=options["seed"],
                now=now,
                using=using,
                existing=existing,
                progress=not options["no_progress"] and options["verbosity"] > 0,
            )
        except seeding.TableNotEmpty as exc:
            raise CommandError(
                f"{exc} ({seeding.describe_table(using)}): pass --append to add rows or "
                "--truncate to replace them (this deletes every row)."
            ) from exc
        self._report(result, using)

    def _demo(self, using: str, now: Any) -> None:
        vendor = connections[using].vendor
        if vendor != "sqlite":
            self.stdout.write(
                f"seed_visitors --demo: skipped, the {seeding.describe_table(using)} is "
                f"{vendor} (DB_HOST is set); demo rows only go into the embedded SQLite table."
            )
            return
        if seeding.table_exists(using) and seeding.has_rows(using):
            self.stdout.write("seed_visitors --demo: skipped, visitor_count already has rows.")
            self._demo_faculties()  # (a checkout from before the demo named them)
            return
        result = seeding.seed_visitors(
            rows=seeding.DEMO_ROWS,
            days=seeding.demo_days(now.date()),
            seed=seeding.DEMO_SEED,
            now=now,
            using=using,
            min_today=seeding.DEMO_MIN_TODAY,
            progress=False,
        )
        self._report(result, using)
        self._demo_faculties()

    def _demo_faculties(self) -> None:
        """The demo rows' faculties by name (``fakultas`` in the rankings), unless names
        were already given: the demo then looks like the README's examples."""
        if Faculty.objects.exists() or not DEMO_FACULTIES.is_file():
            return
        with DEMO_FACULTIES.open(newline="", encoding="utf-8") as file:
            loaded = load_csv(file)
        self.stdout.write(f"seed_visitors --demo: {loaded.created} faculty names loaded.")

    def _report(self, result: seeding.SeedResult, using: str) -> None:
        rate = result.rows / result.seconds if result.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {result.rows} rows into the {seeding.describe_table(using)} "
                f"({result.first} .. {result.last}) in {result.seconds:.1f}s ({rate:,.0f} rows/s)."
            )
        )
