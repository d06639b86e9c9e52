"""The measured table: reuse ``visitor_count`` when it already holds the wanted rows up to
today, otherwise (re)load it with ``manage.py seed_visitors``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bench.config import BenchConfig


@dataclass(frozen=True)
class Dataset:
    rows: int
    first: datetime | None
    last: datetime | None
    today_rows: int
    loaded: bool  # True when this run loaded the rows
    load_seconds: float | None
    command: str


def create_database(config: BenchConfig) -> None:
    """CREATE DATABASE IF NOT EXISTS, before Django connects to it."""
    import MySQLdb

    connection = MySQLdb.connect(
        host=config.db_host, port=config.db_port, user=config.db_user, passwd=config.db_password
    )
    try:
        cursor = connection.cursor()
        name = config.db_name.replace("`", "``")
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    finally:
        connection.close()


def _stats(today: date) -> tuple[int, datetime | None, datetime | None, int]:
    from django.db import connections

    from visitors.clock import day_start
    from visitors.legacy_table import table_exists

    if not table_exists("visitors"):
        return 0, None, None, 0
    with connections["visitors"].cursor() as cursor:
        cursor.execute("SELECT COUNT(*), MIN(checkin_date), MAX(checkin_date) FROM visitor_count")
        rows, first, last = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM visitor_count WHERE checkin_date >= %s",
            [day_start(today)],
        )
        today_rows = cursor.fetchone()[0]
    return int(rows), first, last, int(today_rows)


def is_usable(*, rows: int, wanted: int, last: datetime | None, today: date) -> bool:
    """Within 1% of the wanted rows, and reaching yesterday or today (so today has rows)."""
    close = abs(rows - wanted) <= max(wanted // 100, 1)
    return close and last is not None and last.date() >= today - timedelta(days=1)


def ensure(config: BenchConfig) -> Dataset:
    from django.core.management import call_command

    from visitors.clock import local_date

    today = local_date()
    rows, first, last, today_rows = _stats(today)
    command = (
        f"DB_NAME={config.db_name} python manage.py seed_visitors --rows {config.rows} "
        f"--days {config.days} --database visitors --truncate"
    )
    if not config.reload and is_usable(rows=rows, wanted=config.rows, last=last, today=today):
        return Dataset(rows, first, last, today_rows, False, None, command)
    print(f"bench: loading {config.rows:,} rows into {config.db_name} (found {rows:,})")
    started = time.monotonic()
    call_command(
        "seed_visitors",
        rows=config.rows,
        days=config.days,
        database="visitors",
        truncate=True,
        no_progress=True,
        verbosity=0,
    )
    seconds = time.monotonic() - started
    from django.db import connections

    with connections["visitors"].cursor() as cursor:  # fresh statistics for the optimizer
        cursor.execute("ANALYZE TABLE visitor_count")
        cursor.fetchall()
    rows, first, last, today_rows = _stats(today)
    return Dataset(rows, first, last, today_rows, True, seconds, command)
