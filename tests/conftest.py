from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

import pytest
from django.core.cache import cache
from django.db import connections

from visitors import breakdowns, hourly, live, rankings, rooms, sync, today_rows
from visitors import cache as visitors_cache
from visitors.legacy_table import ensure_table
from visitors.queries import VisitorQueries, get_queries, guarded
from visitors.sync import LoopConfig

VISITOR_ALIASES = ("visitors", "visitors_sqlite")
ALL_DATABASES = ["default", *VISITOR_ALIASES]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The visitor table is unmanaged: create it in each test database."""
    with django_db_blocker.unblock():
        for alias in VISITOR_ALIASES:
            ensure_table(alias)


def _forget_outages() -> None:
    """An outage one test caused (breakers open, values kept while Redis was down) ends with it."""
    visitors_cache.breaker.reset()
    visitors_cache.memo.clear()
    guarded.breaker.reset()
    rankings.forget()
    breakdowns.while_unreachable.clear()
    hourly._heatmaps.clear()
    rooms._months.clear()
    today_rows._tallies.clear()
    live._last_copies.clear()
    for thread in threading.enumerate():  # tests that call ``SyncLoop.step`` never stop it
        if isinstance(thread, sync._Renewer):
            thread.done.set()


@pytest.fixture(autouse=True)
def _clean_cache():
    _forget_outages()
    cache.clear()
    yield
    _forget_outages()
    cache.clear()


InsertVisits = Callable[..., list[int]]


def _insert(alias: str, moments: Iterable[datetime], **columns: str | None) -> list[int]:
    """Insert one check-in per naive local datetime; returns the new visitor_ids."""
    ids = []
    with connections[alias].cursor() as cursor:
        for moment in moments:
            cursor.execute(
                "INSERT INTO visitor_count (member_id, member_name, institution, room_code, "
                "checkin_date) VALUES (%s, %s, %s, %s, %s)",
                [
                    columns.get("member_id", "M1"),
                    columns.get("member_name", "Test Member"),
                    columns.get("institution", "Faculty of Engineering"),
                    columns.get("room_code", "R1"),
                    moment.replace(tzinfo=None),
                ],
            )
            ids.append(cursor.lastrowid)
    return ids


def _truncate(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")


@pytest.fixture
def insert_visits(db) -> InsertVisits:
    """Insert rows into the MariaDB visitor table (the default visitor alias)."""
    _truncate("visitors")
    return lambda moments, **columns: _insert("visitors", moments, **columns)


@pytest.fixture(
    params=[
        pytest.param(("visitors", False), id="mariadb-raw"),
        pytest.param(("visitors", True), id="mariadb-orm"),
        pytest.param(("visitors_sqlite", False), id="sqlite-raw"),
        pytest.param(("visitors_sqlite", True), id="sqlite-orm"),
    ]
)
def layer(request, db) -> tuple[VisitorQueries, InsertVisits]:
    """Each DB layer on each vendor: (queries, insert) for the same table."""
    alias, use_orm = request.param
    _truncate(alias)
    return get_queries(using=alias, use_orm=use_orm), (
        lambda moments, **columns: _insert(alias, moments, **columns)
    )


def loop_config(**overrides: float | bool) -> LoopConfig:
    """The loop's configuration from the settings, with ``overrides`` (seconds)."""
    return replace(LoopConfig.from_settings(), **overrides)
