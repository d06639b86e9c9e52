"""No thundering herd: 50 clients on a cold cache cost one database query per question.

Each client is a thread with its own Django test client and its own database connection;
every statement on the visitor alias is counted in every thread.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache as django_cache

from tests.concurrency import CountedLock, QueryLog, concurrent_gets
from visitors import cache
from visitors.endpoints import TODAY

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=ZoneInfo("Asia/Jakarta"))
ENDPOINTS = ("today", "weekly", "monthly", "yearly", "summary")
CLIENTS = 50

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "visitors"])


@pytest.fixture(autouse=True)
def visits(insert_visits):
    with time_machine.travel(NOW, tick=True):
        local = NOW.replace(tzinfo=None)
        insert_visits([local - timedelta(minutes=5)] * 4)
        insert_visits([local - timedelta(days=3)] * 6)
        yield


def test_fifty_clients_on_every_endpoint_cost_one_query_per_question():
    log = QueryLog()
    paths = [f"/api/visitors/{ENDPOINTS[i % len(ENDPOINTS)]}" for i in range(CLIENTS)]
    results = concurrent_gets(paths, log)

    assert [status for status, _ in results] == [200] * CLIENTS
    for path, (_, body) in zip(paths, results, strict=True):
        if path.endswith("/today"):
            assert body["total"] == 4
        if path.endswith("/weekly"):
            assert [day["total"] for day in body["days"][-4:]] == [6, 0, 0, 4]
    # The two questions: today's count, and the closed days (one grouped query).
    statements = {sql: n for sql, n in log.total.items() if "visitor_count" in sql}
    assert sorted(statements.values()) == [1, 1], statements
    assert any("COUNT(*)" in sql and "GROUP BY" not in sql for sql in statements)
    assert any("GROUP BY" in sql for sql in statements)


def test_fifty_clients_on_summary_cost_one_query_per_question():
    log = QueryLog()
    results = concurrent_gets(["/api/visitors/summary"] * CLIENTS, log)
    assert {status for status, _ in results} == {200}
    assert {body["today"] for _, body in results} == {4}
    assert log.selects() == 2, log.total


def test_a_computation_in_another_process_is_awaited_not_repeated():
    """Another process holds the compute lock (in Redis): wait for its value, don't query."""
    raw = django_cache.client.get_client(write=True)
    raw.set(f"{TODAY.key}:lock", b'"other-process"', ex=30)
    log = QueryLog()

    def other_process_finishes() -> None:
        time.sleep(0.3)
        raw.set(TODAY.key, b"4", ex=60)
        raw.delete(f"{TODAY.key}:lock")

    finisher = threading.Thread(target=other_process_finishes)
    finisher.start()
    results = concurrent_gets(["/api/visitors/today"] * 10, log)
    finisher.join()
    assert {(status, body["total"], body["source"]) for status, body in results} == {
        (200, 4, "cache")
    }
    assert log.selects() == 0, log.total


def test_concurrent_callers_share_one_failure():
    """A failing computation is not repeated by every waiting caller."""
    calls = []
    barrier = threading.Barrier(10)
    outcomes: list[str] = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.3)
        raise RuntimeError("boom")

    def caller() -> None:
        barrier.wait(5)
        try:
            cache.get_or_compute(
                "visitors:test:failing", compute, ttl=5, validate=lambda v: type(v) is int
            )
        except RuntimeError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=caller) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert outcomes == ["boom"] * 10
    assert len(calls) == 1


class Boom(RuntimeError):
    """A failure that can be watched (built-in exceptions take no weak references)."""


def test_a_shared_failure_is_freed_without_the_collector(monkeypatch):
    """While a backend is down every request fails through the single flight: the failure
    must be freed when the last caller lets go of it, not kept alive in a reference cycle
    until the next garbage collection (the soak's memory growth in outages)."""
    failures: list[weakref.ref[Boom]] = []
    guard, leading = CountedLock(), threading.Event()
    monkeypatch.setattr(cache, "_flights_guard", guard)
    calls = []

    def compute() -> int:
        calls.append(1)
        leading.set()
        assert guard.passed(2)  # the leader's registration, then the waiter's look-up
        raise Boom("down")

    def caller(first: bool) -> None:
        if not first:
            leading.wait(5)
        try:
            cache.get_or_compute(
                "visitors:test:freed", compute, ttl=5, validate=lambda v: type(v) is int
            )
        except Boom as exc:
            failures.append(weakref.ref(exc))

    gc.collect()
    gc.disable()
    try:
        threads = [threading.Thread(target=caller, args=(first,)) for first in (True, False)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(calls) == 1  # the second caller waited on the first one's flight
        assert len(failures) == 2 and failures[0]() is None and failures[1]() is None
    finally:
        gc.enable()


def test_fifty_clients_on_the_cold_rankings_group_each_store_once():
    from visitors import rankings

    rankings.forget()
    log = QueryLog()
    paths = [
        "/api/visitors/monthly/top",
        "/api/visitors/yearly/top",
        "/api/visitors/faculties/monthly/top",
        "/api/visitors/faculties/yearly/top",
    ]
    results = concurrent_gets([paths[i % len(paths)] for i in range(CLIENTS)], log)
    assert [status for status, _ in results] == [200] * CLIENTS  # never 202
    for _, body in results:
        entries = body.get("visitors") or body.get("faculties")
        assert entries[0]["total"] == 10
    grouped = {
        sql: n for sql, n in log.total.items() if "visitor_count" in sql and "GROUP BY" in sql
    }
    prints = {sql: n for sql, n in grouped.items() if "SUM(visitor_id)" in sql}
    # The institutions' days: one grouped query, once; the members' days: one per chunk of
    # ``FOLD_CHUNK_DAYS`` (filled and folded a chunk at a time), each once; and each
    # store's prints of the last days, from the date index, before it counts.
    from visitors.breakdowns import FOLD_CHUNK_DAYS, MEMBERS

    chunks = -(-len(MEMBERS.wanted_days(NOW.date())) // FOLD_CHUNK_DAYS)
    assert chunks > 1
    assert sum(prints.values()) == 2, prints
    assert sorted(n for sql, n in grouped.items() if sql not in prints) == [1, chunks], grouped
    # Today's rows: at most once per ranking (each is computed once).
    today = sum(n for sql, n in log.total.items() if "visitor_id >" in sql)
    assert today <= len(paths), log.total


def test_processes_moving_the_members_fold_at_once_count_each_day_once(insert_visits):
    """At midnight the loop and the requests all find the fold made for yesterday; moving
    it adds the new day's counts, so only one may move it (the others then read it)."""
    from django.db import connections

    from visitors.breakdowns import MEMBERS
    from visitors.member_totals import members_fold
    from visitors.queries import get_queries

    today = NOW.date()
    MEMBERS.keep(today=today - timedelta(days=1), queries=get_queries())  # closed to the 8th
    insert_visits([NOW.replace(tzinfo=None) - timedelta(days=1)] * 5, member_id="M2")
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def move() -> None:
        try:
            barrier.wait()
            MEMBERS.keep(today=today, queries=get_queries())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=move) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert members_fold(MEMBERS.kept_key).whole()["year"] == {"M1": 6, "M2": 5}
