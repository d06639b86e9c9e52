"""Live push with real processes: the streams server, the sync loop, Redis, MariaDB.

Each test starts ``python -m library_dashboard.server streams`` (and the loop, a second
streams server, an own Redis...) as the Procfile does, and reads the streams as a browser's
EventSource would (tests/sse_client.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache as django_cache
from django.db import connections

from tests.conftest import ALL_DATABASES
from tests.processes import Server, services_env, start_manage
from tests.services import OwnRedis, wait_until
from tests.sse_client import EventStream
from visitors import keys

JAKARTA = ZoneInfo("Asia/Jakarta")
TODAY_STREAM = "/api/visitors/today/stream"
SUMMARY_STREAM = "/api/visitors/stream"
KEEPALIVE_S = 1  # STREAM_KEEPALIVE_S of every streams server here
# The test loop's timing (Loop): its cycles start LOOP_INTERVAL_S apart while each takes
# under LOOP_INTERVAL_S - LOOP_BUFFER_S, as they do on the test tables.
LOOP_INTERVAL_S, LOOP_BUFFER_S = 0.3, 0.05

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(databases=ALL_DATABASES, transaction=True),
]


def insert_today(n: int) -> None:
    """``n`` check-ins a second ago, in one statement: the loop sees all of them or none
    (one by one, a cycle between two inserts counted the first alone)."""
    moment = datetime.now(JAKARTA).replace(tzinfo=None) - timedelta(seconds=1)
    with connections["visitors"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO visitor_count (member_id, institution, room_code, checkin_date) "
            "VALUES " + ", ".join(["('M1', 'F01', 'R1', %s)"] * n),
            [moment] * n,
        )


@pytest.fixture
def table() -> Iterator[None]:
    with connections["visitors"].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")
    insert_today(3)
    yield


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    return services_env(tmp_path, STREAM_KEEPALIVE_S=str(KEEPALIVE_S), **overrides)


class Loop:
    """``manage.py runsyncloop`` with a short interval."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.process = start_manage(
            "runsyncloop",
            *("--interval", str(round(LOOP_INTERVAL_S * 1000))),
            *("--buffer", str(round(LOOP_BUFFER_S * 1000))),
            env=env,
            log=log,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


@pytest.fixture
def loop(tmp_path: Path, table: None) -> Iterator[Loop]:
    running = Loop(_env(tmp_path), tmp_path / "loop.log")
    yield running
    running.stop()


def open_stream(server: Server, path: str, **headers: str) -> EventStream:
    return EventStream("127.0.0.1", server.port, path, headers=headers)


def test_today_stream_sends_init_then_an_update_after_an_insert(tmp_path, loop):
    with Server(
        "streams", env=_env(tmp_path), log=tmp_path / "streams.log", port_from=4100
    ) as server:
        wait_until(lambda: _first_event(server, TODAY_STREAM).json()["total"] == 3, "count 3")
        with open_stream(server, TODAY_STREAM) as stream:
            assert stream.status == 200
            headers = {k.lower(): v for k, v in stream.response.getheaders()}
            assert headers["content-type"] == "text/event-stream"
            assert headers["cache-control"] == "no-cache, no-transform"
            assert headers["x-accel-buffering"] == "no"
            init = stream.next()
            assert init.name == "init"
            body = init.json()
            assert body["total"] == 3 and body["source"] == "cache"
            assert datetime.fromisoformat(body["at"]).utcoffset() == timedelta(hours=7)

            insert_today(2)
            started = time.monotonic()
            update = _next_named(stream, "update", timeout=5)
            waited = time.monotonic() - started
            assert update.json()["total"] == 5
            datetime.fromisoformat(update.json()["generated_at"])
            # At worst the insert just missed a cycle's read: the next cycle starts within one
            # interval and publishes by its end (a cycle that publishes took under 0.12 s
            # here, one that finds nothing new 3 ms), then the notice reaches the client in
            # a few ms: under 0.45 s. Two intervals hold that; the slack is for a loaded
            # 2-core machine (a cycle or a wake-up late by a few scheduler slices).
            assert waited < 2 * LOOP_INTERVAL_S + 0.3, waited

            # Between changes, only keepalive comments, about every STREAM_KEEPALIVE_S.
            with contextlib.suppress(AssertionError):  # no event: that is the point
                stream.next(timeout=KEEPALIVE_S + 0.5)
            assert stream.comments and set(stream.comments) == {"keepalive"}, stream.comments


def _first_event(server: Server, path: str) -> object:
    with open_stream(server, path) as stream:
        return stream.next()


def _next_named(stream: EventStream, name: str, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while True:
        event = stream.next(max(deadline - time.monotonic(), 0.1))
        assert event is not None, "the stream ended"
        if event.name == name:
            return event


def test_summary_stream_sends_the_summary_bytes_with_ids_that_grow(tmp_path, loop):
    web_env = _env(tmp_path)
    with (
        Server("streams", env=web_env, log=tmp_path / "streams.log", port_from=4110) as streams,
        Server("web", env=web_env, log=tmp_path / "web.log", port_from=4120) as web,
    ):
        wait_until(lambda: _first_event(streams, SUMMARY_STREAM).json()["today"] == 3, "today 3")
        with open_stream(streams, SUMMARY_STREAM) as stream:
            first = stream.next()
            assert stream.retry is not None and stream.retry > 0
            assert first.name == "summary" and first.id is not None
            import urllib.request

            with urllib.request.urlopen(f"{web.url}/api/visitors/summary") as response:
                assert first.data.encode() == response.read()  # the exact body of /summary

            insert_today(1)
            second = _next_named(stream, "summary", timeout=5)
            assert second.json()["today"] == 4
            assert int(second.id) > int(first.id)


def test_last_event_id_resends_only_what_was_missed(tmp_path, loop):
    with Server(
        "streams", env=_env(tmp_path), log=tmp_path / "streams.log", port_from=4130
    ) as server:
        wait_until(lambda: _first_event(server, SUMMARY_STREAM).json()["today"] == 3, "today 3")
        # Ids are the loop's versions: before its first cycle ends there is none yet (id 0,
        # "unknown", which a reconnect always answers with the summary).
        wait_until(lambda: django_cache.get(keys.VERSION) is not None, "the loop's first notice")
        with open_stream(server, SUMMARY_STREAM) as stream:
            current = stream.next()
        assert current.id != "0"
        # Current: nothing but keepalives until something changes.
        with open_stream(server, SUMMARY_STREAM, **{"Last-Event-ID": current.id}) as stream:
            deadline = time.monotonic() + 2.5
            while time.monotonic() < deadline:
                try:
                    event = stream.next(timeout=deadline - time.monotonic())
                except AssertionError:
                    break
                assert event is None or event.name != "summary", (current.id, event.id)
            assert stream.comments, "keepalive comments keep the connection alive"
        # Missed a change: the current summary at once.
        insert_today(1)
        wait_until(lambda: _first_event(server, SUMMARY_STREAM).json()["today"] == 4, "today 4")
        with open_stream(server, SUMMARY_STREAM, **{"Last-Event-ID": current.id}) as stream:
            event = stream.next(timeout=2)
            assert event.name == "summary" and event.json()["today"] == 4
            assert int(event.id) > int(current.id)


def test_clients_on_two_streams_processes_both_get_the_update(tmp_path, loop):
    env = _env(tmp_path)
    with (
        Server("streams", env=env, log=tmp_path / "a.log", port_from=4140) as a,
        Server("streams", env=env, log=tmp_path / "b.log", port_from=4150) as b,
    ):
        for server in (a, b):
            wait_until(lambda s=server: _first_event(s, TODAY_STREAM).json()["total"] == 3, "3")
        with open_stream(a, TODAY_STREAM) as on_a, open_stream(b, TODAY_STREAM) as on_b:
            assert on_a.next().name == on_b.next().name == "init"
            insert_today(4)
            assert _next_named(on_a, "update", 5).json()["total"] == 7
            assert _next_named(on_b, "update", 5).json()["total"] == 7


def test_one_subscription_per_streams_process_whatever_its_clients(tmp_path, table):
    """Fan-out: each streams process holds one Redis subscription, not one per client. On
    a Redis of its own: pub/sub channels are shared by every database of a server."""
    import redis

    from visitors.changes import CHANNEL

    own = OwnRedis(tmp_path)
    own.start()
    env = _env(tmp_path, REDIS_URL=own.url)
    running = Loop(env, tmp_path / "loop.log")  # it publishes, it does not subscribe
    watchers = redis.Redis.from_url(own.url)

    def subscribers() -> int:
        return dict(watchers.pubsub_numsub(CHANNEL))[CHANNEL.encode()]

    try:
        with (
            Server("streams", env=env, log=tmp_path / "a.log", port_from=4220) as a,
            Server("streams", env=env, log=tmp_path / "b.log", port_from=4230) as b,
        ):
            wait_until(lambda: subscribers() == 2, "each streams process subscribed")
            streams = [
                open_stream(server, path)
                for server in (a, b)
                for path in (TODAY_STREAM, SUMMARY_STREAM) * 3
            ]
            try:
                assert [stream.next().name for stream in streams] == ["init", "summary"] * 6
                assert subscribers() == 2  # six clients on each
                insert_today(2)
                for stream in streams[::2]:
                    assert _next_named(stream, "update", 5).json()["total"] == 5
                assert subscribers() == 2
            finally:
                for stream in streams:
                    stream.close()
    finally:
        running.stop()
        watchers.close()
        own.stop()


def test_a_warm_cache_serves_the_streams_without_the_database(tmp_path, loop):
    """The stream path reads the cache only: a streams process whose visitor database is
    a closed port still gets ``init``, the summary and then the loop's update (the loop
    keeps the real database)."""
    from tests.services import closed_port

    wait_until(lambda: django_cache.get(keys.VERSION) is not None, "the loop's first notice")
    env = _env(tmp_path, DB_PORT=str(closed_port()))
    server = Server("streams", env=env, log=tmp_path / "streams.log", port_from=4240)
    with (
        server,
        open_stream(server, TODAY_STREAM) as today,
        open_stream(server, SUMMARY_STREAM) as summary,
    ):
        init = today.next()
        assert init.name == "init", init
        assert init.json()["total"] == 3 and init.json()["source"] == "cache"
        first = summary.next()
        assert first.name == "summary" and first.json()["today"] == 3, first
        insert_today(2)
        assert _next_named(today, "update", 5).json()["total"] == 5
        deadline = time.monotonic() + 5
        while _next_named(summary, "summary", deadline - time.monotonic()).json()["today"] != 5:
            pass
    log = (tmp_path / "streams.log").read_text()
    assert "Traceback" not in log and " ERROR " not in log and " WARNING " not in log, log


def test_a_redis_restart_under_open_streams_ends_with_the_current_value(tmp_path, table):
    redis = OwnRedis(tmp_path)
    redis.start()
    env = _env(tmp_path, REDIS_URL=redis.url, OUTAGE_RETRY_MS="200")
    running = Loop(env, tmp_path / "loop.log")
    try:
        with Server("streams", env=env, log=tmp_path / "streams.log", port_from=4160) as server:
            wait_until(lambda: _first_event(server, TODAY_STREAM).json()["total"] == 3, "3")
            with (
                open_stream(server, TODAY_STREAM) as stream,
                open_stream(server, SUMMARY_STREAM) as summary,
            ):
                assert stream.next().name == "init" and summary.next().name == "summary"
                redis.stop()
                insert_today(2)  # while Redis is away: nobody can announce it
                time.sleep(1.5)
                redis.start()  # empty: the loop republishes, the watchers resubscribe
                assert _next_named(stream, "update", 15).json()["total"] == 5
                wait_until(
                    lambda: _next_named(summary, "summary", 15).json()["today"] == 5,
                    "the summary stream shows the count inserted while Redis was away",
                    timeout=15,
                )
    finally:
        running.stop()
        redis.stop()


def test_the_client_limit_and_a_freed_slot(tmp_path, loop):
    env = _env(tmp_path, STREAM_MAX_CLIENTS="2")
    with Server("streams", env=env, log=tmp_path / "streams.log", port_from=4170) as server:
        first, second = open_stream(server, TODAY_STREAM), open_stream(server, TODAY_STREAM)
        assert first.status == second.status == 200
        third = open_stream(server, TODAY_STREAM)
        assert third.status == 503
        assert int(third.response.getheader("Retry-After")) > 0
        assert json.loads(third.response.read())["code"] == "too_many_streams"
        third.close()

        # A client that vanishes (no FIN handshake courtesy: just a reset) frees its slot
        # within one keepalive (the next keepalive's write fails), plus slack for the probes.
        linger = struct.pack("ii", 1, 0)
        first.connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        first.close()

        def a_slot_is_free() -> bool:
            probe = open_stream(server, TODAY_STREAM)
            try:
                return probe.status == 200
            finally:
                probe.close()

        wait_until(a_slot_is_free, "a freed slot", timeout=KEEPALIVE_S + 0.5)
        second.close()


def test_sigterm_ends_every_stream_cleanly_and_at_once(tmp_path, loop):
    server = Server("streams", env=_env(tmp_path), log=tmp_path / "streams.log", port_from=4180)
    server.start()
    streams = [open_stream(server, path) for path in (TODAY_STREAM, SUMMARY_STREAM) * 3]
    for stream in streams:
        assert stream.next() is not None
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 5
    for stream in streams:
        while (event := stream.next(timeout=5)) is not None:  # the end, not a broken connection
            assert event.name in ("update", "summary")
        stream.close()
    assert "Traceback" not in (tmp_path / "streams.log").read_text()


def test_the_web_process_redirects_a_stream_path_to_the_streams_process(tmp_path, loop):
    env = _env(tmp_path)
    with Server("web", env=env, log=tmp_path / "web.log", port_from=4190) as web:
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
        connection.request("GET", TODAY_STREAM, headers={"Accept": "text/event-stream"})
        response = connection.getresponse()
        assert response.status == 307
        stream_port = env.get("STREAM_PORT", "3001")
        assert response.getheader("Location") == f"http://127.0.0.1:{stream_port}{TODAY_STREAM}"


def test_streams_on_the_embedded_default(tmp_path):
    env = services_env(tmp_path, STREAM_KEEPALIVE_S="1", HTTP_MEMO_MS="400")
    for name in ("DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "REDIS_URL"):
        env.pop(name)
    from tests.processes import manage

    assert manage("migrate", "--noinput", env=env).returncode == 0
    assert manage("createcachetable", env=env).returncode == 0
    assert manage("seed_visitors", "--demo", env=env).returncode == 0
    running = Loop(env, tmp_path / "loop.log")
    try:
        with Server("streams", env=env, log=tmp_path / "streams.log", port_from=4200) as server:
            wait_until(lambda: _first_event(server, TODAY_STREAM).name == "init", "init")
            with open_stream(server, TODAY_STREAM) as stream:
                total = stream.next().json()["total"]
                result = manage(
                    "simulate_checkins", "--rate", "6000", "--count", "3", env=env, timeout=60
                )
                assert result.returncode == 0, result.stderr
                assert _next_named(stream, "update", 10).json()["total"] > total
    finally:
        running.stop()


def test_a_client_that_does_not_read_is_dropped(tmp_path, table):
    from visitors import publishing
    from visitors.publishing import CycleFacts

    env = _env(tmp_path, STREAM_SEND_TIMEOUT_S="1", STREAM_MAX_CLIENTS="1")
    with Server("streams", env=env, log=tmp_path / "streams.log", port_from=4210) as server:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", server.port))
        slow.sendall(f"GET {SUMMARY_STREAM} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        # ... and never reads. Every change is a ~1 KB summary event for it.
        now = datetime.now(JAKARTA)
        started = time.monotonic()
        dropped = False
        count = 0
        while time.monotonic() - started < 60 and not dropped:
            count += 1
            publishing.publish(CycleFacts.of(now=now, closed={}, today_count=count), ttl=60)
            if count % 200 == 0:
                probe = open_stream(server, SUMMARY_STREAM)
                dropped = probe.status == 200  # the one slot is free again
                probe.close()
        slow.close()
        assert dropped, f"the slow client still held its slot after {count} changes"


def _send_queue(local_port: int, remote_port: int) -> int:
    """Bytes the kernel holds for sending on the loopback TCP connection between the two
    ports (``/proc/net/tcp``'s ``tx_queue``): what the peer has not taken yet."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote = (int(field.split(":")[1], 16) for field in fields[1:3])
            if (local, remote) == (local_port, remote_port):
                return int(fields[4].split(":")[0], 16)
    return 0


WAITS = "a write waits (the server's buffer for it is full)"


def test_a_client_that_reads_late_catches_up_with_the_latest_summary(tmp_path, table):
    """A client that stops reading makes the server's writes to it wait: summaries are
    published until the streams server logs that a write to it waits (the kernel's send
    queue towards it is full, then granian's buffer for it), and some more. Once it reads
    again, its stream goes on, in order, to the current summary; it was never cut (its
    send timeout is long)."""
    from visitors import publishing
    from visitors.publishing import CycleFacts

    env = _env(tmp_path, STREAM_SEND_TIMEOUT_S="60", LOG_LEVEL="debug")
    log = tmp_path / "streams.log"
    with Server("streams", env=env, log=log, port_from=4215) as server:
        late = EventStream("127.0.0.1", server.port, SUMMARY_STREAM, receive_buffer=4096)
        with late:
            assert late.next().name == "summary"
            own_port = late.connection.sock.getsockname()[1]
            now = datetime.now(JAKARTA)
            count, deadline = 0, time.monotonic() + 90
            while count % 50 or WAITS not in log.read_text():  # it reads none meanwhile
                count += 1
                publishing.publish(CycleFacts.of(now=now, closed={}, today_count=count), ttl=60)
                if time.monotonic() > deadline:
                    queued = _send_queue(server.port, own_port)
                    raise AssertionError(f"no write waited ({queued} bytes queued for it)")
            for _ in range(20):  # and a few more while it waits
                count += 1
                publishing.publish(CycleFacts.of(now=now, closed={}, today_count=count), ttl=60)
            ids, today = [], None
            while today != count:
                event = late.next(timeout=10)
                assert event is not None, f"the stream ended after today={today}"
                if event.name == "summary":
                    ids.append(int(event.id))
                    today = event.json()["today"]
            assert ids == sorted(set(ids))  # in order, none twice
            assert len(ids) < count  # it was not sent every change it missed


def _in_own_loop(scenario):
    """Run a coroutine in an event loop of its own thread: an earlier test in this process
    may leave a loop running in this one (Playwright's sync API does)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, scenario).result(timeout=10)


def _shown_once():
    """A client's ``next_event``: today's event when the count is new to it."""
    shown = None

    def next_event(state):
        nonlocal shown
        if state.today == shown:
            return None
        shown = state.today
        return state.today_event

    return next_event


def _change(hub, total: int) -> None:
    from dataclasses import replace

    hub.state = replace(hub.state, today=total, today_event=b"%d" % total)
    hub._wake()


def test_a_client_whose_write_waits_holds_no_one_up_and_then_gets_the_latest():
    """The hub writes to each following client itself. Sends here behave as granian's: a
    plain call returning an awaitable that is done when the server took the bytes, and a
    pending future when its buffer for the client is full. The others get every event at
    once; the waiting client is skipped and, when its write is done, gets the state as it
    is then (not each one it missed); a send written in Python (a coroutine) runs in a task
    and is kept in order too; a failing send ends its client with ClientGone; closing the
    hub ends the rest."""
    from visitors.streams import Client, ClientGone, Hub

    async def scenario():
        loop = asyncio.get_running_loop()
        hub = Hub(keepalive_s=3600, max_clients=10)
        got: dict[str, list[bytes]] = {"fast": [], "slow": [], "python": []}
        waiting: list[asyncio.Future] = []
        drained = asyncio.Event()

        def taken(name):
            def send(message):
                got[name].append(message["body"])
                done = loop.create_future()
                done.set_result(None)
                return done

            return send

        def slow(message):  # its first write waits until the test lets it through
            future = loop.create_future()
            if not waiting:
                waiting.append(future)
                future.add_done_callback(lambda _: got["slow"].append(message["body"]))
            else:
                got["slow"].append(message["body"])
                future.set_result(None)
            return future

        async def python(message):  # a coroutine send, which needs a task of its own
            async with asyncio.timeout(5):
                if not got["python"]:
                    await drained.wait()  # its first write waits too
            got["python"].append(message["body"])

        def broken(message):
            raise OSError("connection reset")

        ends = {}
        sends = {"fast": taken("fast"), "slow": slow, "python": python, "broken": broken}
        for name, send in sends.items():
            client = Client(send, timeout_s=60)
            hub.active.add(client)
            ends[name] = hub.follow(client, _shown_once())

        for total in (1, 2, 3):  # as the watcher hands changes over: a callback, no task
            loop.call_soon(_change, hub, total)
        await asyncio.sleep(0)
        assert got["fast"] == [b"1", b"2", b"3"]  # at once, while the others wait
        assert got["slow"] == [] and len(waiting) == 1
        with pytest.raises(ClientGone):
            await ends["broken"]
        hub._wake()  # a keepalive: the fast client gets one; the slow one is still writing
        assert got["fast"][-1] == b": keepalive\n\n"
        waiting[0].set_result(None)
        drained.set()
        await wait_for_async(lambda: len(got["slow"]) == 2 and len(got["python"]) == 2)
        hub.close()
        await asyncio.wait_for(asyncio.gather(ends["fast"], ends["slow"], ends["python"]), 1)
        return got

    got = _in_own_loop(scenario())
    assert got["slow"] == [b"1", b"3"]  # the write that waited, then the latest state
    assert got["python"] == [b"1", b"3"]


async def wait_for_async(condition, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_cut_client_lets_go_of_its_waiting_write_and_the_others_go_on():
    """A client whose write waits past its send timeout is cut by the keepalive watchdog:
    its task is cancelled (its stream ends), the server's pending send is cancelled, its
    slot is free, and the other clients go on getting their events."""
    from visitors.streams import Client, Hub

    async def scenario():
        loop = asyncio.get_running_loop()
        hub = Hub(keepalive_s=0.05, max_clients=10)
        fast_got: list[bytes] = []
        pending: list[asyncio.Future] = []

        def fast(message):
            fast_got.append(message["body"])
            done = loop.create_future()
            done.set_result(None)
            return done

        def stuck(message):
            pending.append(loop.create_future())
            return pending[-1]

        async def stream(send):
            client = Client(send, timeout_s=0.1)
            hub.active.add(client)
            try:
                await hub.follow(client, _shown_once())
            finally:
                hub.leave(client)

        fast_task = asyncio.create_task(stream(fast))
        stuck_task = asyncio.create_task(stream(stuck))
        await asyncio.sleep(0)
        _change(hub, 1)  # the stuck client's write starts waiting
        await wait_for_async(stuck_task.done)
        cut = stuck_task.cancelled()
        await asyncio.sleep(0)
        let_go = len(pending) == 1 and pending[0].cancelled()
        keepalives = len(fast_got)
        await wait_for_async(lambda: len(fast_got) > keepalives + 1)
        left = hub.clients
        hub.close()
        await asyncio.wait_for(fast_task, 1)
        return fast_got, cut, let_go, left

    fast_got, cut, let_go, left = _in_own_loop(scenario())
    assert cut  # its task was cancelled
    assert let_go  # and the server's send with it
    assert fast_got[0] == b"1" and set(fast_got[1:]) == {b": keepalive\n\n"}
    assert left == 1  # the cut client gave its slot back
