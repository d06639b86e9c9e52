"""Reports for any range: totals per day, ISO week, month or year, from the kept counts.

A report never scans the table: closed days come from the rollup (``visitors.rollup``) and,
before its window, from the older days kept back to the first check-in
(``visitors.history``); today is today's count as ``/today`` serves it; days after today
count nothing. Periods are clipped to the range: a week or month cut by ``from`` or ``to``
reports only its days inside, and its ``start``/``end`` say which.

``parse`` turns the query parameters into a ``ReportRequest`` or raises ``ReportInputError``
naming the parameter; ``build`` makes the report; ``csv_bytes`` and ``xlsx_bytes`` render it.
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from django.utils.translation import gettext as _

from visitors import history, serving
from visitors.endpoints import TODAY

By = Literal["day", "week", "month", "year"]
BY: tuple[By, ...] = ("day", "week", "month", "year")
MAX_YEARS = 20
COLUMNS = ("period", "start", "end", "total")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReportInputError(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True)
class ReportRequest:
    start: date
    end: date  # inclusive
    by: By


def _date(params: Mapping[str, str], name: str) -> date:
    raw = params.get(name)
    if raw is None or raw == "":
        raise ReportInputError(
            name, _("'%(name)s' is required: a date, YYYY-MM-DD.") % {"name": name}
        )
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        message = _("'%(name)s' is not a date YYYY-MM-DD: %(value)s.")
        raise ReportInputError(name, message % {"name": name, "value": repr(raw[:40])}) from None


def _years_later(day: date, years: int) -> date | None:
    """The same day ``years`` later (28 February for 29 February); None past year 9999."""
    year = day.year + years
    if year > date.max.year:
        return None
    return date(year, day.month, min(day.day, calendar.monthrange(year, day.month)[1]))


def parse(params: Mapping[str, str]) -> ReportRequest:
    """``from``, ``to`` (YYYY-MM-DD, inclusive) and ``by`` (default ``day``)."""
    start, end = _date(params, "from"), _date(params, "to")
    if start > end:
        raise ReportInputError("from", _("'from' is after 'to'."))
    limit = _years_later(start, MAX_YEARS)
    if limit is not None and end >= limit:
        raise ReportInputError(
            "to", _("The range is longer than %(years)s years.") % {"years": MAX_YEARS}
        )
    by = params.get("by") or "day"
    if by not in BY:
        message = _("'by' must be one of %(choices)s: %(value)s.")
        raise ReportInputError("by", message % {"choices": ", ".join(BY), "value": repr(by[:40])})
    return ReportRequest(start, end, by)  # type: ignore[arg-type]


def _period(day: date, by: By) -> tuple[str, date]:
    """The label of ``day``'s period and the period's last day."""
    if by == "day":
        return day.isoformat(), day
    if by == "week":
        year, week, weekday = day.isocalendar()
        last = (
            day + timedelta(days=7 - weekday) if day <= date.max - timedelta(days=7) else date.max
        )
        return f"{year:04d}-W{week:02d}", last
    if by == "month":
        last_day = calendar.monthrange(day.year, day.month)[1]
        return f"{day.year:04d}-{day.month:02d}", day.replace(day=last_day)
    return f"{day.year:04d}", date(day.year, 12, 31)


def build(request: ReportRequest, count: Callable[[date], int]) -> dict[str, Any]:
    """The report: one row per period of the range, and the grand total.

    ``count(day)`` is one day's check-ins.
    """
    rows: list[dict[str, Any]] = []
    day = request.start
    while True:
        label, last = _period(day, request.by)
        last = min(last, request.end)
        total = 0
        current = day
        while True:
            total += count(current)
            if current >= last:
                break
            current += timedelta(days=1)
        rows.append(
            {"period": label, "start": day.isoformat(), "end": last.isoformat(), "total": total}
        )
        if last >= request.end:
            break
        day = last + timedelta(days=1)
    return {
        "from": request.start.isoformat(),
        "to": request.end.isoformat(),
        "by": request.by,
        "total": sum(row["total"] for row in rows),
        "rows": rows,
    }


def day_counter(
    *, today: date, today_count: int, closed: Mapping[date, int], older: Mapping[date, int]
) -> Callable[[date], int]:
    """One day's count from the kept counts: closed days, today's count, nothing after."""

    def count(day: date) -> int:
        if day < today:
            return closed.get(day) or older.get(day, 0)
        return today_count if day == today else 0

    return count


def answer(request: ReportRequest, *, now: datetime | None = None) -> dict[str, Any]:
    """The report from the kept counts (see the module docstring); while the database is
    down and today's count is its last good value, marked ``stale`` with ``as_of``.

    Raises ``DatabaseError`` / ``serving.NoData`` when a cold store cannot be filled.
    """
    facts = serving.request_facts(now)
    today = facts.today
    closed: Mapping[date, int] = {}
    older: Mapping[date, int] = {}
    if request.start < today:
        closed = facts.closed.days
        if request.start < min(closed, default=today):
            older = history.closed_days(today=today, queries=facts.queries)
    today_body = serving.response_body(TODAY, now=facts.now) if request.end >= today else {}
    report = build(
        request,
        day_counter(
            today=today, today_count=today_body.get("total", 0), closed=closed, older=older
        ),
    )
    if today_body.get("stale"):
        report.update(stale=True, as_of=today_body["as_of"])
    return report


def filename(report: Mapping[str, Any], extension: str) -> str:
    return f"visitors-{report['by']}-{report['from']}-{report['to']}.{extension}"


def csv_bytes(report: Mapping[str, Any]) -> bytes:
    """One header line (period,start,end,total) and one line per period; UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in report["rows"]:
        writer.writerow([row[column] for column in COLUMNS])
    return out.getvalue().encode()


def xlsx_bytes(report: Mapping[str, Any]) -> bytes:
    """One sheet, "Visitors": the header, one row per period (dates as dates), the total."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Visitors")
    sheet.append(list(COLUMNS))
    for row in report["rows"]:
        sheet.append(
            [
                row["period"],
                date.fromisoformat(row["start"]),
                date.fromisoformat(row["end"]),
                row["total"],
            ]
        )
    sheet.append(
        [
            "total",
            date.fromisoformat(report["from"]),
            date.fromisoformat(report["to"]),
            report["total"],
        ]
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
