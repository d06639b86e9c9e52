from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from visitors.status import render, snapshot


class Command(BaseCommand):
    help = (
        "Snapshot of the service: mode, DB layer, sync-loop leader and last cycle, cache key "
        "ages and TTLs, rollup coverage, database and cache reachability."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON, for scripts.")

    def handle(self, *args: Any, **options: Any) -> None:
        body = snapshot()
        self.stdout.write(json.dumps(body, indent=2) if options["json"] else render(body))
