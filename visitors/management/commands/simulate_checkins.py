from __future__ import annotations

import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from visitors import simulation
from visitors.sync import stop_on_signals


class Command(BaseCommand):
    help = (
        "A live demo: insert realistic check-ins for today at a rate, until stopped. Only "
        "into the embedded SQLite table, unless --database-is-a-test."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rate",
            type=float,
            default=20.0,
            metavar="PER_MINUTE",
            help="check-ins per minute on average (20)",
        )
        parser.add_argument("--count", type=int, help="stop after this many check-ins")
        parser.add_argument("--seed", type=int, help="random seed (default: a new one)")
        parser.add_argument(
            "--database-is-a-test",
            action="store_true",
            help="allow a MySQL visitor database (DB_HOST): never the gate system's own",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="only say whether it would run here (exit 0) or not (exit 3)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rate"] <= 0:
            raise CommandError("--rate must be positive")
        try:
            where = simulation.check_database(database_is_a_test=options["database_is_a_test"])
        except simulation.NotATestDatabase as exc:
            if options["check"]:
                self.stdout.write(f"simulate_checkins: would not run: {exc}")
                raise SystemExit(3) from exc
            raise CommandError(str(exc)) from exc
        if options["check"]:
            self.stdout.write(f"simulate_checkins: would insert into the {where}")
            return
        # Log lines (stderr), stamped like the demo's other lines; --check answers on stdout.
        simulation.logger.info(
            "about %g check-ins a minute into visitor_count of the %s; Ctrl-C to stop",
            options["rate"],
            where,
        )
        stop = threading.Event()
        stop_on_signals(stop)
        inserted = simulation.simulate(
            rate_per_minute=options["rate"], stop=stop, count=options["count"], seed=options["seed"]
        )
        simulation.logger.info("inserted %d check-ins", inserted)
