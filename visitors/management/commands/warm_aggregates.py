from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from visitors.daily import logger, warm_aggregates


class Command(BaseCommand):
    help = (
        "The daily job: close yesterday in the rollup, re-count the last days for late rows, "
        "fill any holes, and publish every payload when that changed anything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--recheck-days",
            type=int,
            default=None,
            help="Re-count this many recent closed days (default VISITOR_ROLLUP_RECHECK_DAYS).",
        )

    def handle(self, *args: Any, recheck_days: int | None, **options: Any) -> None:
        result = warm_aggregates(recheck_days=recheck_days)
        queried = ", ".join(f"{a}..{b}" for a, b in result["queried"]) or "nothing"
        # A log line (stderr), stamped like every other: cron appends it to warm_aggregates.log.
        logger.info(
            "rollup: %d closed days; queried %s; today=%s; %s",
            result["days"],
            queried,
            result["today"],
            "published" if result["published"] else "nothing changed, nothing published",
        )
