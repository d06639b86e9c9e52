"""visitors/admin_reports.py: the admin's Reports page (staff only), its table and downloads."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from tests.conftest import ALL_DATABASES
from tests.test_breakdowns import visitor_queries
from visitors.queries import get_queries
from visitors.sync import Cycle
from visitors.today import make_counter

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 10, 14, 30, tzinfo=JAKARTA)
REPORTS = reverse("admin:visitors_reports")


@pytest.fixture
def staff_client(client, db):
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_visitor"))
    client.force_login(user)
    return client


@pytest.fixture
def kept(insert_visits):
    insert_visits([datetime(2026, 1, 31, 23, 59, 59)] * 2 + [datetime(2026, 2, 1, 0, 0)])
    insert_visits([datetime(2026, 3, 10, 9, 0)])  # today
    queries = get_queries()
    Cycle(counter=make_counter("direct", queries=queries), queries=queries).run(
        now=NOW, key_ttl=600
    )


def get(client, **params):
    with time_machine.travel(NOW, tick=False):
        return client.get(REPORTS, params)


def test_only_staff_reach_the_page(client, db):
    response = get(client)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(User.objects.create_user("member", password="pw", is_staff=False))
    assert get(client, **{"from": "2026-01-01", "to": "2026-03-10"}).status_code == 302


def test_the_form_the_table_and_the_links(staff_client, kept):
    page = get(staff_client).content.decode()
    assert 'name="from" value="2026-03-01"' in page and 'name="to" value="2026-03-10"' in page
    assert 'id="report-table"' not in page  # nothing asked yet
    with visitor_queries() as seen:
        response = get(staff_client, **{"from": "2026-01-01", "to": "2026-03-10", "by": "month"})
    assert seen == []
    page = response.content.decode()
    assert (
        '<td>2026-01</td><td>Jan. 1, 2026</td><td>Jan. 31, 2026</td><td class="total">2</td>'
        in page
    )
    assert "<td>2026-02</td>" in page and "<td>2026-03</td>" in page
    assert 'id="report-total">4<' in page
    assert 'id="download-csv"' in page and 'id="download-xlsx"' in page
    changelist = staff_client.get(reverse("admin:visitors_visitor_changelist"))
    assert REPORTS in changelist.content.decode()


def test_downloads_parse_back(staff_client, kept):
    params = {"from": "2026-01-31", "to": "2026-02-01", "by": "day"}
    response = get(staff_client, **params, format="csv")
    assert response["Content-Disposition"].startswith("attachment;")
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines == [
        ["period", "start", "end", "total"],
        ["2026-01-31", "2026-01-31", "2026-01-31", "2"],
        ["2026-02-01", "2026-02-01", "2026-02-01", "1"],
    ]
    response = get(staff_client, **params, format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["Visitors"]
    assert [row[3] for row in sheet.iter_rows(values_only=True)] == ["total", 2, 1, 3]


def test_bad_input_is_shown_not_raised(staff_client, db):
    page = get(staff_client, **{"from": "2026-03-02", "to": "2026-03-01"}).content.decode()
    assert "errornote" in page and "after" in page
    page = get(staff_client, **{"from": "nope", "to": "2026-03-01", "format": "csv"})
    assert page["Content-Type"].startswith("text/html")
