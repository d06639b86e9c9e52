"""Outages and bad cache contents, with real servers: Redis down, MySQL down, corrupt keys.

Redis outages use a ``redis-server`` the test owns (OwnRedis); MySQL outages point the
visitor alias at a closed port, or crash a ``mariadbd`` the test owns (OwnMariaDB).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache as django_cache
from django.db import connections
from django.test import Client

from tests.concurrency import CountedLock, QueryLog, concurrent_gets
from tests.conftest import loop_config
from tests.services import OwnMariaDB, OwnRedis, closed_port, wait_until
from tests.test_prometheus import scrape
from tests.test_prometheus import value as sample
from visitors import cache, keys, last_good, publishing
from visitors.endpoints import BY_NAME, CATALOGUE, MONTHLY, SUMMARY, TODAY, WEEKLY, YEARLY
from visitors.legacy_table import ensure_table
from visitors.publishing import CycleFacts
from visitors.queries import get_queries, guarded
from visitors.sync import SyncLoop

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 10, 14, 30, tzinfo=JAKARTA)
ENDPOINTS = ("today", "weekly", "monthly", "yearly", "summary")
SERIES_FIELD = {"weekly": "days", "monthly": "months", "yearly": "years"}
TRANSACTIONAL = pytest.mark.django_db(transaction=True, databases=["default", "visitors"])
pytestmark = pytest.mark.django_db(databases=["default", "visitors"])


def url(name: str) -> str:
    return f"/api/visitors/{name}"


def without_source(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "source"}


@pytest.fixture(autouse=True)
def _fresh_breakers(settings) -> Iterator[None]:
    settings.VISITORS = replace(settings.VISITORS, OUTAGE_RETRY_MS=200)
    for reset in (cache.breaker.reset, guarded.breaker.reset, cache.memo.clear):
        reset()
    yield
    for reset in (cache.breaker.reset, guarded.breaker.reset, cache.memo.clear):
        reset()


@pytest.fixture
def frozen() -> Iterator[datetime]:
    with time_machine.travel(NOW, tick=True):
        yield NOW


@pytest.fixture
def visits(insert_visits, frozen) -> dict[str, int]:
    """3 today, 2 yesterday, 4 last month, 5 last year."""
    local = NOW.replace(tzinfo=None)
    insert_visits([local - timedelta(minutes=m) for m in (1, 20, 60)])
    insert_visits([local - timedelta(days=1)] * 2)
    insert_visits([local - timedelta(days=40)] * 4)
    insert_visits([local - timedelta(days=400)] * 5)
    return {"today": 3, "yesterday": 2}


@pytest.fixture
def own_redis(tmp_path, settings) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    yield server
    server.stop()


def bodies(client: Client) -> dict[str, dict]:
    answers = {}
    for name in ENDPOINTS:
        response = client.get(url(name))
        assert response.status_code == 200, response.content
        answers[name] = response.json()
    return answers


def check_numbers(answers: dict[str, dict], visits: dict[str, int]) -> None:
    assert answers["today"]["total"] == visits["today"]
    assert answers["weekly"]["days"][-1] == {"date": "2026-03-10", "total": visits["today"]}
    assert answers["weekly"]["days"][-2]["total"] == visits["yesterday"]
    assert answers["summary"]["today"] == visits["today"]
    assert answers["yearly"]["years"][-1]["total"] == visits["today"] + visits["yesterday"] + 4
    assert answers["yearly"]["years"][-2]["total"] == 5


# -- Redis down ------------------------------------------------------------------------


def test_redis_down_every_endpoint_answers_from_the_database(own_redis, visits, client):
    warm = bodies(client)
    check_numbers(warm, visits)
    assert bodies(client)["today"]["source"] == "cache"

    own_redis.stop()
    for name in ENDPOINTS:
        started = time.monotonic()
        response = client.get(url(name))
        assert time.monotonic() - started < 1.0
        assert response.status_code == 200
        assert b"Traceback" not in response.content
        body = response.json()
        assert without_source(body) == without_source(warm[name])
        expected = "today:db,weekly:db,monthly:db,yearly:db" if name == "summary" else "db"
        assert body["source"] == expected
    assert cache.breaker.is_open

    own_redis.start()  # comes back empty (no persistence)
    time.sleep(0.3)  # one OUTAGE_RETRY_MS window
    assert client.get(url("today")).json() == {"total": 3, "source": "db"}
    assert client.get(url("today")).json() == {"total": 3, "source": "cache"}
    assert not cache.breaker.is_open
    raw = django_cache.client.get_client(write=True)
    assert raw.get(TODAY.key) == b"3"


def test_redis_down_every_catalogued_payload_answers_200_from_the_database(
    own_redis, visits, client
):
    """The breakdown-based payloads too (rankings, hours, rooms, heatmap): with Redis gone
    their closed days are counted from MySQL, never a 500."""
    warm = {e.name: client.get(e.url_path) for e in CATALOGUE}
    assert all(response.status_code == 200 for response in warm.values())
    own_redis.stop()
    for endpoint in CATALOGUE:
        response = client.get(endpoint.url_path)
        assert response.status_code == 200, (endpoint.name, response.content[:200])
        body = response.json()
        source = body.get("source")
        assert source == "db" or "db" in str(source), (endpoint.name, source)


def test_an_outage_writes_no_metric_series_a_worker_did_not_start_with(own_redis, visits, client):
    """A web worker creates at load the series its database path writes (visitors/startup.py):
    every catalogued endpoint answered from MySQL with Redis down, and then again once Redis
    is back (cold, the loop not running), adds none (the status counts aside)."""
    from visitors import prometheus
    from visitors.startup import prepare_web_worker

    metrics = (prometheus.HTTP_LATENCY, prometheus.CACHE_LOOKUPS, prometheus.DB_QUERY_SECONDS)

    def series() -> set[tuple[str, tuple[str, ...]]]:
        return {(metric._name, labels) for metric in metrics for labels in metric._metrics}

    for metric in metrics:  # as in a new worker (the values stay in the shared files)
        with metric._lock:
            metric._metrics.clear()
    prepare_web_worker()
    started = series()
    own_redis.stop()
    for endpoint in CATALOGUE:
        assert client.get(endpoint.url_path).status_code == 200, endpoint.name
    own_redis.start()  # comes back empty
    time.sleep(0.3)  # OUTAGE_RETRY_MS=200: the breaker lets the next call try Redis
    for endpoint in CATALOGUE:
        assert client.get(endpoint.url_path).status_code == 200, endpoint.name
    assert series() - started == set()
    assert len(started) > len(CATALOGUE) * 3


def test_a_members_fold_read_lazily_falls_back_to_the_database_when_redis_goes(own_redis, visits):
    """The member rankings read the fold's sorted sets only when they rank: Redis gone by
    then, a request's fold counts the members from MySQL instead (the loop's raises)."""
    from visitors.breakdowns import MEMBERS
    from visitors.member_totals import FoldedMembers, fold_members

    today, queries = NOW.date(), get_queries()
    loops = MEMBERS.keep(today=today, queries=queries)
    requests = MEMBERS.kept_closed(today=today, queries=queries)
    assert type(requests).__name__ == "RedisMembers"
    assert requests.totals("year", ["M1", "nobody"]) == {"M1": 6, "nobody": 0}
    own_redis.stop()
    counted = FoldedMembers(fold_members(today, MEMBERS.counted(today=today, queries=queries)))
    for closed in (requests, counted):
        assert closed.totals("year", ["M1", "nobody"]) == {"M1": 6, "nobody": 0}
        assert closed.leaders("year", 64) == [("M1", 6)]  # 2 yesterday, 4 last month
    assert requests.latest(["M1"]) == {"M1": ("Test Member", "Faculty of Engineering")}
    with pytest.raises(cache.CacheUnavailable):
        loops.leaders("year", 64)


def test_the_count_kept_for_an_outage_is_dropped_once_the_cache_answers(own_redis, visits, client):
    """While Redis is down a process counts the members once and keeps that; once Redis
    answers again it lets it go (a year of members held on would be memory kept for good)."""
    from visitors import breakdowns

    path = BY_NAME["yearly-top"].url_path
    assert client.get(path).status_code == 200
    own_redis.stop()
    assert client.get(path).status_code == 200
    assert breakdowns.while_unreachable._held("members", NOW.date()) is not None
    own_redis.start()
    time.sleep(0.3)  # OUTAGE_RETRY_MS=200: the breaker lets the next call try Redis
    assert client.get(path).status_code == 200
    assert breakdowns.while_unreachable._held("members", NOW.date()) is None


def test_nothing_counted_for_an_outage_is_kept_once_the_cache_answers(own_redis, visits, client):
    """What a process counts for an outage (the payloads' fallback values, the breakdowns
    counted from MySQL) is held only while Redis is down: once it answers it all goes, and
    the freed pages with it. What requests build from it (rankings, heatmap, rooms, today's
    tallies) is never kept: only the loop keeps built results (``Facts.keeps_results``),
    neither amid the outage nor after it, when Redis came back empty and every request
    misses (kept, a request's inputs held a year of days per ranking until the next
    outage)."""
    from visitors import breakdowns, hourly, rankings, rooms, today_rows

    def nothing_built_is_kept() -> bool:
        return (
            rankings._built == {}
            and hourly._heatmaps._last is None
            and rooms._months._last is None
            and today_rows._tallies == {}
        )

    names = (
        "yearly-top",
        "faculties-yearly-top",
        "heatmap",
        "weekly",
        "rooms_monthly",
        "today_hourly",
    )
    paths = [BY_NAME[name].url_path for name in names]
    own_redis.stop()
    for path in paths:
        assert client.get(path).status_code == 200
    assert breakdowns.while_unreachable._held("members", NOW.date()) is not None
    assert cache.memo.get(WEEKLY.key) is not None
    assert nothing_built_is_kept()
    recoveries = cache.breaker.recoveries
    own_redis.start()  # empty: every payload is a miss
    time.sleep(0.3)  # OUTAGE_RETRY_MS=200: the breaker lets the next call try Redis
    assert client.get(url("today")).status_code == 200
    assert cache.breaker.recoveries == recoveries + 1
    assert breakdowns.while_unreachable._kept == {}
    assert cache.memo.get(WEEKLY.key) is None
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200 and response.json()["source"] == "db"
    assert nothing_built_is_kept()


def test_a_members_ranking_is_the_last_copy_while_the_cache_is_unreachable(
    own_redis, visits, client, django_user_model
):
    """While Redis is down, a ranking of members is not counted from MySQL in every process
    (the year's members: at 10M rows about 40 s and 115 MB per web worker). An anonymous
    caller gets the process's last copy of the published answer, marked stale, exactly the
    last good answer's form; staff asking for it in full still get it counted; a copy of
    another day (Jakarta's midnight) is never served."""
    from visitors import breakdowns, live, rendered, serving

    loop = SyncLoop(config=loop_config(), mode="direct", queries=get_queries())
    loop.step()
    live.LiveResponses(watch=False).tick()  # what a process's watcher does on the notice
    yearly_top = BY_NAME["yearly-top"]
    published = json.loads(rendered.load(yearly_top).body)
    last = last_good.read(yearly_top)
    assert last is not None and published["visitors"], published
    own_redis.stop()
    before = scrape(client)

    response = client.get(yearly_top.url_path)
    assert response.status_code == 200
    assert response.json() == {**published, "stale": True, "as_of": last.as_of}
    copies = [
        sample(samples, "visitors_cache_lookups_total", key=yearly_top.key, result="copy")
        for samples in (before, scrape(client))
    ]
    assert copies[1] - copies[0] == 1  # seen by operators as a copy, neither hit nor miss
    assert response.json() == yearly_top.body(last.value, "cache", as_of=last.as_of)
    assert breakdowns.while_unreachable._held("members", NOW.date()) is None  # not counted

    staff = Client()
    staff.force_login(django_user_model.objects.create_user("clerk", is_staff=True))
    full = staff.get(yearly_top.url_path).json()
    assert full["source"] == "db" and "stale" not in full
    assert full["visitors"][0]["member_id"] == "M1"  # in full: staff see ids
    assert breakdowns.while_unreachable._held("members", NOW.date()) is not None

    cache.memo.clear()  # (what staff had counted would be reused while it is kept)
    end_of_day = NOW.replace(hour=23, minute=59, second=59)
    assert serving.response_body(yearly_top, now=end_of_day)["stale"] is True
    next_day = NOW.replace(hour=0, minute=0, second=1) + timedelta(days=1)
    counted = serving.response_body(yearly_top, now=next_day)
    assert counted["source"] == "db" and "stale" not in counted


@TRANSACTIONAL
def test_a_staff_count_and_the_anonymous_copy_do_not_wait_on_each_other(
    own_redis, visits, monkeypatch
):
    """While Redis is down, staff asking for a ranking in full count it (at 10M rows, half a
    minute) and anonymous callers get the copy: in one process they are separate flights.
    An anonymous request that arrives during a staff count answers at once, from the copy,
    and the staff request still gets its own count in full. The staff count is held until
    the anonymous answer is in, so the two always overlap."""
    from visitors import breakdowns, live, serving

    SyncLoop(config=loop_config(), mode="direct", queries=get_queries()).step()
    live.LiveResponses(watch=False).tick()
    monthly_top = BY_NAME["monthly-top"]
    own_redis.stop()
    assert serving.response_body(monthly_top, now=NOW)["stale"] is True  # the breaker opens

    counting, answered = threading.Event(), threading.Event()
    count = breakdowns.while_unreachable.get

    def held_count(*args):
        counting.set()
        answered.wait(10)
        return count(*args)

    monkeypatch.setattr(breakdowns.while_unreachable, "get", held_count)
    answers: dict[str, object] = {}

    def ask_in_full() -> None:
        try:
            answers["staff"] = serving.response_body(monthly_top, now=NOW, full=True)
        except BaseException as exc:
            answers["staff"] = exc
        finally:
            connections.close_all()

    staff = threading.Thread(target=ask_in_full)
    staff.start()
    try:
        assert counting.wait(10)
        masked = serving.response_body(monthly_top, now=NOW)
        still_counting = staff.is_alive()
    finally:
        answered.set()
        staff.join(30)
    assert masked["stale"] is True and masked["visitors"][0]["member_id"] is None, masked
    assert still_counting  # answered while the staff count was held, not after it
    full = answers["staff"]
    assert isinstance(full, dict) and full["source"] == "db" and "stale" not in full, full
    assert full["visitors"][0]["member_id"] == "M1"


@TRANSACTIONAL
def test_with_the_cache_up_staff_and_anonymous_callers_share_one_count(
    own_redis, visits, monkeypatch
):
    """The flights part only while the cache is unreachable: with Redis up, a cold ranking
    asked for by an anonymous caller and by staff at once is counted once in the process,
    and each gets its own form of it."""
    from visitors import serving

    monthly_top = BY_NAME["monthly-top"]
    guard, computing = CountedLock(), threading.Event()
    monkeypatch.setattr(cache, "_flights_guard", guard)
    compute_once, computed = cache._compute_once, []

    def counted(key, *args, **kwargs):
        if key == monthly_top.key:
            computed.append(key)
            computing.set()
            assert guard.passed(2)  # the staff request has looked up its flight
        return compute_once(key, *args, **kwargs)

    monkeypatch.setattr(cache, "_compute_once", counted)
    answers: dict[str, object] = {}

    def ask(who: str, full: bool) -> None:
        try:
            answers[who] = serving.response_body(monthly_top, now=NOW, full=full)
        except BaseException as exc:
            answers[who] = exc
        finally:
            connections.close_all()

    anonymous = threading.Thread(target=ask, args=("anonymous", False))
    anonymous.start()
    assert computing.wait(10)
    staff = threading.Thread(target=ask, args=("staff", True))
    staff.start()
    for thread in (anonymous, staff):
        thread.join(30)
    assert computed == [monthly_top.key]
    masked, full = answers["anonymous"], answers["staff"]
    assert isinstance(masked, dict) and masked["visitors"][0]["member_id"] is None, masked
    assert isinstance(full, dict) and full["visitors"][0]["member_id"] == "M1", full


def test_staff_never_answer_with_a_copy_they_were_handed(own_redis, visits, monkeypatch):
    """A request can find the cache unreachable only after its flight started, so staff may
    share an anonymous leader's flight that ends in a copy: they count their own."""
    from visitors import live, serving

    SyncLoop(config=loop_config(), mode="direct", queries=get_queries()).step()
    live.LiveResponses(watch=False).tick()
    monthly_top = BY_NAME["monthly-top"]
    own_redis.stop()
    copy = serving.response_body(monthly_top, now=NOW)
    assert copy["stale"] is True
    value, handed = serving.value, []

    def handed_the_copy_once(*args, **kwargs):
        if not handed:
            handed.append(1)
            raise serving.ServedInstead(copy)
        return value(*args, **kwargs)

    monkeypatch.setattr(serving, "value", handed_the_copy_once)
    full = serving.response_body(monthly_top, now=NOW, full=True)
    assert handed and full["source"] == "db" and "stale" not in full
    assert full["visitors"][0]["member_id"] == "M1"


def test_a_kept_copy_with_a_notice_time_that_is_not_a_time_is_counted_instead(
    own_redis, visits, client, caplog
):
    """The notice's time comes from the cache: garbage there means no copy (logged), and the
    ranking is counted from MySQL as before, never a 500."""
    from visitors import live

    loop = SyncLoop(config=loop_config(), mode="direct", queries=get_queries())
    loop.step()
    notice = django_cache.get(keys.VERSION)
    django_cache.set(keys.VERSION, {**notice, "at": "yesterday-ish"}, None)
    with caplog.at_level(logging.WARNING, logger="visitors.live"):
        live.LiveResponses(watch=False).tick()
    assert "yesterday-ish" in caplog.text and live._last_copies == {}
    own_redis.stop()
    response = client.get(BY_NAME["monthly-top"].url_path)
    assert response.status_code == 200
    assert response.json()["source"] == "db" and "stale" not in response.json()


def test_a_count_that_outlives_its_outage_is_not_kept():
    """A count that started while the cache was down and ended after it answered again is
    returned, not kept (the recovery's clean-up has already run)."""
    from visitors.breakdowns import WhileUnreachable

    kept = WhileUnreachable()
    cache.breaker.record_failure(OSError("down"))

    def compute() -> int:
        cache.breaker.record_success()  # the cache answers while this one counts
        return 7

    assert kept.get("members", NOW.date(), compute) == 7
    assert kept._held("members", NOW.date()) is None
    cache.breaker.record_failure(OSError("down again"))
    assert kept.get("members", NOW.date(), lambda: 8) == 8
    assert kept._held("members", NOW.date()) == 8  # within one outage: kept


def test_a_silent_redis_does_not_hang_requests(visits, client, settings):
    """A Redis that accepts connections but never answers: one socket timeout, then skipped."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(128)
    port = silent.getsockname()[1]
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{port}/0"}
    }
    try:
        timings = []
        for _ in range(10):
            started = time.monotonic()
            response = client.get(url("summary"))
            timings.append(time.monotonic() - started)
            assert response.status_code == 200
            assert response.json()["today"] == 3
    finally:
        silent.close()
    assert timings[0] < 2.0  # REDIS_TIMEOUT_MS=500: one timeout before the breaker opens
    assert max(timings[1:]) < 0.5, timings
    assert sum(timings) < 3.0, timings


@TRANSACTIONAL
def test_redis_down_one_computation_per_question_at_a_time(own_redis, visits):
    own_redis.stop()
    log = QueryLog()
    results = concurrent_gets([url("summary")] * 20, log)
    assert {status for status, _ in results} == {200}
    assert {body["today"] for _, body in results} == {3}
    assert set(log.max_running.values()) == {1}, log.max_running
    # Concurrent callers share one computation; later ones reuse it: today + the rollup.
    assert log.selects() == 2, log.total


# -- MySQL down ------------------------------------------------------------------------


@contextlib.contextmanager
def visitors_db_down() -> Iterator[None]:
    """Point the visitor alias at a port where nothing listens (refused at once)."""
    connection = connections["visitors"]
    original = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = closed_port()
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = original


def expire_short_lived_keys() -> None:
    django_cache.delete_many([endpoint.key for endpoint in CATALOGUE])


@TRANSACTIONAL
def test_mysql_down_serves_last_good_values_marked_stale(visits, client):
    warm = bodies(client)
    check_numbers(warm, visits)
    expire_short_lived_keys()
    with visitors_db_down():
        for name in ENDPOINTS:
            started = time.monotonic()
            response = client.get(url(name))
            assert time.monotonic() - started < 1.0
            assert response.status_code == 200, response.content
            body = response.json()
            assert body["stale"] is True
            assert abs(datetime.fromisoformat(body["as_of"]) - NOW) < timedelta(minutes=1)
            assert body["source"] == (
                "today:cache,weekly:cache,monthly:cache,yearly:cache"
                if name == "summary"
                else "cache"
            )
            assert {k: v for k, v in body.items() if k not in ("stale", "as_of", "source")} == {
                k: v for k, v in warm[name].items() if k != "source"
            }
        assert guarded.breaker.is_open
    time.sleep(0.3)  # MySQL is back: the next request after OUTAGE_RETRY_MS probes it
    body = client.get(url("today")).json()
    assert body == {"total": 3, "source": "db"}


@TRANSACTIONAL
def test_mysql_down_and_nothing_cached_is_a_clean_503(visits, client):
    with visitors_db_down():
        for name in ENDPOINTS:
            response = client.get(url(name))
            assert response.status_code == 503
            assert response["Content-Type"] == "application/json"
            assert response.json() == {
                "detail": "The visitor database is unreachable and no earlier value is available.",
                "code": "database_unavailable",
            }


def test_publish_keeps_last_good_values_without_expiry(db):
    publishing.publish(CycleFacts.of(now=NOW, closed={}, today_count=7), ttl=5)
    raw = django_cache.client.get_client(write=True)
    assert 0 < raw.ttl(TODAY.key) <= 5
    for name in [endpoint.name for endpoint in CATALOGUE]:
        assert raw.ttl(keys.last_good(name)) == -1  # no expiry
    last = last_good.read(BY_NAME["summary"])
    assert last is not None and last.as_of == NOW.isoformat()
    assert last.value["today"] == 7 and last.value["weekly"][-1] == {
        "date": "2026-03-10",
        "total": 7,
    }
    assert last_good.read(BY_NAME["today"]) == last_good.LastGood(7, NOW.isoformat())


@pytest.fixture(scope="module")
def own_mariadb(tmp_path_factory) -> Iterator[OwnMariaDB]:
    server = OwnMariaDB(tmp_path_factory.mktemp("mariadb"))
    server.start()
    server.execute("CREATE DATABASE library_rel")
    yield server
    server.kill()


@contextlib.contextmanager
def extra_alias(alias: str, **overrides: object) -> Iterator[None]:
    connections.settings[alias] = {**copy.deepcopy(connections.settings["visitors"]), **overrides}
    try:
        yield
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


def test_sync_loop_survives_a_mysql_crash_and_recovers(own_mariadb, django_db_blocker, frozen):
    alias = "visitors_own"
    moment = NOW.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
    insert = "INSERT INTO library_rel.visitor_count (checkin_date) VALUES ('{}')".format
    with django_db_blocker.unblock(), extra_alias(alias, PORT=own_mariadb.port, NAME="library_rel"):
        ensure_table(alias)
        connections[alias].close()
        own_mariadb.execute(*[insert(moment)] * 3)
        stop = threading.Event()
        delays: list[float] = []

        def wait(delay: float) -> bool:
            delays.append(delay)
            return stop.wait(min(delay, 0.05))

        loop = SyncLoop(
            config=loop_config(interval=0.1, buffer=0.0, lock_ttl=5.0),
            mode="direct",
            queries=get_queries(using=alias, use_orm=False),
            stop=stop,
            wait=wait,
        )

        def run() -> None:
            try:
                loop.run()
            finally:
                connections.close_all()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: django_cache.get(TODAY.key) == 3, "first publish", timeout=15)

            own_mariadb.kill()
            wait_until(lambda: loop.failures >= 4, "failed cycles", timeout=15)
            assert thread.is_alive()
            assert django_cache.get(keys.SYNC_HEARTBEAT)["error"]
            failing = delays[-3:]
            assert failing == sorted(failing) and failing[-1] > 0.1  # backing off

            own_mariadb.start()
            own_mariadb.execute(*[insert(moment)] * 2)
            wait_until(lambda: django_cache.get(TODAY.key) == 5, "recovery", timeout=30)
            assert loop.failures == 0
            assert thread.is_alive()
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()


# -- corrupt cache ---------------------------------------------------------------------

CORRUPT_KEYS = [
    (TODAY.key, "today", b'"three"'),
    (WEEKLY.key, "weekly", b'[{"date": "2026-03-10", "total": 3}]'),
    (MONTHLY.key, "monthly", b'[{"month": "2026-03", "total": -1}]'),
    (YEARLY.key, "yearly", b'{"2026": 3}'),
    (SUMMARY.key, "summary", b'{"today": 3}'),
    (keys.ROLLUP_DAILY, "weekly", b'{"2026-03-09": "two"}'),
]
LAST_KEYS = [
    ("today", b'{"value": 3}'),
    ("summary", b'{"value": {"today": 3}, "as_of": "yesterday"}'),
    ("weekly", b'{"value": [], "as_of": "2026-03-10T14:30:00+07:00"}'),
]
CORRUPTIONS = {
    "garbage": lambda raw, key, wrong: raw.set(key, b"\x80\x04\x95\xff garbage \x00"),
    "wrong-redis-type": lambda raw, key, wrong: raw.rpush(key, b"1", b"2"),
    "truncated-json": lambda raw, key, wrong: raw.set(key, b'{"today": 3, "weekly": [{"da'),
    "partial-payload": lambda raw, key, wrong: raw.set(key, wrong),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
@pytest.mark.parametrize(("key", "endpoint", "wrong_shape"), CORRUPT_KEYS)
def test_corrupt_key_is_a_miss_logged_once_and_overwritten(
    key, endpoint, wrong_shape, corruption, visits, client, caplog
):
    expected = client.get(url(endpoint)).json()
    django_cache.clear()
    raw = django_cache.client.get_client(write=True)
    CORRUPTIONS[corruption](raw, key, wrong_shape)

    with caplog.at_level(logging.WARNING, logger="visitors.cache"):
        response = client.get(url(endpoint))
    assert response.status_code == 200
    assert without_source(response.json()) == without_source(expected)
    warnings = [r for r in caplog.records if key in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]

    assert raw.type(key) == b"string"  # overwritten with a good value
    assert cache.read_valid(key, lambda value: value is not None) is not None
    assert client.get(url(endpoint)).status_code == 200


@TRANSACTIONAL
@pytest.mark.parametrize("corruption", CORRUPTIONS)
@pytest.mark.parametrize(("endpoint", "wrong_shape"), LAST_KEYS)
def test_corrupt_last_good_value_is_ignored_then_overwritten(
    endpoint, wrong_shape, corruption, visits, client, caplog
):
    key = keys.last_good(endpoint)
    raw = django_cache.client.get_client(write=True)
    CORRUPTIONS[corruption](raw, key, wrong_shape)
    with visitors_db_down(), caplog.at_level(logging.WARNING, logger="visitors.cache"):
        assert client.get(url(endpoint)).status_code == 503
        assert client.get(url(endpoint)).status_code == 503
    assert len([r for r in caplog.records if key in r.getMessage()]) == 1

    time.sleep(0.3)  # the database is back
    assert client.get(url(endpoint)).status_code == 200
    assert last_good.read(BY_NAME[endpoint]) is not None


def test_the_web_server_limits_glibcs_malloc_arenas_unless_told():
    """visitors/memory.py: a process's arena limit is set before its threads start (the web
    server's first step); an operator's MALLOC_ARENA_MAX is left to glibc."""
    import subprocess
    import sys

    code = "from visitors.memory import limit_malloc_arenas; print(limit_malloc_arenas(2))"
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    run = [sys.executable, "-c", code]
    assert subprocess.run(run, env=env, capture_output=True, text=True).stdout.strip() == "True"
    told = {**env, "MALLOC_ARENA_MAX": "4"}
    assert subprocess.run(run, env=told, capture_output=True, text=True).stdout.strip() == "False"


def test_an_outages_garbage_is_collected_while_a_breaker_skips_at_most_once_a_second(
    monkeypatch,
):
    """visitors/memory.py: each call that fails in an outage leaves reference cycles (its
    exception, traceback and frames); a breaker that tells a caller to skip the backend lets
    a full collection run, at most once a second, in a process that set its start-up objects
    aside (a web worker), and a closed one never."""
    import gc
    import weakref

    from visitors import memory
    from visitors.breaker import Breaker

    class Node:
        pass

    def cycle() -> weakref.ref:
        node = Node()
        node.me = node  # type: ignore[attr-defined]
        return weakref.ref(node)

    clock = [1000.0]
    monkeypatch.setattr(memory, "_clock", lambda: clock[0])
    monkeypatch.setattr(memory, "_state", [False, 0.0])
    breaker = Breaker("test backend", retry_after=lambda: 60.0)
    gc.disable()  # only the collections asked for
    try:
        closed = cycle()
        assert breaker.allow() is True and closed() is not None
        breaker.record_failure(OSError("down"))
        assert breaker.allow() is False
        assert closed() is not None  # start-up objects not set aside: no collection
        memory._state[0] = True
        first = cycle()
        assert breaker.allow() is False
        assert first() is None and closed() is None
        second = cycle()
        clock[0] += 0.9
        assert breaker.allow() is False
        assert second() is not None  # not again within the second
        clock[0] += 0.1
        assert breaker.allow() is False
        assert second() is None
    finally:
        gc.enable()


def test_a_web_worker_sets_its_start_up_objects_aside_from_the_collector(tmp_path):
    """Loading the WSGI application (as each granian worker does) ends with ``gc.freeze``:
    the start-up's objects are not scanned by the collections an outage makes."""
    import subprocess
    import sys

    from tests.processes import ROOT, services_env

    code = "import gc, library_dashboard.wsgi; print(gc.get_freeze_count())"
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=services_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert int(loaded.stdout.split()[-1]) > 50_000  # Django and the application
