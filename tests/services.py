"""Real Redis and MariaDB servers that a test owns: it may stop, kill and restart them.

The machine's shared Redis (6379) and MariaDB (3306) are never touched: each server here
runs on its own free port, in its own temporary directory.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.test import override_settings


def free_port(start: int) -> int:
    """The first port from ``start`` on which nothing listens on 127.0.0.1."""
    for port in range(start, start + 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port from {start}")


def closed_port() -> int:
    """A port nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    """Poll ``check`` every 50 ms until it is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for: {what}")


class OwnRedis:
    """``redis-server`` on a free port, no persistence: a restart comes back empty."""

    def __init__(self, workdir: Path, port_from: int = 6391) -> None:
        self.workdir = workdir
        self.port = free_port(port_from)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.ping, f"redis-server on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class OwnMariaDB:
    """``mariadbd`` on a free port in a temporary datadir, no grant tables (root, no password)."""

    def __init__(self, workdir: Path, port_from: int = 3391) -> None:
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.port = free_port(port_from)
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                f"--tmpdir={self.workdir}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def ping(self) -> bool:
        import MySQLdb

        try:
            MySQLdb.connect(
                host="127.0.0.1", port=self.port, user="root", connect_timeout=1
            ).close()
            return True
        except MySQLdb.Error:
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.workdir / 'mysqld.sock'}",
                f"--pid-file={self.workdir / 'mysqld.pid'}",
                "--user=root",
                "--skip-grant-tables",
                "--innodb-buffer-pool-size=16M",
                # Its own: a mariadbd starting up deletes every "#sql*" file in its tmpdir,
                # and in /tmp those are the machine's MariaDB's on-disk temporary tables
                # (a large GROUP BY running then failed with "Error on delete of ...").
                f"--tmpdir={self.workdir}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "mysqld.log").open("ab"),
        )
        wait_until(self.ping, f"mariadbd on {self.port}", timeout=60)

    def kill(self) -> None:
        """Crash it (SIGKILL): clients see dropped connections, as in a real outage."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(30)
            self.process = None

    def execute(self, *statements: str) -> None:
        import MySQLdb

        connection = MySQLdb.connect(host="127.0.0.1", port=self.port, user="root")
        try:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            connection.commit()
        finally:
            connection.close()


@contextmanager
def redis_unreachable() -> Iterator[None]:
    """The Django cache pointed at a Redis URL where nothing listens."""
    dead = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "KEY_FUNCTION": "visitors.cache.verbatim_key",
            "OPTIONS": {
                "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    with override_settings(CACHES=dead):
        yield


class OwnSentinelGroup:
    """One Redis master, one replica and three ``redis-sentinel`` processes watching them
    (quorum 2), each on a free loopback port, with passwords on Redis and on the sentinels.

    ``kill_master()`` is a crash (SIGKILL); ``current_master_port()`` asks a sentinel.
    """

    MASTER_NAME = "dashboard"
    PASSWORD = "redis-pw-0123456789"
    SENTINEL_PASSWORD = "sentinel-pw-0123456789"

    def __init__(self, workdir: Path, *, port_from: int = 6520, down_after_ms: int = 1000):
        self.workdir = workdir
        self.down_after_ms = down_after_ms
        self.redis_ports: list[int] = []
        self.sentinel_ports: list[int] = []
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self._port_from = port_from

    def _port(self) -> int:
        port = free_port(self._port_from)
        self._port_from = port + 1
        return port

    @property
    def sentinels(self) -> str:
        """``REDIS_SENTINELS`` for the service."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def env(self) -> dict[str, str]:
        return {
            "REDIS_URL": "",
            "REDIS_SENTINELS": self.sentinels,
            "REDIS_SENTINEL_MASTER": self.MASTER_NAME,
            "REDIS_PASSWORD": self.PASSWORD,
            "REDIS_SENTINEL_PASSWORD": self.SENTINEL_PASSWORD,
        }

    def _spawn(self, port: int, argv: list[str]) -> None:
        log = open(self.workdir / f"redis-{port}.log", "wb")  # noqa: SIM115 - the child keeps it
        self.processes[port] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def _redis(self, port: int, *, replica_of: int | None = None) -> None:
        directory = self.workdir / f"redis-{port}"
        directory.mkdir(exist_ok=True)
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory), "--requirepass", self.PASSWORD,
            "--masterauth", self.PASSWORD,
        ]  # fmt: skip
        if replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._spawn(port, argv)

    def _sentinel(self, port: int, master_port: int) -> None:
        directory = self.workdir / f"sentinel-{port}"
        directory.mkdir(exist_ok=True)
        config = directory / "sentinel.conf"  # sentinels rewrite their config: one each
        name = self.MASTER_NAME
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
            f"requirepass {self.SENTINEL_PASSWORD}\n"
            f"sentinel sentinel-pass {self.SENTINEL_PASSWORD}\n"
            f"sentinel monitor {name} 127.0.0.1 {master_port} 2\n"
            f"sentinel auth-pass {name} {self.PASSWORD}\n"
            f"sentinel down-after-milliseconds {name} {self.down_after_ms}\n"
            f"sentinel failover-timeout {name} 10000\n"
            f"sentinel parallel-syncs {name} 1\n"
        )
        self._spawn(port, [shutil.which("redis-sentinel") or "redis-sentinel", str(config)])

    def _client(self, port: int, password: str):  # -> redis.Redis
        import redis

        return redis.Redis(port=port, password=password, socket_timeout=0.5)

    def current_master_port(self) -> int | None:
        import redis

        for port in self.sentinel_ports:
            try:
                address = self._client(
                    port, self.SENTINEL_PASSWORD
                ).sentinel_get_master_addr_by_name(self.MASTER_NAME)
            except redis.RedisError:
                continue
            if address:
                return int(address[1])
        return None

    def _replica_synced(self, port: int) -> bool:
        import redis

        try:
            info = self._client(port, self.PASSWORD).info("replication")
        except redis.RedisError:
            return False
        return info.get("master_link_status") == "up"

    def _sentinels_agree(self) -> bool:
        import redis

        for port in self.sentinel_ports:
            try:
                master = self._client(port, self.SENTINEL_PASSWORD).sentinel_master(
                    self.MASTER_NAME
                )
            except redis.RedisError:
                return False
            if (
                int(master.get("num-other-sentinels", 0)) < 2
                or int(master.get("num-slaves", 0)) < 1
            ):
                return False
        return True

    def start(self) -> OwnSentinelGroup:
        master, replica = self._port(), self._port()
        self.redis_ports = [master, replica]
        self._redis(master)
        self._redis(replica, replica_of=master)
        wait_until(lambda: self._replica_synced(replica), "the replica in sync")
        self.sentinel_ports = [self._port() for _ in range(3)]
        for port in self.sentinel_ports:
            self._sentinel(port, master)
        wait_until(self._sentinels_agree, "three sentinels that see each other and the replica")
        return self

    def kill_master(self) -> int:
        port = self.current_master_port()
        assert port is not None
        process = self.processes.pop(port)
        process.kill()
        process.wait(10)
        return port

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait(10)
        self.processes.clear()
