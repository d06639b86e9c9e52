"""A load client for the Server-Sent-Events streams: many idle streams held by one process,
each event's delivery time taken from the kernel's receive timestamp.

It runs as its own process (``python -m bench.sse_load --port P``), pinned to the core the
server is not on, and is driven over stdin/stdout with one JSON object per line:

- ``{"grow": N}``: open streams until N are held (their first event received); answers
  how many are held, how many failed and why, and how long it took.
- ``{"mark": true}``: a new measuring window: forget the updates seen so far; any that
  arrives later for an update published before (a backlog) is only counted as stale.
- ``{"report": {"expect": K, "timeout": S}}``: wait until every stream held at the mark has
  K updates since it (or S seconds), then answer the delivery figures of the window.
- ``{"pause": true}`` / ``{"resume": true}``: stop and restart reading the streams (the
  kernel keeps what arrives meanwhile), so that this process costs its core nothing while
  another load generator runs there.
- ``{"close_all": true}``: close every stream (and every one still opening) with a reset,
  at once; answers how many were closed and how long it took. The server sees each reset
  when it next reads that socket (at once: it waits on every one); ``bench.streams`` waits
  for the streams worker's sockets to go. A later ``grow`` opens from none again, over the
  same source addresses.
- ``{"quit": true}``: close every stream with a reset (no TIME_WAIT left behind) and exit.

Non-blocking sockets and one epoll in one thread. Every read is a ``recvmsg`` with
``SO_TIMESTAMPNS``: the kernel stamps each segment when it arrives, so how late this
process gets round to reading a socket does not count. An update's delivery time is that
stamp minus the time the update stands for: its ``id:`` (the change version, milliseconds
since the epoch) when the event has one, else the ``generated_at`` of its data (today's
stream); both are the instant the sync loop read the data it then published
(``visitors.changes.Announcer``). Updates are told apart by what grows with each (the id,
or today's ``total``); when streams were told different instants for one update (the
streams process can pair today's new total with the version before), the latest counts.

Connections are spread over several loopback source addresses (127.0.0.1, 127.0.0.2, ...)
with ``IP_BIND_ADDRESS_NO_PORT``, so 19,000 streams to one port do not run out of
ephemeral ports.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import resource
import select
import socket
import struct
import sys
import time
from collections import Counter
from datetime import datetime
from typing import Any

from bench.stats import percentile

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = getattr(socket, "SCM_TIMESTAMPNS", SO_TIMESTAMPNS)
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
ANCILLARY = socket.CMSG_SPACE(16)  # one struct timespec
READ_SIZE = 65536
PER_SOURCE = 5000  # streams per loopback source address
PENDING = 256  # connections opening at once
OPEN_TIMEOUT_S = 30.0
RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST

CONNECTING, HEADERS, BODY, CLOSED = range(4)


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Stream:
    """One connection: HTTP/1.1 response headers, then a chunked body of SSE events."""

    __slots__ = (
        "fd",
        "held",
        "keepalives",
        "left",
        "opened",
        "phase",
        "raw",
        "sock",
        "stale",
        "text",
        "updates",
    )

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.phase = CONNECTING
        self.opened = time.monotonic()
        self.raw = bytearray()  # bytes not yet de-chunked
        self.left = -1  # -1: a chunk-size line is next; -2: the CRLF after a chunk; >0: data
        self.text = bytearray()  # de-chunked bytes not yet split into events
        self.held = False  # the first event arrived
        self.updates: list[tuple[bytes, int]] = []  # (id or data, kernel receive ns)
        self.keepalives = 0
        self.stale = 0  # updates from before the mark, received after it

    def dechunk(self) -> bool:
        """Move whole chunks from ``raw`` to ``text``; False once the body has ended."""
        raw, pos = self.raw, 0
        while True:
            if self.left > 0:
                take = min(self.left, len(raw) - pos)
                if take == 0:
                    break
                self.text += raw[pos : pos + take]
                pos += take
                self.left -= take
                if self.left:
                    break
                self.left = -2
            if self.left == -2:
                if len(raw) - pos < 2:
                    break
                pos += 2
                self.left = -1
            end = raw.find(b"\r\n", pos)
            if end < 0:
                break
            size = int(bytes(raw[pos:end]).split(b";")[0], 16)
            pos = end + 2
            if size == 0:
                return False
            self.left = size
        del raw[:pos]
        return True

    def events(self) -> list[bytes]:
        out = []
        text = self.text
        while (end := text.find(b"\n\n")) >= 0:
            out.append(bytes(text[:end]))
            del text[: end + 2]
        return out


def parse_event(block: bytes) -> tuple[bytes, bytes, bytes | None]:
    """(event name, data, id) of one event; the name is empty for a comment-only block."""
    name, data, event_id = b"", b"", None
    for line in block.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip()
        elif line.startswith(b"data:"):
            data = line[5:].removeprefix(b" ")
        elif line.startswith(b"id:"):
            event_id = line[3:].strip()
    if not name and data:
        name = b"message"
    return name, data, event_id


def identify(key: bytes) -> tuple[int, float]:
    """(ordinal, when) of an update: what grows with each update (its id, or today's
    ``total``) and the instant it stands for in ms since the epoch (the id, or the data's
    ``generated_at``)."""
    if key.isdigit():
        return int(key), float(key)
    value = json.loads(key)
    return int(value["total"]), datetime.fromisoformat(value["generated_at"]).timestamp() * 1000


class LoadClient:
    def __init__(
        self, *, host: str, port: int, path: str, sources: list[str], per_source: int
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.sources = sources
        self.per_source = per_source
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
            "Cache-Control: no-cache\r\n\r\n"
        ).encode()
        self.poller = select.epoll()
        self.streams: dict[int, Stream] = {}
        self.opened_total = 0
        self.held = 0
        self.pending: set[int] = set()
        self.failed: Counter[str] = Counter()
        self.dropped = 0
        self.untimed_reads = 0
        self.window: list[Stream] = []
        self.window_dropped = 0
        self.expect = 0
        self.complete = 0
        self.paused = False
        self.stdin = bytearray()
        self.poller.register(0, select.EPOLLIN)
        self.known: dict[bytes, tuple[int, float]] = {}  # identify() of each id or data
        self.last_ordinal = -1  # the highest update seen
        self.mark_ordinal = -1  # ... when the window opened
        self.command: dict[str, Any] | None = None
        self.command_started = 0.0
        self.grow_target = 0
        self.done = False

    # -- output ---------------------------------------------------------------------------
    @staticmethod
    def answer(value: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    # -- opening ----------------------------------------------------------------------------
    def open_one(self) -> None:
        source = self.sources[min(self.opened_total // self.per_source, len(self.sources) - 1)]
        self.opened_total += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        try:
            sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            code = sock.connect_ex((self.host, self.port))
        except OSError as exc:
            sock.close()
            self.failed[errno.errorcode.get(exc.errno or 0, str(exc))] += 1
            return
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.failed[errno.errorcode.get(code, str(code))] += 1
            return
        stream = Stream(sock)
        self.streams[stream.fd] = stream
        self.pending.add(stream.fd)
        self.poller.register(stream.fd, select.EPOLLOUT)

    def fail(self, stream: Stream, reason: str) -> None:
        """A stream that never got its first event."""
        self.failed[reason] += 1
        self.pending.discard(stream.fd)
        self.close(stream)

    def close(self, stream: Stream, *, reset: bool = False) -> None:
        if stream.phase == CLOSED:
            return
        stream.phase = CLOSED
        self.streams.pop(stream.fd, None)
        with contextlib.suppress(OSError):
            self.poller.unregister(stream.fd)
        if reset:
            with contextlib.suppress(OSError):
                stream.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        stream.sock.close()

    # -- reading ----------------------------------------------------------------------------
    def on_event(self, stream: Stream, fd_event: int) -> None:
        if stream.phase == CONNECTING:
            code = stream.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                return self.fail(stream, errno.errorcode.get(code, str(code)))
            try:
                stream.sock.send(self.request)
            except OSError as exc:
                return self.fail(stream, errno.errorcode.get(exc.errno or 0, str(exc)))
            stream.phase = HEADERS
            self.poller.modify(stream.fd, select.EPOLLIN)
            return
        try:
            data, ancillary, _, _ = stream.sock.recvmsg(READ_SIZE, ANCILLARY)
        except BlockingIOError:
            return
        except OSError as exc:
            return self.lost(stream, errno.errorcode.get(exc.errno or 0, str(exc)))
        if not data:
            return self.lost(stream, "closed by the server")
        stamp = 0
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = struct.unpack("qq", value[:16])
                stamp = seconds * 1_000_000_000 + nanoseconds
        if not stamp:
            self.untimed_reads += 1
            stamp = time.time_ns()
        stream.raw += data
        if stream.phase == HEADERS:
            end = stream.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(stream.raw[:end]).lower()
            status = head.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" ":
                code = status.split(b" ")[1].decode() if b" " in status else "?"
                return self.fail(stream, f"HTTP {code}")
            if b"transfer-encoding: chunked" not in head:
                return self.fail(stream, "not chunked")
            del stream.raw[: end + 4]
            stream.phase = BODY
        if not stream.dechunk():
            return self.lost(stream, "response ended")
        for block in stream.events():
            self.on_sse(stream, block, stamp)

    def on_sse(self, stream: Stream, block: bytes, stamp: int) -> None:
        name, data, event_id = parse_event(block)
        if not name:
            if block.startswith(b":"):
                stream.keepalives += 1
            return
        if not stream.held:
            stream.held = True
            self.held += 1
            self.pending.discard(stream.fd)
            with contextlib.suppress(ValueError, KeyError, TypeError):  # the count shown
                shown = int(event_id) if event_id else int(json.loads(data)["total"])
                self.last_ordinal = max(self.last_ordinal, shown)
            return
        key = event_id or data
        known = self.known.get(key)
        if known is None:
            known = self.known[key] = identify(key)
        if known[0] <= self.mark_ordinal:
            stream.stale += 1
            return
        self.last_ordinal = max(self.last_ordinal, known[0])
        stream.updates.append((key, stamp))
        if len(stream.updates) == self.expect:
            self.complete += 1

    def lost(self, stream: Stream, reason: str) -> None:
        if not stream.held:
            return self.fail(stream, reason)
        self.held -= 1
        self.dropped += 1
        self.failed[f"dropped: {reason}"] += 1
        self.close(stream)

    # -- commands ---------------------------------------------------------------------------
    def read_commands(self) -> None:
        chunk = os.read(0, 65536)
        if not chunk:
            self.done = True
            return
        self.stdin += chunk
        while (end := self.stdin.find(b"\n")) >= 0:
            line = bytes(self.stdin[:end])
            del self.stdin[: end + 1]
            if line.strip():
                self.start(json.loads(line))

    def start(self, command: dict[str, Any]) -> None:
        self.command = command
        self.command_started = time.monotonic()
        if "grow" in command:
            self.grow_target = int(command["grow"])
            self.failed.clear()
        elif "mark" in command:
            self.window = [s for s in self.streams.values() if s.held]
            for stream in self.window:
                stream.updates.clear()
                stream.stale = 0
            self.mark_ordinal = self.last_ordinal
            self.window_dropped = self.dropped
            self.expect = 0
            self.complete = 0
            self.finish({"marked": len(self.window)})
        elif "report" in command:
            self.expect = int(command["report"]["expect"])
            self.complete = sum(1 for s in self.window if len(s.updates) >= self.expect)
        elif "pause" in command:
            self.paused = True
            self.finish({"paused": True})
        elif "resume" in command:
            self.paused = False
            self.finish({"resumed": True})
        elif "close_all" in command:
            closed = len(self.streams)
            self.close_every()
            self.pending.clear()
            self.held = 0
            self.window = []
            self.opened_total = 0  # the next streams start again on the first source address
            self.finish({"closed": closed, "seconds": time.monotonic() - self.command_started})
        elif "quit" in command:
            self.close_every()
            self.finish({"quit": True})
            self.done = True

    def close_every(self) -> None:
        """Close every stream with a reset (no TIME_WAIT left behind)."""
        for stream in list(self.streams.values()):
            self.close(stream, reset=True)

    def finish(self, value: dict[str, Any]) -> None:
        self.command = None
        self.answer(value)

    def progress(self) -> None:
        """Advance the command under way: open more streams, or see if a wait is over."""
        command = self.command
        if command is None:
            return
        now = time.monotonic()
        if "grow" in command:
            for fd in [fd for fd in self.pending if now - self.streams[fd].opened > OPEN_TIMEOUT_S]:
                self.fail(self.streams[fd], "no first event in time")
            while self.held + len(self.pending) < self.grow_target and len(self.pending) < PENDING:
                self.open_one()
                if self.failed.total() > max(100, self.grow_target // 100):
                    break
            gave_up = self.failed.total() > max(100, self.grow_target // 100)
            if not self.pending and (self.held >= self.grow_target or gave_up):
                self.finish(
                    {
                        "held": self.held,
                        "failed": self.failed.total(),
                        "reasons": dict(self.failed),
                        "seconds": now - self.command_started,
                        "sources": min(len(self.sources), -(-self.opened_total // self.per_source)),
                    }
                )
        elif "report" in command:
            alive = [s for s in self.window if s.phase != CLOSED]
            timeout = float(command["report"]["timeout"])
            if self.complete >= len(alive) or now - self.command_started > timeout:
                self.finish(self.figures(now - self.command_started))

    def figures(self, waited: float) -> dict[str, Any]:
        """Delivery times of the window's updates, over every stream and update.

        An update is known by its ordinal; it stands for the latest instant any stream was
        told for it (a stream may get today's new total labelled with the version before,
        when the streams process read the new responses before the new version: counted
        as ``mislabelled``)."""
        known = self.known
        published: dict[int, float] = {}
        for stream in self.window:
            for key, _ in stream.updates:
                ordinal, at = known[key]
                published[ordinal] = max(at, published.get(ordinal, at))
        per_update: dict[int, list[float]] = {ordinal: [] for ordinal in published}
        every: list[float] = []
        mislabelled = 0
        for stream in self.window:
            for key, stamp in stream.updates:
                ordinal, at = known[key]
                mislabelled += at < published[ordinal]
                delay = stamp / 1e6 - published[ordinal]
                every.append(delay)
                per_update[ordinal].append(delay)
        updates = len(published)
        missed = sum(
            1
            for stream in self.window
            if stream.phase == CLOSED or len({known[key][0] for key, _ in stream.updates}) < updates
        )
        return {
            "streams": len(self.window),
            "held": sum(1 for s in self.window if s.phase != CLOSED),
            "dropped": self.dropped - self.window_dropped,
            "updates_seen": updates,
            "deliveries": len(every),
            "mislabelled": mislabelled,
            "stale": sum(stream.stale for stream in self.window),
            "clients_missing_updates": missed,
            "p50_ms": percentile(every, 50),
            "p99_ms": percentile(every, 99),
            "max_ms": max(every, default=float("nan")),
            "min_ms": min(every, default=float("nan")),
            "per_update": [
                {
                    "published_ms": published[key],
                    "clients": len(delays),
                    "p50_ms": percentile(delays, 50),
                    "p99_ms": percentile(delays, 99),
                    "max_ms": max(delays),
                    "min_ms": min(delays),
                }
                for key, delays in sorted(per_update.items())
            ],
            "untimed_reads": self.untimed_reads,
            "waited_s": waited,
        }

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        streams = self.streams
        while not self.done:
            if self.paused:
                select.select([0], [], [])
                self.read_commands()
                continue
            for fd, fd_event in self.poller.poll(0.05, 4096):
                if fd == 0:
                    self.read_commands()
                    continue
                stream = streams.get(fd)
                if stream is not None:
                    self.on_event(stream, fd_event)
            self.progress()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sse_load", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/api/visitors/today/stream")
    parser.add_argument(
        "--sources", type=int, default=4, help="loopback source addresses (127.0.0.1, .2, ...)"
    )
    parser.add_argument("--per-source", type=int, default=PER_SOURCE)
    args = parser.parse_args(argv)
    limit = raise_open_files_limit()
    client = LoadClient(
        host=args.host,
        port=args.port,
        path=args.path,
        sources=[f"127.0.0.{n}" for n in range(1, args.sources + 1)],
        per_source=args.per_source,
    )
    client.answer({"ready": True, "open_files_limit": limit})
    client.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
