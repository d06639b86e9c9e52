"""Read-only admin for the gate system's check-in table, built to stay fast at 10M+ rows.

What a stock ModelAdmin would do on a 10M-row MySQL table, and what this one does instead:

- ``COUNT(*)`` of the whole table on every page (seconds on InnoDB): the paginator counts
  at most ``COUNT_CAP`` matching rows (a bounded, time-limited query) and beyond that shows
  the table's estimated size (``information_schema.TABLES.TABLE_ROWS``) or "more than".
- ``%term%`` search (a full scan): digits look up ``visitor_id`` exactly, anything else is a
  prefix of ``member_id`` (``LIKE 'term%'``, which an index on member_id can serve).
- list filters whose choices come from ``SELECT DISTINCT`` over the table on every page:
  room and institution choices are read from the newest ``CHOICES_WINDOW`` rows (a primary
  key range) and kept in the cache for ``CHOICES_TTL`` seconds.
- deep pages (``OFFSET 9999900`` walks the whole primary key: about 3 s for the last
  page): on the whole table, in id order (the only sortable column), page ``n`` is the
  rows below an id computed from ``n``, a primary-key range read for every page.
- ``date_hierarchy`` (``SELECT DISTINCT`` of years/months/days over the table): a date
  filter of ready-made ranges (today, yesterday, past 7 days, months, years) that become
  ``checkin_date >= a AND checkin_date < b`` on the indexed column.

- a search or filter that must scan the table anyway (member_id has no index in the legacy
  schema): every list statement runs under a server-side time limit (``LIST_TIME_LIMIT_S``)
  and the page ends with a message instead of holding the database.

The table belongs to the gate system and the account may be read-only: no add, change or
delete for anyone, no actions; the admin only ever SELECTs from the visitor database.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import DatabaseError, connections
from django.db.models import Max, Min, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from visitors import keys
from visitors.admin_reports import reports_view
from visitors.clock import add_months, local_now
from visitors.models import Faculty, Visitor

logger = logging.getLogger(__name__)

COUNT_CAP = 10_000
COUNT_TIME_LIMIT_S = 0.25
LIST_TIME_LIMIT_S = 3.0
CHOICES_WINDOW = 200_000
CHOICES_TTL = 600
NULL_CHOICE = "__null__"


# --- a ceiling for every list page ------------------------------------------------------
STATEMENT_TIMEOUT_ERRORS = (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time


def limited_sql(sql: str, *, seconds: float, mariadb: bool) -> str:
    """``sql`` with a server-side time limit, if it is a SELECT without one."""
    if sql.lstrip()[:6].upper() != "SELECT" or "MAX_EXECUTION_TIME" in sql:
        return sql  # not a read, or already limited
    if mariadb:
        return f"SET STATEMENT max_statement_time={seconds:.3f} FOR {sql}"
    return sql.replace("SELECT", f"SELECT /*+ MAX_EXECUTION_TIME({int(seconds * 1000)}) */", 1)


@contextmanager
def statement_time_limit(using: str, seconds: float) -> Iterator[None]:
    """Every SELECT on ``using`` inside the block is aborted by the server after
    ``seconds`` (MariaDB/MySQL; a no-op elsewhere)."""
    connection = connections[using]
    if connection.vendor != "mysql":
        yield
        return
    mariadb = connection.mysql_is_mariadb

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        return execute(limited_sql(sql, seconds=seconds, mariadb=mariadb), params, many, context)

    with connection.execute_wrapper(wrapper):
        yield


def is_statement_timeout(exc: DatabaseError) -> bool:
    return bool(exc.args) and exc.args[0] in STATEMENT_TIMEOUT_ERRORS


# --- counting -------------------------------------------------------------------------
def estimated_table_rows(using: str) -> int:
    """The table's size without counting it: InnoDB's statistic, or SQLite's largest id."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(
                "SELECT TABLE_ROWS FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                [Visitor._meta.db_table],
            )
        else:
            cursor.execute(f"SELECT MAX({Visitor._meta.pk.column}) FROM {Visitor._meta.db_table}")
        row = cursor.fetchone()
    return int(row[0] or 0) if row else 0


def bounded_count(queryset: QuerySet, *, cap: int, time_limit: float) -> int | None:
    """``min(count, cap + 1)`` for the queryset, or None if that took over ``time_limit``.

    The subquery stops after ``cap + 1`` rows, and on MariaDB/MySQL the server aborts it
    after ``time_limit`` seconds (a filter on an unindexed column may scan the whole table
    before finding that many rows).
    """
    using = queryset.db
    connection = connections[using]
    inner = queryset.order_by().values("pk")[: cap + 1]
    sql, params = inner.query.get_compiler(using=using).as_sql()
    count_sql = f"SELECT COUNT(*) FROM ({sql}) bounded"
    if connection.vendor == "mysql":
        count_sql = limited_sql(count_sql, seconds=time_limit, mariadb=connection.mysql_is_mariadb)
    try:
        with connection.cursor() as cursor:
            cursor.execute(count_sql, params)
            return int(cursor.fetchone()[0])
    except DatabaseError as exc:  # the server's time limit (MariaDB 1969, MySQL 3024)
        logger.info("admin count gave up after %.2fs: %s", time_limit, exc)
        return None


def id_order(queryset: QuerySet) -> str | None:
    """ "desc" or "asc" when the queryset is ordered by the primary key alone, else None."""
    first: dict[str, str] = {}  # column -> its first term: what the SQL sorts by
    for term in map(str, queryset.query.order_by):
        column = term.removeprefix("-")
        first.setdefault("pk" if column == Visitor._meta.pk.name else column, term)
    if list(first) != ["pk"]:
        return None
    return "desc" if first["pk"].startswith("-") else "asc"


def id_span(using: str) -> tuple[int, int] | None:
    """The lowest and highest id (two primary-key lookups), or None for an empty table."""
    span = Visitor.objects.using(using).aggregate(low=Min("pk"), high=Max("pk"))
    return None if span["low"] is None else (span["low"], span["high"])


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to ``COUNT_CAP`` rows; past that, estimates; and past that, on the
    whole table in id order, pages by id instead of by OFFSET.

    ``count_kind`` tells the template what the number means: "exact", "estimate" (whole
    table, from the table statistics), "more" (a filter matching more than the cap) or
    "unknown" (the bounded count ran out of time).

    Id pages: page ``n`` (newest first) is the ``per_page`` rows with
    ``visitor_id <= MAX(visitor_id) - (n - 1) * per_page``, a primary-key range read
    whichever the page (OFFSET 9,999,900 walks ten million index entries: about 3 s on the
    10M-row table). There are ``ceil((MAX - MIN + 1) / per_page)`` pages. With no gaps in
    the ids (an auto-increment table nobody deletes from) this is exactly OFFSET paging;
    with gaps, a page may repeat a few rows of the next one, and never skips one.
    """

    count_kind = "exact"

    @property
    def count(self) -> int:
        if "_count" not in self.__dict__:
            self.__dict__["_count"] = self._count()
        return self.__dict__["_count"]

    @functools.cached_property
    def id_pages(self) -> tuple[str, int, int] | None:
        """(direction, lowest id, highest id) when pages are id ranges, else None."""
        direction = id_order(self.object_list)
        self.count  # noqa: B018 - sets count_kind
        if direction is None or self.count_kind != "estimate":
            return None
        span = id_span(self.object_list.db)
        return None if span is None else (direction, *span)

    @property
    def num_pages(self) -> int:  # type: ignore[override]
        if self.id_pages is None:
            return super().num_pages
        _, low, high = self.id_pages
        return max(1, math.ceil((high - low + 1) / self.per_page))

    def page(self, number: Any) -> Any:
        if self.id_pages is None:
            return super().page(number)
        number = self.validate_number(number)
        direction, low, high = self.id_pages
        skipped = (number - 1) * self.per_page
        rows = (
            self.object_list.filter(pk__lte=high - skipped)
            if direction == "desc"
            else self.object_list.filter(pk__gte=low + skipped)
        )
        return self._get_page(rows[: self.per_page], number, self)

    def _count(self) -> int:
        queryset, self.cap = self.object_list, COUNT_CAP
        counted = bounded_count(queryset, cap=self.cap, time_limit=COUNT_TIME_LIMIT_S)
        if counted is not None and counted <= self.cap:
            return counted
        if not queryset.query.has_filters():
            self.count_kind = "estimate"
            return max(estimated_table_rows(queryset.db), self.cap + 1)
        self.count_kind = "more" if counted is not None else "unknown"
        return self.cap + 1


# --- search ---------------------------------------------------------------------------
@functools.cache
def member_id_is_indexed(using: str) -> bool:
    """Whether an index starts with member_id (the legacy schema has none; a DBA may add one).

    Without it, OR-ing a member_id prefix into a visitor_id lookup would turn an instant
    primary-key lookup into a table scan, so digits then only match visitor_id.
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Visitor._meta.db_table)
    return any(
        info["index"] and info["columns"][:1] == ["member_id"] for info in constraints.values()
    )


# --- filters --------------------------------------------------------------------------
FILTERED_FIELDS = ("room_code", "institution")


def recent_choices(*, using: str, window: int | None = None) -> dict[str, list[str | None]]:
    """Distinct values of each filtered field among the newest ``window`` rows.

    A primary-key range (``visitor_id > MAX(visitor_id) - window``): a bounded scan however
    large the table grows, and it drops rooms and institutions that are no longer in use.
    """
    window = CHOICES_WINDOW if window is None else window
    visitors = Visitor.objects.using(using)
    newest = visitors.aggregate(newest=Max("pk"))["newest"]
    recent = visitors.none() if newest is None else visitors.filter(pk__gt=max(newest - window, 0))
    return {
        field: sorted(
            recent.order_by().values_list(field, flat=True).distinct(),
            key=lambda value: (value is None, value or ""),
        )
        for field in FILTERED_FIELDS
    }


def cached_choices(field: str, *, using: str) -> list[str | None]:
    """Filter choices, recomputed at most every ``CHOICES_TTL`` seconds (per cache)."""
    choices = cache.get_or_set(
        keys.admin_filter_choices(using), lambda: recent_choices(using=using), CHOICES_TTL
    )
    return choices.get(field, [])


class RecentValuesFilter(admin.SimpleListFilter):
    """Choices from recent rows, cached; any value in the URL still filters exactly."""

    field: str

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        using = model_admin.get_queryset(request).db
        values = cached_choices(self.field, using=using)
        choices = [(value, value) for value in values if value is not None]
        if None in values:
            choices.append((NULL_CHOICE, "(none)"))
        value = self.value()
        if value and value not in {choice for choice, _ in choices}:
            choices.append((value, value))  # an older value, typed or linked
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        value = self.value()
        if value is None:
            return queryset
        if value == NULL_CHOICE:
            return queryset.filter(**{f"{self.field}__isnull": True})
        return queryset.filter(**{self.field: value})


class RoomFilter(RecentValuesFilter):
    title = "room"
    parameter_name = "room_code"
    field = "room_code"


class InstitutionFilter(RecentValuesFilter):
    title = "institution"
    parameter_name = "institution"
    field = "institution"


class CheckinRangeFilter(admin.DateFieldListFilter):
    """Ready-made local-calendar ranges, each ``checkin_date >= start AND < end``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        today = local_now().replace(hour=0, minute=0, second=0, microsecond=0)
        tomorrow = today + timedelta(days=1)
        month = today.replace(day=1)
        year = today.replace(month=1, day=1)
        self.links = (
            ("Any date", {}),
            ("Today", self._range(today, tomorrow)),
            ("Yesterday", self._range(today - timedelta(days=1), today)),
            ("Past 7 days", self._range(today - timedelta(days=6), tomorrow)),
            ("This month", self._range(month, _shift_month(month, 1))),
            ("Last month", self._range(_shift_month(month, -1), month)),
            ("This year", self._range(year, year.replace(year=year.year + 1))),
            ("Last year", self._range(year.replace(year=year.year - 1), year)),
        )

    def _range(self, start: datetime, end: datetime) -> dict[str, datetime]:
        return {self.lookup_kwarg_since: start, self.lookup_kwarg_until: end}


def _shift_month(first_of_month: datetime, delta: int) -> datetime:
    year, month = add_months(first_of_month.year, first_of_month.month, delta)
    return first_of_month.replace(year=year, month=month)


# --- the admin ------------------------------------------------------------------------
@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin):
    list_display = (
        "visitor_id",
        "checkin_date",
        "member_id",
        "short_member_name",
        "institution",
        "room_code",
    )
    list_display_links = ("visitor_id",)
    ordering = ("-visitor_id",)
    list_filter = (("checkin_date", CheckinRangeFilter), RoomFilter, InstitutionFilter)
    search_fields = ("visitor_id", "member_id")  # shows the box; see get_search_results
    search_help_text = "A visitor id (exact), or a member id or its beginning (e.g. ENG21)."
    readonly_fields = (
        "visitor_id",
        "checkin_date",
        "member_id",
        "member_name",
        "institution",
        "room_code",
    )
    paginator = EstimatedCountPaginator
    # Only the id order: its pages are primary-key ranges however deep (see the paginator).
    # Sorting 10M rows by another column is a table-wide sort; the filters narrow instead.
    sortable_by = ("visitor_id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    list_max_show_all = 200
    actions = None
    preserve_filters = True

    @admin.display(description="member name", ordering="member_name")
    def short_member_name(self, obj: Visitor) -> str | None:
        name = obj.member_name
        if name and len(name) > 60:
            return f"{name[:57]}..."
        return name

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list, rendered under ``LIST_TIME_LIMIT_S`` per statement: a search that would
        scan the table (no index on member_id) ends with a message instead of holding the
        gate system's database."""
        using = self.get_queryset(request).db
        try:
            with statement_time_limit(using, LIST_TIME_LIMIT_S):
                response = super().changelist_view(request, extra_context)
                if isinstance(response, TemplateResponse):
                    response.render()  # evaluate the page's queries inside the limit
                return response
        except DatabaseError as exc:
            if not is_statement_timeout(exc):
                raise
            logger.warning("admin list gave up after %ss: %s", LIST_TIME_LIMIT_S, request.GET)
            self.message_user(
                request,
                f"That search or filter took longer than {LIST_TIME_LIMIT_S:g} s and was "
                "stopped. Narrow it, for example with a date filter.",
                level=messages.ERROR,
            )
            return HttpResponseRedirect(request.path)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        # ASCII digits only ("²".isdigit() is true but int() refuses it), at most 10 of them.
        if not (term.isascii() and term.isdigit() and len(term) <= 10):
            return queryset.filter(member_id__istartswith=term), False
        condition = Q(visitor_id=int(term)) if int(term) < 2**32 else Q(pk__in=[])
        if member_id_is_indexed(queryset.db):
            condition |= Q(member_id__istartswith=term)
        return queryset.filter(condition), False

    def get_urls(self) -> list[URLPattern]:
        reports = path(
            "reports/",
            self.admin_site.admin_view(functools.partial(reports_view, site=self.admin_site)),
            name="visitors_reports",
        )
        return [reports, *super().get_urls()]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Visitor | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Visitor | None = None) -> bool:
        return False


@admin.register(Faculty)
class FacultyAdmin(admin.ModelAdmin):
    """Faculty names for the rankings (ours, in ``default``); an edit shows within one loop
    cycle. ``manage.py load_faculties FILE.csv`` loads many at once."""

    list_display = ("code", "name")
    list_editable = ("name",)
    search_fields = ("code", "name")
    ordering = ("code",)
