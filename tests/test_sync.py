"""visitors/sync.py: scheduling, adaptive interval, backoff, leader election, graceful stop."""

from __future__ import annotations

import itertools
import signal
import subprocess
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache as django_cache
from django.db import connections

from tests.conftest import ALL_DATABASES, loop_config
from tests.processes import manage, services_env, start_manage
from visitors import cache, keys
from visitors.endpoints import MONTHLY, SUMMARY, TODAY, WEEKLY, YEARLY
from visitors.locks import leader_lock
from visitors.queries import get_queries
from visitors.sync import SyncLoop, adapted_interval, backoff_delay, next_delay

JAKARTA = ZoneInfo("Asia/Jakarta")
ROOT = Path(__file__).resolve().parent.parent


class FakeTime:
    """An injected monotonic clock whose waits advance time instantly."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.t += seconds
        return False


class ScriptedCounter:
    """A today counter whose refreshes take scripted (fake) time, or fail."""

    def __init__(self, clock: FakeTime, durations: list[float | Exception], stop: threading.Event):
        self.clock = clock
        self.durations = list(durations)
        self.stop = stop
        self.spans: list[tuple[float, float]] = []

    def refresh(self, *, now: datetime) -> int:
        start = self.clock.t
        step = self.durations.pop(0)
        if not self.durations:
            self.stop.set()
        if isinstance(step, Exception):
            raise step
        self.clock.t += step
        self.spans.append((start, self.clock.t))
        return 42


def make_loop(durations, **config) -> tuple[SyncLoop, ScriptedCounter, FakeTime]:
    clock = FakeTime()
    stop = threading.Event()
    counter = ScriptedCounter(clock, durations, stop)
    loop = SyncLoop(
        config=loop_config(**{"interval": 1.0, "buffer": 0.2, "lock_ttl": 5.0, **config}),
        mode="direct",
        queries=get_queries(),
        counter=counter,
        now=lambda: datetime(2026, 6, 1, 12, 0, tzinfo=JAKARTA) + timedelta(seconds=clock.t),
        monotonic=clock.monotonic,
        stop=stop,
        wait=clock.wait,
    )
    return loop, counter, clock


def test_next_delay_honours_interval_and_buffer():
    assert next_delay(started=0, finished=0.1, interval=1.0, buffer=0.2) == pytest.approx(0.9)
    assert next_delay(started=0, finished=0.95, interval=1.0, buffer=0.2) == pytest.approx(0.2)
    assert next_delay(started=0, finished=3.0, interval=1.0, buffer=0.2) == pytest.approx(0.2)


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_cycles_never_overlap_and_keep_both_spacings(insert_visits):
    loop, counter, _ = make_loop([0.1, 0.9, 2.5, 0.0, 0.3])
    loop.run()
    spans = counter.spans
    assert len(spans) == 5
    for (start, end), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= end  # no overlap
        assert next_start - start >= 1.0 - 1e-9  # interval between starts
        assert next_start - end >= 0.2 - 1e-9  # buffer after the end


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_each_cycle_publishes_every_key_with_a_ttl_of_a_few_intervals(insert_visits):
    loop, _, _ = make_loop([0.01], interval=2.0, buffer=0.5)
    loop.run()
    for key in (
        TODAY.key,
        WEEKLY.key,
        MONTHLY.key,
        YEARLY.key,
        SUMMARY.key,
    ):
        assert 2 * 2.5 <= django_cache.ttl(key) <= 3 * 2.5 + 1, key
    assert django_cache.get(TODAY.key) == 42
    assert django_cache.get(SUMMARY.key)["weekly"][-1] == {"date": "2026-06-01", "total": 42}
    beat = django_cache.get(keys.SYNC_HEARTBEAT)
    assert beat["count"] == 42 and beat["mode"] == "direct" and beat["error"] is None
    assert set(beat["steps_ms"]) == {"rollup", "count", "rows", "publish"}


def test_adaptive_interval_grows_with_slow_cycles_and_comes_back():
    config = loop_config(interval=1.0, buffer=0.1, adaptive=True, max_interval=8.0)
    assert adapted_interval(config, 0.01) == 1.0
    assert adapted_interval(config, 0.5) == 5.0
    assert adapted_interval(config, 30.0) == 8.0  # bounded above
    assert adapted_interval(config, 0.02) == 1.0  # and back to the base
    assert adapted_interval(loop_config(interval=1.0, buffer=0.1), 30.0) == 1.0


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_adaptive_loop_spaces_slow_cycles_further(insert_visits):
    loop, counter, _ = make_loop([0.5, 0.01, 0.01], adaptive=True, max_interval=10.0)
    loop.run()
    (s1, _), (s2, _), (s3, _) = counter.spans
    assert s2 - s1 == pytest.approx(5.0)
    assert s3 - s2 == pytest.approx(1.0)


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_failing_cycles_back_off_and_never_kill_the_loop(insert_visits, caplog):
    boom = RuntimeError("MySQL server has gone away")
    loop, counter, clock = make_loop([boom, boom, boom, 0.01, 0.01], retry_cap=3.0)
    loop.run()
    assert len(counter.spans) == 2  # it recovered
    assert clock.waits[:3] == [1.0, 2.0, 3.0]  # doubling, capped at OUTAGE_RETRY_MS
    assert "cycle failed (3 in a row)" in caplog.text
    assert loop.failures == 0
    assert django_cache.get(keys.SYNC_HEARTBEAT)["error"] is None


def test_backoff_is_capped_so_an_ended_outage_is_noticed_within_seconds():
    fast = loop_config(interval=1.0, buffer=0.5, retry_cap=2.0)
    assert [backoff_delay(n, fast) for n in (1, 2, 3, 20)] == [1.0, 2.0, 2.0, 2.0]
    slow = loop_config(interval=5.0, buffer=0.5, retry_cap=2.0)
    assert backoff_delay(20, slow) == 5.0  # never faster than the interval


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_a_standby_does_not_work_while_the_lock_is_held(insert_visits):
    holder = leader_lock(5.0)
    assert holder.acquire()
    try:
        loop, counter, _clock = make_loop([0.01])
        assert loop.step() == pytest.approx(1.0)  # waits, polling the lock
        assert counter.spans == [] and not loop.is_leader
    finally:
        holder.release()
    assert loop.step() > 0 and loop.is_leader
    assert len(counter.spans) == 1


def test_lock_renewal_fails_once_someone_else_holds_it():
    first = leader_lock(5.0)
    assert first.acquire()
    assert first.renew()
    django_cache.delete(keys.SYNC_LEADER)  # expired
    second = leader_lock(5.0)
    assert second.acquire()
    assert not first.renew()
    redis = django_cache.client.get_client()
    first.release()  # must not release the other's lock
    assert redis.exists(keys.SYNC_LEADER)
    second.release()
    assert not redis.exists(keys.SYNC_LEADER)


# -- real processes ---------------------------------------------------------------------


def _loop_env(tmp_path: Path) -> dict[str, str]:
    return services_env(tmp_path, VISITOR_SYNC_LOCK_TTL_MS="2000", TODAY_COUNT_MODE="delta")


def _start_loop(tmp_path: Path, name: str) -> subprocess.Popen:
    return start_manage(
        "runsyncloop", "--interval", "200", "--buffer", "50",
        env=_loop_env(tmp_path), log=tmp_path / f"{name}.log",
    )  # fmt: skip


def _heartbeat_pids(seconds: float) -> set[int]:
    """The pids that wrote the loop heartbeat during the next ``seconds``."""
    pids: set[int] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        beat = django_cache.get(keys.SYNC_HEARTBEAT)
        if beat and beat.get("identity"):
            pids.add(int(beat["identity"].rsplit(":", 1)[1]))
        time.sleep(0.05)
    return pids


def _wait_for_leader(pid: int, timeout: float) -> float | None:
    """Seconds until ``pid`` writes the heartbeat, or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        beat = django_cache.get(keys.SYNC_HEARTBEAT)
        if beat and beat.get("identity", "").endswith(f":{pid}"):
            return time.monotonic() - start
        time.sleep(0.05)
    return None


@pytest.mark.slow
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_one_leader_and_takeover_after_sigkill_then_graceful_stop(tmp_path):
    first = _start_loop(tmp_path, "first")
    second = None
    try:
        assert _wait_for_leader(first.pid, timeout=15) is not None
        second = _start_loop(tmp_path, "second")
        time.sleep(1.5)  # the standby is up and polling the lock
        assert _heartbeat_pids(seconds=1.5) == {first.pid}  # only the leader works

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=5)
        takeover = _wait_for_leader(second.pid, timeout=10)
        assert takeover is not None
        assert takeover < 2.0 + 1.5  # lock TTL + one poll, with slack for a busy machine

        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=10) == 0
        log = (tmp_path / "second.log").read_text()
        assert "released the sync leader lock" in log
        assert not django_cache.client.get_client().exists(keys.SYNC_LEADER)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.slow
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_once_runs_one_cycle_and_serves_from_cache(tmp_path, client):
    with connections["visitors"].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")
        cursor.execute(
            "INSERT INTO visitor_count (member_id, checkin_date) VALUES ('A', %s), ('B', %s)",
            [datetime.now(JAKARTA).replace(tzinfo=None)] * 2,
        )
    try:
        result = manage("runsyncloop", "--once", env=_loop_env(tmp_path), timeout=60)
        assert result.returncode == 0, result.stderr
        assert "mode=delta count=2" in result.stderr
        for path, key in [("today", "total"), ("summary", "today")]:
            body = client.get(f"/api/visitors/{path}").json()
            assert body[key] == 2
            assert "db" not in body["source"]
    finally:
        with connections["visitors"].cursor() as cursor:
            cursor.execute("DELETE FROM visitor_count")


def test_redis_gets_the_redis_lock_and_atomic_counter():
    """The cache proxy is not the backend: check the backend type is seen through it."""
    from visitors.locks import RedisLeaderLock

    assert cache.is_redis()
    assert isinstance(leader_lock(5.0), RedisLeaderLock)


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_the_lock_is_renewed_during_a_long_first_cycle(insert_visits):
    """A first cycle longer than the lock TTL (a five-year rollup fill) keeps the lock."""
    competitor_got_it: list[bool] = []

    class SlowFirstCycle:
        def refresh(self, *, now: datetime) -> int:
            time.sleep(1.6)  # real time: the lock's TTL runs in Redis
            competitor_got_it.append(leader_lock(1.0).acquire())
            return 1

    stop = threading.Event()
    loop = SyncLoop(
        config=loop_config(interval=1.0, buffer=0.1, lock_ttl=1.0),
        mode="direct",
        queries=get_queries(),
        counter=SlowFirstCycle(),
        stop=stop,
    )
    assert loop.run(once=True)
    assert competitor_got_it == [False]


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_an_unreachable_cache_fails_the_cycle_before_any_query(insert_visits):
    from django.db import connections

    from tests.services import redis_unreachable

    loop, counter, _ = make_loop([0.01], lock_ttl=5.0)
    loop.is_leader = True  # won before Redis went away
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with redis_unreachable(), connections["visitors"].execute_wrapper(record):
        delay = loop.step()
    assert loop.failures == 1 and delay == pytest.approx(1.0)
    assert statements == []  # no five-year refill of a rollup it could not read
    assert counter.spans == []
