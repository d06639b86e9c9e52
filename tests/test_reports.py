"""visitors/reports.py, visitors/history.py and /api/visitors/report: totals for any range.

Exact values against rows written out here (Asia/Jakarta, day/week/month/year edges, back
past the rollup's window to the table's first day), answered with no query of the visitor
table; bad input; CSV and Excel parsed back; ETag/304; the database down.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from django.core.cache import cache as django_cache

from tests.conftest import ALL_DATABASES
from tests.test_breakdowns import visitor_queries
from visitors import history, reports
from visitors.endpoints import TODAY
from visitors.queries import get_queries, guarded
from visitors.series import history_start
from visitors.sync import Cycle
from visitors.today import make_counter

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 10, 14, 30, tzinfo=JAKARTA)
URL = "/api/visitors/report"

ROWS = {
    datetime(2019, 5, 5, 10, 0): 2,  # the table's first day, before the rollup's window
    datetime(2021, 12, 31, 23, 59, 59): 1,  # the last day before it
    datetime(2022, 1, 1, 0, 0): 1,  # the rollup's first day
    datetime(2025, 12, 28, 12, 0): 1,  # Sunday of ISO week 2025-W52
    datetime(2025, 12, 29, 12, 0): 1,  # Monday of ISO week 2026-W01
    datetime(2025, 12, 31, 23, 59, 59): 1,
    datetime(2026, 1, 1, 0, 0): 1,
    datetime(2026, 2, 28, 9, 0): 1,
    datetime(2026, 3, 1, 9, 0): 1,
    datetime(2026, 3, 10, 9, 0): 2,  # today
    datetime(2026, 3, 11, 9, 0): 1,  # tomorrow: counts nowhere
}


@pytest.fixture
def loop_ran(insert_visits):
    for moment, n in ROWS.items():
        insert_visits([moment] * n)
    queries = get_queries()
    Cycle(counter=make_counter("direct", queries=queries), queries=queries).run(
        now=NOW, key_ttl=600
    )


def get(client, **params):
    headers = params.pop("headers", {})
    with time_machine.travel(NOW, tick=False):
        return client.get(URL, params, headers=headers)


def table(body: dict) -> list[tuple[str, str, str, int]]:
    return [(r["period"], r["start"], r["end"], r["total"]) for r in body["rows"]]


CASES = {
    "year": (
        ("2019-01-01", "2026-12-31"),
        [
            ("2019", "2019-01-01", "2019-12-31", 2),
            ("2020", "2020-01-01", "2020-12-31", 0),
            ("2021", "2021-01-01", "2021-12-31", 1),
            ("2022", "2022-01-01", "2022-12-31", 1),
            ("2023", "2023-01-01", "2023-12-31", 0),
            ("2024", "2024-01-01", "2024-12-31", 0),
            ("2025", "2025-01-01", "2025-12-31", 3),
            ("2026", "2026-01-01", "2026-12-31", 5),
        ],
    ),
    "month": (
        ("2025-12-15", "2026-03-10"),
        [
            ("2025-12", "2025-12-15", "2025-12-31", 3),
            ("2026-01", "2026-01-01", "2026-01-31", 1),
            ("2026-02", "2026-02-01", "2026-02-28", 1),
            ("2026-03", "2026-03-01", "2026-03-10", 3),
        ],
    ),
    "week": (
        ("2025-12-28", "2026-01-05"),
        [
            ("2025-W52", "2025-12-28", "2025-12-28", 1),
            ("2026-W01", "2025-12-29", "2026-01-04", 3),
            ("2026-W02", "2026-01-05", "2026-01-05", 0),
        ],
    ),
    "day": (
        ("2021-12-31", "2022-01-02"),
        [
            ("2021-12-31", "2021-12-31", "2021-12-31", 1),
            ("2022-01-01", "2022-01-01", "2022-01-01", 1),
            ("2022-01-02", "2022-01-02", "2022-01-02", 0),
        ],
    ),
}


@pytest.mark.parametrize("by", CASES)
def test_exact_totals_by_period_with_no_query_of_the_table(client, loop_ran, by):
    (start, end), expected = CASES[by]
    with visitor_queries() as seen:
        response = get(client, **{"from": start, "to": end, "by": by})
    assert response.status_code == 200, response.content
    assert seen == []  # the rollup, the older days and today's count: all kept
    body = response.json()
    assert table(body) == expected
    assert (body["from"], body["to"], body["by"]) == (start, end, by)
    assert body["total"] == sum(row[3] for row in expected)


def test_by_defaults_to_day_and_today_is_live_and_the_future_empty(client, loop_ran):
    body = get(client, **{"from": "2026-03-09", "to": "2026-03-12"}).json()
    assert [r["total"] for r in body["rows"]] == [0, 2, 0, 0]
    assert body["by"] == "day"


def test_a_report_reaches_back_to_the_tables_first_day(client, loop_ran):
    # the loop kept the older days: from the first check-in to the rollup's first day
    stored = django_cache.get("visitors:rollup:history")
    assert (stored["from"], stored["to"]) == ("2019-05-05", "2022-01-01")
    assert stored["days"] == {"2019-05-05": 2, "2021-12-31": 1}
    body = get(client, **{"from": "2006-03-11", "to": "2026-03-10", "by": "year"}).json()
    assert body["total"] == 12
    assert body["rows"][0] == {
        "period": "2006",
        "start": "2006-03-11",
        "end": "2006-12-31",
        "total": 0,
    }


def test_the_older_days_are_filled_once_and_extended_when_the_year_turns(insert_visits):
    insert_visits([datetime(2020, 6, 1, 8, 0), datetime(2022, 7, 1, 8, 0)])
    queries = get_queries()
    assert history.update(today=date(2026, 12, 31), queries=queries) == [
        (date(2020, 6, 1), date(2022, 1, 1))
    ]
    assert history.update(today=date(2026, 12, 31), queries=queries) == []
    # 1 January 2027: 2022 leaves the rollup's window, one range for it
    new_year = date(2027, 1, 1)
    assert history_start(new_year) == date(2023, 1, 1)
    assert history.update(today=new_year, queries=queries) == [(date(2022, 1, 1), date(2023, 1, 1))]
    assert history.closed_days(today=new_year, queries=queries) == {
        date(2020, 6, 1): 1,
        date(2022, 7, 1): 1,
    }


def test_request_path_fills_a_cold_store_once(client, insert_visits):
    insert_visits([datetime(2019, 5, 5, 10, 0), datetime(2026, 3, 9, 10, 0)])
    params = {"from": "2019-01-01", "to": "2026-03-10", "by": "year"}
    first = get(client, **params).json()
    with visitor_queries() as seen:
        second = get(client, **params).json()
    assert first == second and first["total"] == 2
    assert seen == []


@pytest.mark.parametrize(
    "params, parameter",
    [
        ({"to": "2026-01-01"}, "from"),
        ({"from": "2026-01-01"}, "to"),
        ({"from": "2026-13-01", "to": "2026-12-31"}, "from"),
        ({"from": "2026-01-01", "to": "31/12/2026"}, "to"),
        ({"from": "20260101", "to": "2026-12-31"}, "from"),
        ({"from": "2026-02-30", "to": "2026-12-31"}, "from"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"from": "2006-03-10", "to": "2026-03-10"}, "to"),  # 20 years and a day
        ({"from": "2026-01-01", "to": "2026-12-31", "by": "quarter"}, "by"),
        ({"from": "2026-01-01", "to": "2026-12-31", "format": "pdf"}, "format"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(client, db, params, parameter):
    response = get(client, **params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "invalid_parameter" and body["parameter"] == parameter
    assert parameter in body["detail"] or "20 years" in body["detail"]


def test_a_range_of_exactly_twenty_years_is_answered(client, db):
    assert get(client, **{"from": "2006-03-11", "to": "2026-03-10"}).status_code == 200
    assert reports.parse({"from": "2004-02-29", "to": "2024-02-28"}).end == date(2024, 2, 28)
    with pytest.raises(reports.ReportInputError):
        reports.parse({"from": "2004-02-29", "to": "2024-02-29"})
    assert reports.parse({"from": "9990-01-01", "to": "9999-12-31"}).end == date.max


def test_errors_are_json_even_when_csv_was_asked_for(client, db):
    response = get(client, **{"from": "x", "to": "2026-01-01", "headers": {"Accept": "text/csv"}})
    assert response.status_code == 400 and response.json()["parameter"] == "from"


def _csv(response) -> list[tuple[str, str, str, int]]:
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines[0] == ["period", "start", "end", "total"]
    return [(p, s, e, int(t)) for p, s, e, t in lines[1:]]


def test_csv_by_parameter_or_accept_parses_back_to_the_same_numbers(client, loop_ran):
    (start, end), expected = CASES["month"]
    params = {"from": start, "to": end, "by": "month"}
    by_param = get(client, **params, format="csv")
    by_accept = get(client, **params, headers={"Accept": "text/csv"})
    for response in (by_param, by_accept):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == (
            'attachment; filename="visitors-month-2025-12-15-2026-03-10.csv"'
        )
        assert _csv(response) == expected
    assert "Accept" in by_accept["Vary"]
    assert by_param.content == by_accept.content


def test_xlsx_parses_back_to_the_same_numbers(client, loop_ran):
    (start, end), expected = CASES["year"]
    response = get(client, **{"from": start, "to": end, "by": "year", "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["Visitors"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("period", "start", "end", "total")
    assert [(p, s.date().isoformat(), e.date().isoformat(), t) for p, s, e, t in rows[1:-1]] == (
        expected
    )
    assert rows[-1][0] == "total" and rows[-1][3] == sum(r[3] for r in expected) == 12


def test_etag_and_304(client, loop_ran):
    params = {"from": "2026-01-01", "to": "2026-03-10"}
    first = get(client, **params)
    assert first["ETag"] and first["Cache-Control"].startswith("public, max-age=")
    again = get(client, **params, headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304 and again.content == b""
    other = get(client, **params, by="month", headers={"If-None-Match": first["ETag"]})
    assert other.status_code == 200


def test_database_down_serves_todays_last_good_count_marked_stale(client, loop_ran):
    django_cache.delete(TODAY.key)  # today's short-lived value is gone; its last good copy stays
    guarded.breaker.record_failure(OSError("MySQL is down"))
    assert guarded.breaker.is_open
    body = get(client, **{"from": "2026-03-01", "to": "2026-03-10", "by": "month"}).json()
    assert body["total"] == 3 and body["stale"] is True
    assert datetime.fromisoformat(body["as_of"]) == NOW
    closed_only = get(client, **{"from": "2026-03-01", "to": "2026-03-09"}).json()
    assert "stale" not in closed_only  # today is not in it


def test_database_down_and_nothing_kept_is_a_503(client, db):
    guarded.breaker.record_failure(OSError("MySQL is down"))
    response = get(client, **{"from": "2026-03-01", "to": "2026-03-10"})
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


def test_periods_clip_to_the_range_at_the_ends_of_time():
    request = reports.ReportRequest(date(9999, 12, 20), date.max, "week")
    body = reports.build(request, lambda day: 1)
    assert body["rows"][-1]["end"] == "9999-12-31" and body["total"] == 12
    request = reports.ReportRequest(date.min, date.min + timedelta(days=40), "month")
    assert [r["total"] for r in reports.build(request, lambda day: 1)["rows"]] == [31, 10]
