"""Prometheus: the instruments served at ``/metrics``, the helpers that record them, and
the middleware that counts every request.

Every process (each granian worker, the sync loop) writes its samples to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode); ``/metrics`` sums them.
Gauges written by the loop keep the most recent value across processes, so a standby that
takes over continues the same series.
"""

from __future__ import annotations

import atexit
import functools
import threading
import time
from collections import Counter as Tallies
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from django.http import HttpRequest, HttpResponseBase
from prometheus_client import Counter, Gauge, Histogram

P = ParamSpec("P")
T = TypeVar("T")

# Cache hits are well under a millisecond; a cold computation can take seconds.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "visitors_http_requests",
    "HTTP requests served, per endpoint (URL name), method and status code.",
    ["endpoint", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "visitors_http_request_duration_seconds",
    "Time from the request entering Django's middleware to the response, per endpoint.",
    ["endpoint", "method"],
    buckets=FAST_BUCKETS,
)
CACHE_LOOKUPS = Counter(
    "visitors_cache_lookups",
    "Served-value lookups per cache key: result=hit (from the cache), miss (computed), or "
    "copy (the process's last published copy, the cache being unreachable).",
    ["key", "result"],
)
DB_QUERY_SECONDS = Histogram(
    "visitors_db_query_duration_seconds",
    "Time of each question asked of the visitor table, per question and DB layer.",
    ["question", "layer"],
    buckets=FAST_BUCKETS,
)
SYNC_CYCLE_SECONDS = Histogram(
    "visitors_sync_cycle_duration_seconds",
    "Duration of successful sync-loop cycles.",
    buckets=FAST_BUCKETS,
)
SYNC_CYCLES = Counter(
    "visitors_sync_cycles",
    "Sync-loop cycles run by the leader, per outcome (ok or error).",
    ["outcome"],
)
SYNC_LAST_CYCLE_SECONDS = Gauge(
    "visitors_sync_last_cycle_duration_seconds",
    "Duration of the last successful sync-loop cycle.",
    multiprocess_mode="mostrecent",
)
SYNC_LAST_SUCCESS = Gauge(
    "visitors_sync_last_success_timestamp_seconds",
    "Unix time of the last successful sync-loop cycle.",
    multiprocess_mode="mostrecent",
)
TODAY_COUNT = Gauge(
    "visitors_today_count",
    "Today's visitor count (library-local day), as last published by the sync loop.",
    multiprocess_mode="mostrecent",
)


def record_request(*, endpoint: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(endpoint, method, str(status)).inc()
    HTTP_LATENCY.labels(endpoint, method).observe(seconds)


class RequestTally:
    """Requests answered from pre-rendered bytes, counted in this process and added to the
    shared Prometheus files about once a second (and at exit): the hot path then costs a
    dict update, not a write per series. They are counted, not timed (microseconds)."""

    def __init__(self, *, period: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.period = period
        self.clock = clock
        self._counts: Tallies[tuple[str, str, str, str]] = Tallies()
        self._guard = threading.Lock()
        self._due = clock() + period

    def add(self, endpoint: str, method: str, status: str, *, hit: str) -> None:
        """One answer to ``endpoint``, served from the cache key ``hit``."""
        with self._guard:
            self._counts[(endpoint, method, status, hit)] += 1
        if self.clock() >= self._due:
            self.flush()

    def flush(self) -> None:
        with self._guard:
            counts, self._counts = self._counts, Tallies()
            self._due = self.clock() + self.period
        for (endpoint, method, status, key), n in counts.items():
            HTTP_REQUESTS.labels(endpoint, method, status).inc(n)
            CACHE_LOOKUPS.labels(key, "hit").inc(n)


tally = RequestTally()
atexit.register(tally.flush)


def counted_lookups(
    get_or_compute: Callable[P, tuple[T, str]],
) -> Callable[P, tuple[T, str]]:
    """Decorate ``get_or_compute(key, ...)``: count a hit when it served from the cache."""

    @functools.wraps(get_or_compute)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> tuple[T, str]:
        value, source = get_or_compute(*args, **kwargs)
        key = args[0] if args else kwargs["key"]
        CACHE_LOOKUPS.labels(key, "hit" if source == "cache" else "miss").inc()
        return value, source

    return wrapper


@contextmanager
def timed_query(question: str, layer: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        DB_QUERY_SECONDS.labels(question, layer).observe(time.perf_counter() - start)


def timed_question(layer: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate a query method: its name is the question, ``layer`` is raw or orm."""

    def decorate(method: Callable[P, T]) -> Callable[P, T]:
        question = method.__name__

        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            with timed_query(question, layer):
                return method(*args, **kwargs)

        wrapper.timed_as = (question, layer)  # type: ignore[attr-defined]  (timed_questions)
        return wrapper

    return decorate


def timed_questions(queries: type) -> list[tuple[str, str]]:
    """(question, layer) of every method of ``queries`` that ``timed_question`` decorated."""
    found = (getattr(getattr(queries, name), "timed_as", None) for name in dir(queries))
    return sorted(series for series in found if series is not None)


def counted_copy(key: str) -> None:
    """A lookup of ``key`` answered from the process's kept copy (``serving``)."""
    CACHE_LOOKUPS.labels(key, "copy").inc()


def start_series(
    *,
    endpoints: Iterable[str],
    cache_keys: Iterable[str],
    copy_keys: Iterable[str] = (),
    questions: Iterable[tuple[str, str]],
) -> None:
    """Create at 0 the series a web worker writes only when it serves from the database: the
    latency of each endpoint (its URL name), the hits and misses of each cache key a request
    may compute (and the copies of ``copy_keys``), and the time of each (question, layer).

    Warm, a worker answers from pre-rendered bytes and writes none of them; without this
    they would first appear at the first cache outage. So Prometheus has them from the first
    scrape (``rate()`` and alerts see an outage's first requests), and the worker allocates
    their values (about 400, each a few small objects that live as long as the worker) as it
    loads, not amid an outage's short-lived counts (``visitors.startup``)."""
    for endpoint in endpoints:
        HTTP_LATENCY.labels(endpoint, "GET")
    for key in cache_keys:
        for result in ("hit", "miss"):
            CACHE_LOOKUPS.labels(key, result)
    for key in copy_keys:
        CACHE_LOOKUPS.labels(key, "copy")
    for question, layer in questions:
        DB_QUERY_SECONDS.labels(question, layer)


def record_cycle(*, report: Any | None, error: str | None, last_success: datetime | None) -> None:
    """One sync-loop cycle ended (``report`` is its CycleReport, absent on failure)."""
    if error is not None or report is None:
        SYNC_CYCLES.labels("error").inc()
        return
    SYNC_CYCLES.labels("ok").inc()
    seconds = report.total_ms / 1000
    SYNC_CYCLE_SECONDS.observe(seconds)
    SYNC_LAST_CYCLE_SECONDS.set(seconds)
    TODAY_COUNT.set(report.count)
    if last_success is not None:
        SYNC_LAST_SUCCESS.set(last_success.timestamp())


# --- the request middleware -----------------------------------------------------------
# Unknown paths and methods share one label value, so random requests cannot grow the series.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class PrometheusMiddleware:
    """Counts and times each request, labelled with its URL name (``visitors-summary``, ``health``, ...)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        start = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        record_request(
            endpoint=(match.view_name or match.route) if match else UNMATCHED,
            method=request.method if request.method in METHODS else "other",
            status=response.status_code,
            seconds=time.perf_counter() - start,
        )
        return response
