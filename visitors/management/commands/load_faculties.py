"""``manage.py load_faculties FILE.csv``: faculty names from a ``code,name`` CSV file."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from visitors.faculties import BadFacultyFile, load_csv


class Command(BaseCommand):
    help = (
        "Load faculty names from a CSV file with a 'code,name' header row. Re-running "
        "renames existing codes and never duplicates them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file: header 'code,name', then one faculty a line")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with open(options["file"], newline="", encoding="utf-8-sig") as file:
                loaded = load_csv(file)
        except (OSError, UnicodeDecodeError, BadFacultyFile) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"faculties: {loaded.created} created, {loaded.updated} renamed, "
            f"{loaded.unchanged} unchanged"
        )
