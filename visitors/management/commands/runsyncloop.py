from __future__ import annotations

import threading
from typing import Any

from django.core import checks
from django.core.management.base import BaseCommand, CommandError, CommandParser

from visitors.checks import migrations_applied
from visitors.sync import LoopConfig, SyncLoop, stop_on_signals


def _positive_ms(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be >= 0")
    return number


class Command(BaseCommand):
    help = (
        "Keep today's count and every served series warm (long-running; one leader across hosts)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one cycle and exit.")
        parser.add_argument(
            "--interval",
            type=_positive_ms,
            metavar="MS",
            help="Minimum ms between cycle starts (overrides VISITOR_SYNC_MIN_INTERVAL_MS).",
        )
        parser.add_argument(
            "--buffer",
            type=_positive_ms,
            metavar="MS",
            help="Minimum ms between a cycle's end and the next start (overrides VISITOR_SYNC_BUFFER_MS).",
        )

    def handle(
        self, *args: Any, once: bool, interval: int | None, buffer: int | None, **options: Any
    ) -> None:
        # Without migrations the embedded default has no cache table: every write would fail.
        errors = [m for m in migrations_applied() if m.level >= checks.ERROR]
        if errors:
            raise CommandError("not starting: " + " ".join(f"{m.msg} {m.hint}" for m in errors))
        stop = threading.Event()
        stop_on_signals(stop)
        config = LoopConfig.from_settings(interval_ms=interval, buffer_ms=buffer)
        if not SyncLoop(config=config, stop=stop).run(once=once):
            raise CommandError("the cycle did not complete (see the log above)")
