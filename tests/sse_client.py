"""A Server-Sent-Events client on a plain socket, as a browser's EventSource reads a stream."""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    name: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class EventStream:
    """Opens ``path`` on ``host:port``; ``next()`` returns the next event (comments and
    ``retry:`` lines are kept in ``comments`` and ``retry``)."""

    host: str
    port: int
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    receive_buffer: int | None = None  # SO_RCVBUF, set before connecting (a slow reader)

    def __post_init__(self) -> None:
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        if self.receive_buffer is not None:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
            sock.settimeout(10)
            sock.connect((self.host, self.port))
            self.connection.sock = sock
        self.connection.request(
            "GET", self.path, headers={"Accept": "text/event-stream", **self.headers}
        )
        self.response = self.connection.getresponse()
        self.status = self.response.status

    def next(self, timeout: float = 10) -> Event | None:
        """The next event within ``timeout``; None when the stream ended."""
        deadline = time.monotonic() + timeout
        name, data, event_id = "message", [], None
        while True:
            self._set_timeout(max(deadline - time.monotonic(), 0.01))
            try:
                raw = self.response.readline()
            except TimeoutError:
                raise AssertionError(f"no event within {timeout}s on {self.path}") from None
            if not raw:
                return None
            line = raw.decode().rstrip("\n")
            if line == "":
                if data or name != "message":
                    return Event(name, "\n".join(data), event_id)
                continue
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "":
                self.comments.append(value)
            elif key == "event":
                name = value
            elif key == "data":
                data.append(value)
            elif key == "id":
                event_id = value
            elif key == "retry":
                self.retry = int(value)

    def _set_timeout(self, seconds: float) -> None:
        sock = self.connection.sock
        if sock is not None:
            sock.settimeout(seconds)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
