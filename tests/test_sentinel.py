"""Redis Sentinel: the service follows a failover (REDIS_SENTINELS, REDIS_SENTINEL_MASTER).

Real processes on loopback: a Redis master and replica and three sentinels (passwords on
both), the sync loop, the web server and the streams server, all configured with the
sentinels only. The master is killed under them while a client polls the API and two
streams are open. Throughout, every answer is 200 with a correct number (the count before
or after the rows inserted during the failover, from Redis, MySQL or the last good copy);
then the loop publishes on the promoted master, the streams deliver the new count and
/health is ok again. The time from the kill to that full recovery is printed
(docs/OPERATIONS.md states it).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from tests.conftest import ALL_DATABASES
from tests.processes import Server, services_env, start_manage
from tests.services import OwnSentinelGroup, wait_until
from tests.test_streams import SUMMARY_STREAM, TODAY_STREAM, _next_named, insert_today, open_stream

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(databases=ALL_DATABASES, transaction=True),
]


def get_json(port: int, path: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


class Poller(threading.Thread):
    """Asks /today and /summary every 50 ms; keeps (path, status, body) of every answer."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.answers: list[tuple[str, int, dict]] = []
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for path in ("/api/visitors/today", "/api/visitors/summary"):
                try:
                    status, body = get_json(self.port, path)
                except Exception as exc:  # a refused or timed-out request is a failure too
                    self.failures.append(f"{path}: {exc!r}")
                    continue
                self.answers.append((path, status, body))
            self.done.wait(0.05)


@pytest.fixture
def group(tmp_path: Path) -> Iterator[OwnSentinelGroup]:
    running = OwnSentinelGroup(tmp_path).start()
    yield running
    running.stop()


def test_the_service_follows_a_sentinel_failover(tmp_path, group):
    with connections["visitors"].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")
    insert_today(3)
    env = services_env(tmp_path, **group.env())  # the default loop interval (5 s)
    loop = start_manage("runsyncloop", env=env, log=tmp_path / "loop.log")
    try:
        with (
            Server("web", env=env, log=tmp_path / "web.log", port_from=4620) as web,
            Server("streams", env=env, log=tmp_path / "streams.log", port_from=4630) as streams,
        ):

            def today() -> dict:
                return get_json(web.port, "/api/visitors/today")[1]

            wait_until(lambda: today() == {"total": 3, "source": "cache"}, "3 from the cache")
            wait_until(lambda: get_json(web.port, "/health")[1]["status"] == "ok", "health ok")
            poller = Poller(web.port)
            poller.start()
            with (
                open_stream(streams, TODAY_STREAM) as today_stream,
                open_stream(streams, SUMMARY_STREAM) as summary_stream,
            ):
                assert today_stream.next().json()["total"] == 3
                assert summary_stream.next().json()["today"] == 3

                killed_at = time.monotonic()
                old_master = group.kill_master()
                insert_today(2)  # only the loop on the promoted master can announce these
                recovered: dict[str, float] = {}

                wait_until(
                    lambda: group.current_master_port() not in (None, old_master),
                    "a sentinel promotes the replica",
                )
                recovered["replica promoted"] = time.monotonic() - killed_at
                assert _next_named(today_stream, "update", 30).json()["total"] == 5
                recovered["today stream: 5"] = time.monotonic() - killed_at
                while _next_named(summary_stream, "summary", 30).json()["today"] != 5:
                    pass
                recovered["summary stream: 5"] = time.monotonic() - killed_at
                wait_until(lambda: today() == {"total": 5, "source": "cache"}, "5 from the cache")
                recovered["API: 5 from the cache"] = time.monotonic() - killed_at
                wait_until(
                    lambda: get_json(web.port, "/health")[1]["status"] == "ok", "health ok", 30
                )
                recovered["/health ok"] = time.monotonic() - killed_at
            poller.done.set()
            poller.join(10)
        print(
            "recovery after the master was killed (s):",
            {k: round(v, 2) for k, v in recovered.items()},
        )
    finally:
        loop.terminate()
        loop.wait(15)

    sources = sorted({body["source"] for _, _, body in poller.answers})
    print(f"{len(poller.answers)} polled answers, sources {sources}")
    assert not poller.failures, poller.failures[:5]
    assert len(poller.answers) > 50
    for path, status, body in poller.answers:
        assert status == 200, (path, status, body)
        total = body["total"] if path.endswith("today") else body["today"]
        assert total in (3, 5), (path, body)
    sources = {body["source"] for path, _, body in poller.answers if path.endswith("today")}
    assert "cache" in sources
    assert max(recovered.values()) < 30
    for log in ("loop.log", "web.log", "streams.log"):
        assert "Traceback" not in (tmp_path / log).read_text(), log
