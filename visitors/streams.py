"""Live push: the Server-Sent-Events streams, served by the streams process (ASGI).

- ``GET /api/visitors/today/stream`` (the old service's): ``event: init`` with
  ``{"total", "source", "at"}``, then ``event: update`` with ``{"total", "generated_at"}``
  whenever today's count changes.
- ``GET /api/visitors/stream``: ``event: summary`` with the exact bytes of
  ``/api/visitors/summary``, at connect and whenever any part of it changes; each carries
  ``id:`` (the change version, which only grows). A client that reconnects with
  ``Last-Event-ID`` gets the current summary at once if it missed a change, nothing if it
  is current. A ``retry:`` hint comes first.

Fan-out: the process holds one change watcher (``visitors.live``: one Redis subscription,
or polling on the embedded default) and one ``Hub``. At each change the hub hands every
client its next event itself, in one pass on the event loop's thread (``Hub``), so a change
costs one Redis read per process and one write per client, not a task woken per client.
Every ``STREAM_KEEPALIVE_S`` the hub sends everyone a ``: keepalive`` comment, which is also
when a vanished client is noticed and its slot freed. A client whose socket does not take
a write within ``STREAM_SEND_TIMEOUT_S`` is dropped (its memory cannot grow). Beyond
``STREAM_MAX_CLIENTS`` a new client gets ``503`` with ``Retry-After``. SIGTERM ends every
stream at once, cleanly, so clients reconnect to another process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
import types
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host

from visitors import changes, serving, sse
from visitors.clock import local_now
from visitors.conf import visitor_settings
from visitors.endpoints import SUMMARY, TODAY
from visitors.live import LiveResponses, Snapshot
from visitors.rendered import render

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
NextEvent = Callable[["StreamState"], "bytes | None"]  # a client's event for a state, if any

TODAY_STREAM = "/api/visitors/today/stream"
SUMMARY_STREAM = "/api/visitors/stream"
RETRY_AFTER_FULL_S = 5


@dataclass(frozen=True)
class StreamState:
    """What the streams show, derived from this process's copy of the published responses."""

    version: int = 0  # the last change notice's version
    at: str = ""  # when that notice's data was read
    summary: bytes | None = None  # the /summary body
    summary_version: int = 0  # the version at which the summary body last changed
    summary_event: bytes = b""  # its ``summary`` event (id: that version), rendered once
    today: int | None = None  # today's count
    today_event: bytes = b""  # its ``update`` event, rendered once for every client

    def advance(self, snapshot: Snapshot) -> StreamState:
        notice = snapshot.notice
        summary = snapshot.responses.get(SUMMARY.name)
        today = snapshot.responses.get(TODAY.name)
        version = notice.version if notice is not None else self.version
        state = replace(
            self,
            version=version,
            at=notice.at if notice is not None else self.at,
            today=json.loads(today.body)["total"] if today is not None else self.today,
        )
        if state.today is not None and (state.today, state.at) != (self.today, self.at):
            data = _json({"total": state.today, "generated_at": state.at})
            state = replace(state, today_event=sse.event("update", data))
        # A summary first seen before any notice (stored by a request on a miss) takes the
        # first notice's version, so its id is never left at 0 ("unknown").
        if summary is not None and (summary.body != self.summary or not self.summary_version):
            state = replace(
                state,
                summary=summary.body,
                summary_version=version,
                summary_event=sse.event("summary", summary.body, id=version),
            )
        return state


class Hub:
    """This process's fan-out: the current state, and the clients that follow it.

    At each wake-up (a change, or a keepalive) the hub itself hands every following client
    its next event, one after the other on the event loop's thread: a client whose socket
    takes the write at once (the usual case: the server queues it) costs one call, not a
    task woken per client. A write that has to wait (the server's buffer for that client is
    full) goes on in a task of that client's; meanwhile the client is skipped and, once the
    write is done, gets the state as it is then (``Client.offer``), so a slow client can
    neither hold the others up nor make the server hold a backlog for it.
    """

    def __init__(self, *, keepalive_s: float, max_clients: int) -> None:
        self.keepalive_s = keepalive_s
        self.max_clients = max_clients
        self.state = StreamState()
        self.active: set[Client] = set()
        self.closing = False
        self._loop = asyncio.get_running_loop()
        self._ticker = self._loop.create_task(self._keepalive_ticks())

    def take(self, snapshot: Snapshot) -> None:
        """From the watcher's thread: a new snapshot was read."""
        self._loop.call_soon_threadsafe(self._advance, snapshot)

    def _advance(self, snapshot: Snapshot) -> None:
        state = self.state.advance(snapshot)
        if state != self.state:
            self.state = state
            self._wake()

    def _wake(self) -> None:
        state = self.state
        for client in tuple(self.active):
            try:
                client.offer(state, keepalive=True)
            except Exception as exc:  # a bug for one client must not stop the others
                logger.exception("stream client ended: its next event failed")
                client.finish(exc)

    @property
    def clients(self) -> int:
        return len(self.active)

    async def _keepalive_ticks(self) -> None:
        while not self.closing:
            await asyncio.sleep(self.keepalive_s)
            try:
                self._drop_stuck()
                self._wake()
            except Exception:  # the next tick tries again
                logger.exception("stream keepalive failed")

    def _drop_stuck(self) -> None:
        """Cut the clients whose last write has not been taken for their send timeout: a
        client too slow to read cannot make the server hold its backlog."""
        now = time.monotonic()
        for client in list(self.active):
            if client.stuck(now):
                client.cut()

    def follow(self, client: Client, next_event: NextEvent) -> asyncio.Future[None]:
        """From now on ``client`` gets ``next_event(state)`` at each wake-up (a keepalive
        when that is None), starting with the state as it is now if it has an event. Await
        the result: it is done when the hub closes, and fails with ``ClientGone`` when a
        write to the client fails."""
        client.next_event = next_event
        if self.closing:
            client.finish()
        else:
            client.offer(self.state, keepalive=False)
        return client.finished

    def leave(self, client: Client) -> None:
        """The client's stream has ended: its slot is free, its waiting write let go."""
        client.stop_writing()
        self.active.discard(client)

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self._ticker.cancel()
            for client in self.active:
                client.finish()


class ClientGone(Exception):
    """The client went away, or did not take a write in time."""


class _Rest:
    """The rest of a server's own awaitable (not a coroutine: granian's send) that
    ``Client.push`` stepped once already. Awaiting it goes on where that step left off, as
    ``yield from`` would have: what the step yielded goes to the awaiting task, and what the
    task sends or throws back goes to the awaitable."""

    __slots__ = ("first", "steps")

    def __init__(self, steps: Any, first: Any) -> None:
        self.steps, self.first = steps, first

    def __await__(self) -> Generator[Any, Any, Any]:
        steps, value = self.steps, self.first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                close = getattr(steps, "close", None)
                if close is not None:
                    close()
                raise
            except BaseException as exc:
                throw = getattr(steps, "throw", None)
                if throw is None:
                    raise
                try:
                    value = throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = next(steps) if sent is None else steps.send(sent)
                except StopIteration as stop:
                    return stop.value


def _abandon(write: Any) -> None:
    """A write whose task was cancelled before it ran: let go of what it holds."""
    if isinstance(write, types.CoroutineType):
        write.close()
    elif callable(cancel := getattr(write, "cancel", None)):
        cancel()


class Client:
    """One stream's connection. It writes its first events itself (``write``); once it
    follows its hub, the hub hands it every later one (``offer``).

    A write that the socket does not take within ``timeout_s`` gets the client cut by its
    hub's watchdog (checked every keepalive), which costs nothing per write, unlike a timer
    around each of them."""

    def __init__(self, send: Send, *, timeout_s: float) -> None:
        self._send = send
        self.timeout_s = timeout_s
        self.writing_since: float | None = None  # a write the socket has not taken yet
        self.timed_out = False
        self.task = asyncio.current_task()
        self.next_event: NextEvent | None = None  # set once it follows the hub
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._behind: StreamState | None = None  # offered while a write was waiting
        self._writing: asyncio.Task[None] | None = None

    def stuck(self, now: float) -> bool:
        return self.writing_since is not None and now - self.writing_since > self.timeout_s

    def cut(self) -> None:
        self.timed_out = True
        if self.task is not None:
            self.task.cancel()

    async def write(self, data: bytes) -> None:
        self.writing_since = time.monotonic()
        try:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})
        except Exception as exc:  # the connection is closed
            raise ClientGone(str(exc) or type(exc).__name__) from exc
        finally:
            self.writing_since = None

    # -- while it follows the hub ------------------------------------------------------
    def offer(self, state: StreamState, *, keepalive: bool) -> None:
        """The hub's state changed (or a keepalive is due): send what this client has not
        seen, or a keepalive, or nothing. While a write is still waiting, the state is kept
        for when it is done."""
        if self.next_event is None or self.finished.done():
            return  # still writing its first events, or ended
        if self.writing_since is not None:
            self._behind = state
            return
        data = self.next_event(state)
        if data is None and keepalive:
            data = sse.KEEPALIVE
        if data is not None:
            self.push(data)

    def push(self, data: bytes) -> None:
        """Write ``data`` now. The server's send is stepped here, once: if it took the
        bytes (``StopIteration``: granian does when its buffer for the client has room),
        that was the whole write; if it has to wait, the rest goes on in a task of this
        client's. A send written in Python (another server, a wrapper around the send) runs
        in a task of its own from the start, as it would anywhere."""
        message = {"type": "http.response.body", "body": data, "more_body": True}
        try:
            awaitable = self._send(message)
            if isinstance(awaitable, types.CoroutineType):
                self._write_in_task(awaitable, awaitable)
                return
            steps = awaitable.__await__()
            first = next(steps)
        except StopIteration:
            return
        except (Exception, asyncio.CancelledError) as exc:  # the connection is closed
            self.finish(exc)
            return
        logger.debug("stream client: a write waits (the server's buffer for it is full)")
        self._write_in_task(_Rest(steps, first), first)

    def _write_in_task(self, write: Awaitable[Any], held: Any) -> None:
        self.writing_since = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._write_rest(write))
        task.add_done_callback(lambda done: done.cancelled() and _abandon(held))
        self._writing = task

    async def _write_rest(self, write: Awaitable[Any]) -> None:
        try:
            await write
        except Exception as exc:
            self.finish(exc)
            return
        finally:
            self.writing_since = None
        behind, self._behind = self._behind, None
        if behind is not None:
            self.offer(behind, keepalive=False)

    def finish(self, error: Exception | None = None) -> None:
        """The stream ends: the hub closed (``None``), or a write failed."""
        if self.finished.done():
            return
        if error is None:
            self.finished.set_result(None)
        else:
            self.finished.set_exception(ClientGone(str(error) or type(error).__name__))

    def stop_writing(self) -> None:
        if self._writing is not None:
            self._writing.cancel()

    async def end(self) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._writing is not None and not self._writing.done():
                    await asyncio.wait({self._writing})  # the last event first
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:
            pass


# --- the two streams ------------------------------------------------------------------
def _in_thread(fn: Callable[[], Any]) -> Awaitable[Any]:
    """Run Django code (the cache, maybe the database) off the event loop, as a request."""

    def request() -> Any:
        close_old_connections()
        try:
            return fn()
        finally:
            close_old_connections()

    return asyncio.to_thread(request)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _error_event(exc: Exception) -> bytes:
    detail = "The visitor database is unreachable and no earlier value is available."
    logger.warning("stream: no initial value: %s", exc)
    return sse.event("error", _json({"detail": detail, "code": "database_unavailable"}))


async def _today_init(hub: Hub) -> tuple[bytes, int | None]:
    """The ``init`` event, and the count it shows."""
    at = local_now().isoformat()
    total = hub.state.today
    if total is not None:
        return sse.event("init", _json({"total": total, "source": "cache", "at": at})), total
    try:  # a cold cache: counted (or read) in a thread, like a request would
        body = await _in_thread(lambda: serving.response_body(TODAY))
    except serving.NoData as exc:
        return _error_event(exc), None
    data = {"total": body["total"], "source": body["source"], "at": at}
    return sse.event("init", _json(data)), body["total"]


async def _follow(client: Client, hub: Hub, next_event: NextEvent) -> None:
    """From now on the hub hands the client ``next_event`` of each new state, or a
    keepalive; until the hub closes or a write fails (``ClientGone``)."""
    await hub.follow(client, next_event)


async def today_stream(client: Client, hub: Hub, last_id: int | None) -> None:
    init, shown = await _today_init(hub)
    await client.write(init)

    def update(state: StreamState) -> bytes | None:
        nonlocal shown
        if state.today is None or state.today == shown:
            return None
        shown = state.today
        return state.today_event

    await _follow(client, hub, update)


def _notice_then_summary() -> tuple[changes.Notice | None, dict[str, Any]]:
    """Before this process's watcher has read anything: the last notice, then the summary
    (read in that order, the body is at least as new as the notice's version)."""
    try:
        notice = changes.current()
    except Exception:  # the cache is unreachable: no version to give
        notice = None
    return notice, serving.response_body(SUMMARY)


async def _summary_now(hub: Hub) -> tuple[bytes, int] | Exception:
    state = hub.state
    if state.summary is not None:
        return state.summary, state.summary_version
    try:
        notice, body = await _in_thread(_notice_then_summary)
    except serving.NoData as exc:
        return exc
    return render(body).body, notice.version if notice is not None else state.version


async def summary_stream(client: Client, hub: Hub, last_id: int | None) -> None:
    await client.write(sse.retry(visitor_settings().STREAM_RETRY_MS))
    current = await _summary_now(hub)
    shown: int | None = last_id
    sent: bytes | None = None
    if isinstance(current, Exception):
        await client.write(_error_event(current))
    elif current[1] != last_id or current[1] == 0:
        sent, shown = current
        await client.write(sse.event("summary", sent, id=shown))

    def changed(state: StreamState) -> bytes | None:
        nonlocal shown, sent
        if state.summary is None or state.summary_version == shown:
            return None
        shown = state.summary_version
        if state.summary == sent:  # the same body under its first known version: no resend
            return None
        sent = state.summary
        return state.summary_event

    await _follow(client, hub, changed)


STREAMS = {
    path: stream
    for base, stream in ((TODAY_STREAM, today_stream), (SUMMARY_STREAM, summary_stream))
    for path in (base, base + "/")
}


# --- the ASGI application -------------------------------------------------------------
async def _cancel_on_disconnect(receive: Receive, stream: asyncio.Task[Any] | None) -> None:
    """The client left (the server reports it on ``receive``): end its stream at once."""
    while (await receive())["type"] != "http.disconnect":
        pass
    if stream is not None:
        stream.cancel()


async def _json_response(
    send: Send, status: int, detail: str, code: str, headers: list[tuple[bytes, bytes]] = ()
) -> None:
    body = _json({"detail": detail, "code": code})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _host_allowed(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"host":
            domain, _ = split_domain_port(value.decode("latin-1"))
            return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
    return False


class StreamsApp:
    """The streams process: the two streams above, and JSON errors for anything else."""

    def __init__(self) -> None:
        self.hub: Hub | None = None
        self.live: LiveResponses | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    # -- start and stop ---------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        conf = visitor_settings()
        self.hub = Hub(keepalive_s=conf.STREAM_KEEPALIVE_S, max_clients=conf.STREAM_MAX_CLIENTS)
        self.live = LiveResponses()
        self.live.add_listener(self.hub.take)
        self.live.start()
        self._end_streams_on_signals()

    def stop(self) -> None:
        if self.hub is not None:
            self.hub.close()
        if self.live is not None:
            self.live.stop()

    def _end_streams_on_signals(self) -> None:
        """SIGTERM/SIGINT end every stream at once. The server waits for open responses
        before it shuts down, so the handler is chained in front of the server's own."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)

            def handler(number: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.stop)
                if callable(previous):
                    previous(number, frame)

            signal.signal(signum, handler)

    # -- one request ------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = STREAMS.get(scope["path"])
        hub = self.hub
        if stream is None:
            return await _json_response(send, 404, "Not found.", "not_found")
        if scope["method"] != "GET":
            return await _json_response(
                send,
                405,
                f'Method "{scope["method"]}" not allowed.',
                "method_not_allowed",
                [(b"allow", b"GET")],
            )
        if not _host_allowed(scope):
            return await _json_response(send, 400, "Bad request.", "bad_request")
        if hub is None or hub.closing:
            return await _json_response(
                send, 503, "Shutting down; reconnect.", "shutting_down", [(b"retry-after", b"1")]
            )
        if hub.clients >= hub.max_clients:
            return await _json_response(
                send,
                503,
                "Too many open streams on this process; retry shortly.",
                "too_many_streams",
                [(b"retry-after", str(RETRY_AFTER_FULL_S).encode())],
            )
        client = Client(send, timeout_s=visitor_settings().STREAM_SEND_TIMEOUT_S)
        hub.active.add(client)
        watcher = asyncio.create_task(_cancel_on_disconnect(receive, asyncio.current_task()))
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [*sse.HEADERS, (b"access-control-allow-origin", b"*")],
                }
            )
            await stream(client, hub, sse.last_event_id(scope["headers"]))
            await client.end()
        except ClientGone as exc:
            logger.debug("stream client gone: %s", exc)
        except asyncio.CancelledError:
            if client.timed_out:
                logger.info("stream client dropped: it took no write for %ss", client.timeout_s)
            elif not watcher.done():
                raise  # cancelled by the server, not by the client leaving
        finally:
            watcher.cancel()
            hub.leave(client)
