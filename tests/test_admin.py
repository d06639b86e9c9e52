"""The read-only visitor admin: what it shows, and which SQL it sends to the visitor table."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import ALL_DATABASES
from visitors import admin as visitor_admin
from visitors.models import Visitor

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 31, 15, 0, tzinfo=JAKARTA)
CHANGELIST = reverse("admin:visitors_visitor_changelist")


def detail_url(visitor_id: int) -> str:
    return reverse("admin:visitors_visitor_change", args=[visitor_id])


@pytest.fixture
def staff(db) -> User:
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_visitor"))
    return user


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("boss", password="pw")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def rows(insert_visits) -> dict[str, list[int]]:
    """A small table: two members, two rooms, two institutions, three days."""
    return {
        "old": insert_visits(
            [datetime(2026, 3, 1, 9, 0), datetime(2026, 3, 1, 10, 0)],
            member_id="ENG2100001",
            member_name="Adi Pratama",
            institution="Faculty of Engineering",
            room_code="READ-1",
        ),
        "yesterday": insert_visits(
            [datetime(2026, 3, 30, 11, 0)],
            member_id="MED2200002",
            member_name="Siti Rahman",
            institution="Faculty of Medicine",
            room_code="MAIN-HALL",
        ),
        "today": insert_visits(
            [datetime(2026, 3, 31, 8, 0), datetime(2026, 3, 31, 14, 0)],
            member_id="ENG2100777",
            member_name="Budi Santoso",
            institution="Faculty of Engineering",
            room_code="MAIN-HALL",
        ),
    }


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _fresh_index_check():
    visitor_admin.member_id_is_indexed.cache_clear()
    yield
    visitor_admin.member_id_is_indexed.cache_clear()


def shown_ids(response) -> list[int]:
    """visitor_ids in the changelist, in display order."""
    html = response.content.decode()
    return [
        int(found) for found in re.findall(r'<th class="field-visitor_id"><a [^>]*>(\d+)<', html)
    ]


def get(client, params: dict | str | None = None):
    query = urlencode(params) if isinstance(params, dict) else params
    url = CHANGELIST + ("?" + query if query else "")
    with CaptureQueriesContext(connections["visitors"]) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content[:2000]
    return response, [query["sql"] for query in queries.captured_queries]


def assert_cheap(sqls: list[str]) -> None:
    """No leading-wildcard LIKE, no unbounded COUNT(*), only reads."""
    for sql in sqls:
        if "information_schema" not in sql:  # introspection reads the catalog, not the table
            assert "LIKE '%" not in sql and "LIKE %s" not in sql, sql
        if "COUNT(" in sql.upper():
            assert "LIMIT" in sql.upper(), f"unbounded count: {sql}"
        assert re.match(r"^\s*(SET STATEMENT \S+ FOR\s+)?(SELECT|SHOW)\b", sql, re.I), sql


# --- access ----------------------------------------------------------------------------
def test_anonymous_is_sent_to_login(client):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_view_permission_is_refused(client, db):
    client.force_login(User.objects.create_user("nobody", password="pw", is_staff=True))
    assert client.get(CHANGELIST).status_code == 403


def test_changelist_lists_newest_first_with_every_column(staff_client, rows):
    response, sqls = get(staff_client)
    every_id = [*rows["old"], *rows["yesterday"], *rows["today"]]
    assert shown_ids(response) == sorted(every_id, reverse=True)
    html = response.content.decode()
    for text in ("ENG2100777", "Budi Santoso", "Faculty of Medicine", "MAIN-HALL", "READ-1"):
        assert text in html
    assert "March 31, 2026, 2 p.m." in html  # checkin_date shown as stored, library-local
    assert "5 visitor check-ins" in html
    assert_cheap(sqls)
    page = next(
        sql for sql in sqls if "ORDER BY" in sql and "LIMIT" not in sql.split("ORDER BY")[0]
    )
    assert "ORDER BY `visitor_count`.`visitor_id` DESC" in page


def test_changelist_sql_has_no_distinct_once_filter_choices_are_cached(staff_client, rows):
    _, cold = get(staff_client)
    distinct = [sql for sql in cold if "DISTINCT" in sql]
    assert distinct, "the first load computes the filter choices"
    assert all("`visitor_id` >" in sql for sql in distinct), distinct  # newest rows only

    _, warm = get(staff_client)
    assert not [sql for sql in warm if "DISTINCT" in sql]
    assert not [sql for sql in warm if "MAX(" in sql]
    assert_cheap(warm)


def test_no_add_change_or_delete_even_for_a_superuser(client, superuser, rows):
    client.force_login(superuser)
    visitor_id = rows["today"][0]
    assert client.get(reverse("admin:visitors_visitor_add")).status_code == 403
    assert (
        client.get(reverse("admin:visitors_visitor_delete", args=[visitor_id])).status_code == 403
    )
    response = client.post(detail_url(visitor_id), {"member_id": "HACKED"})
    assert response.status_code == 403
    assert Visitor.objects.get(pk=visitor_id).member_id == "ENG2100777"
    changelist = client.get(CHANGELIST).content.decode()
    assert 'name="action"' not in changelist and "Add visitor" not in changelist


def test_detail_page_is_view_only(staff_client, rows):
    visitor_id = rows["yesterday"][0]
    response = staff_client.get(detail_url(visitor_id))
    assert response.status_code == 200
    html = response.content.decode()
    assert "MED2200002" in html and "Siti Rahman" in html and "MAIN-HALL" in html
    assert 'name="_save"' not in html and 'name="member_id"' not in html


# --- search ----------------------------------------------------------------------------
def test_search_by_visitor_id_is_an_exact_primary_key_lookup(staff_client, rows):
    wanted = rows["yesterday"][0]
    response, sqls = get(staff_client, {"q": str(wanted)})
    assert shown_ids(response) == [wanted]
    page = [sql for sql in sqls if "ORDER BY `visitor_count`" in sql]
    assert page and all(f"`visitor_count`.`visitor_id` = {wanted}" in sql for sql in page)
    assert all("member_id" not in sql.split("WHERE")[1] for sql in page)  # no index on it
    assert_cheap(sqls)


def test_search_by_member_id_prefix(staff_client, rows):
    response, sqls = get(staff_client, {"q": "eng21"})
    assert shown_ids(response) == sorted([*rows["old"], *rows["today"]], reverse=True)
    assert any("LIKE 'eng21%'" in sql for sql in sqls)
    assert_cheap(sqls)

    response, _ = get(staff_client, {"q": "ENG2100777"})  # a whole id: exact
    assert shown_ids(response) == sorted(rows["today"], reverse=True)


def test_search_escapes_wildcards(staff_client, rows):
    response, sqls = get(staff_client, {"q": "%ENG"})
    assert shown_ids(response) == []
    assert_cheap(sqls)


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_digits_also_match_member_ids_when_member_id_is_indexed(client, staff, insert_visits):
    client.force_login(staff)
    numeric = insert_visits([datetime(2026, 3, 31, 9, 0)], member_id="2024001")
    with connections["visitors"].cursor() as cursor:
        cursor.execute("CREATE INDEX idx_member_id ON visitor_count (member_id)")
    try:
        response, sqls = get(client, {"q": "2024"})
        assert shown_ids(response) == numeric
        assert any("LIKE '2024%'" in sql for sql in sqls)
        assert_cheap(sqls)
    finally:
        with connections["visitors"].cursor() as cursor:
            cursor.execute("DROP INDEX idx_member_id ON visitor_count")
            cursor.execute("DELETE FROM visitor_count")


# --- filters ---------------------------------------------------------------------------
def test_room_and_institution_filters(staff_client, rows, insert_visits):
    response, sqls = get(staff_client, {"room_code": "MAIN-HALL"})
    assert shown_ids(response) == sorted([*rows["yesterday"], *rows["today"]], reverse=True)
    assert_cheap(sqls)

    response, _ = get(
        staff_client, {"institution": "Faculty of Engineering", "room_code": "READ-1"}
    )
    assert shown_ids(response) == sorted(rows["old"], reverse=True)

    guest = insert_visits([datetime(2026, 3, 31, 9, 0)], institution=None, room_code=None)
    response, _ = get(staff_client, {"room_code": visitor_admin.NULL_CHOICE})
    assert shown_ids(response) == guest


def test_filter_choices_list_the_values_and_accept_older_ones(staff_client, rows):
    response, _ = get(staff_client)
    html = response.content.decode()
    assert "?room_code=READ-1" in html and "?institution=Faculty+of+Medicine" in html
    response, _ = get(staff_client, {"room_code": "GONE-ROOM"})
    assert shown_ids(response) == []
    assert "GONE-ROOM" in response.content.decode()


def test_filter_choices_come_from_the_newest_rows_only(rows, monkeypatch):
    newest = visitor_admin.recent_choices(using="visitors", window=3)
    assert newest == {
        "room_code": ["MAIN-HALL"],
        "institution": sorted(["Faculty of Engineering", "Faculty of Medicine"]),
    }
    monkeypatch.setattr(visitor_admin, "CHOICES_WINDOW", 2)
    assert visitor_admin.recent_choices(using="visitors")["institution"] == [
        "Faculty of Engineering"
    ]
    assert visitor_admin.recent_choices(using="visitors", window=10**6)["room_code"] == [
        "MAIN-HALL",
        "READ-1",
    ]


@pytest.mark.parametrize(
    ("label", "expected"),
    [("Today", "today"), ("Yesterday", "yesterday"), ("Past 7 days", "week")],
)
def test_date_filter_uses_range_predicates(staff_client, rows, label, expected):
    response, _ = get(staff_client)
    html = response.content.decode()
    link = re.search(rf'<a href="\?([^"]+)"[^>]*>{label}</a>', html)
    assert link, label
    response, sqls = get(staff_client, unescape(link.group(1)))
    wanted = {
        "today": rows["today"],
        "yesterday": rows["yesterday"],
        "week": [*rows["yesterday"], *rows["today"]],
    }[expected]
    assert shown_ids(response) == sorted(wanted, reverse=True)
    page = [sql for sql in sqls if "ORDER BY" in sql]
    assert page and all("`checkin_date` >=" in sql and "`checkin_date` <" in sql for sql in page)
    assert not any("DISTINCT" in sql and "checkin_date" in sql for sql in sqls)
    assert_cheap(sqls)


# --- counting --------------------------------------------------------------------------
def test_past_the_cap_the_whole_table_is_estimated_not_counted(staff_client, rows, monkeypatch):
    monkeypatch.setattr(visitor_admin, "COUNT_CAP", 2)
    response, sqls = get(staff_client)
    html = response.content.decode()
    assert "about" in html and "table estimate" in html
    assert any("information_schema.TABLES" in sql for sql in sqls)
    assert not any(re.search(r"COUNT\(\*\) (AS \S+ )?FROM `visitor_count`", sql) for sql in sqls)
    assert_cheap(sqls)

    response, _ = get(staff_client, {"room_code": "MAIN-HALL"})
    assert "more than 2 visitor check-ins" in response.content.decode()


def test_bounded_count_gives_up_after_its_time_limit(rows):
    slow = Visitor.objects.using("visitors").extra(where=["SLEEP(0.2) = 0"])
    assert visitor_admin.bounded_count(slow, cap=100, time_limit=0.1) is None
    fast = Visitor.objects.using("visitors").filter(room_code="MAIN-HALL")
    assert visitor_admin.bounded_count(fast, cap=100, time_limit=1.0) == 3
    assert visitor_admin.bounded_count(fast, cap=1, time_limit=1.0) == 2


def test_a_filter_too_slow_to_count_still_shows_its_page(staff_client, rows, monkeypatch):
    monkeypatch.setattr(visitor_admin, "bounded_count", lambda *args, **kwargs: None)
    response, _ = get(staff_client, {"room_code": "READ-1"})
    assert shown_ids(response) == sorted(rows["old"], reverse=True)
    assert "too many to count quickly" in response.content.decode()


# --- deep pages -----------------------------------------------------------------------
@pytest.fixture
def paged_table(insert_visits, monkeypatch) -> list[int]:
    """35 rows, 10 a page, and a count cap of 5: the whole table is "about N", 4 pages."""
    monkeypatch.setattr(visitor_admin, "COUNT_CAP", 5)
    monkeypatch.setattr(visitor_admin.VisitorAdmin, "list_per_page", 10)
    start = datetime(2026, 3, 31, 8, 0)
    return insert_visits([start + timedelta(minutes=m) for m in range(35)], room_code="R1")


def page_query(sqls: list[str]) -> str:
    return next(sql for sql in sqls if "ORDER BY" in sql and "COUNT(" not in sql.upper())


def test_every_page_of_the_whole_table_is_a_primary_key_range(staff_client, paged_table):
    newest_first = sorted(paged_table, reverse=True)
    for number in (1, 2, 3, 4):
        response, sqls = get(staff_client, {"p": number})
        assert shown_ids(response) == newest_first[(number - 1) * 10 : number * 10]
        sql = page_query(sqls)
        assert "OFFSET" not in sql.upper() and "`visitor_id` <=" in sql, sql
        assert_cheap(sqls)
    html = response.content.decode()
    assert f"{CHANGELIST}?p=1" in unescape(html) or "?p=1" in html  # links to every page
    # MariaDB reads it as a range of the primary key, whatever the page.
    select = re.sub(r"^SET STATEMENT \S+ FOR\s+", "", sql)
    with connections["visitors"].cursor() as cursor:
        cursor.execute(f"EXPLAIN {select}")
        columns = [column[0] for column in cursor.description]
        plan = dict(zip(columns, cursor.fetchone(), strict=True))
    assert plan["key"] == "PRIMARY" and plan["type"] == "range", plan


def test_id_pages_ascending_and_past_the_last(staff_client, paged_table):
    response, sqls = get(staff_client, {"o": "0", "p": 4})  # visitor_id ascending
    assert shown_ids(response) == sorted(paged_table)[30:]
    assert "`visitor_id` >=" in page_query(sqls)
    past = staff_client.get(CHANGELIST + "?p=5")  # Django's own answer to a page too far
    assert past.status_code == 302 and past["Location"].endswith("?e=1")


def test_with_gaps_in_the_ids_no_row_is_skipped_and_no_page_is_empty(staff_client, paged_table):
    gone = paged_table[3:17]  # a gap wider than a page
    Visitor.objects.using("visitors").filter(pk__in=gone).delete()
    seen: set[int] = set()
    for number in (1, 2, 3, 4):
        shown = shown_ids(get(staff_client, {"p": number})[0])
        assert shown, number
        seen.update(shown)
    assert seen == set(paged_table) - set(gone)


def test_a_filtered_list_pages_by_offset_within_its_bounded_count(
    staff_client, paged_table, monkeypatch
):
    monkeypatch.setattr(visitor_admin, "COUNT_CAP", 12)  # "more than 12": two pages
    response, sqls = get(staff_client, {"room_code": "R1", "p": 2})
    # The count stops at 13, so page 2 is rows 11-13 (OFFSET 10), as before id pages.
    assert shown_ids(response) == sorted(paged_table, reverse=True)[10:13]
    assert "`visitor_id` <=" not in page_query(sqls)


def test_only_the_id_column_sorts(staff_client, paged_table):
    html = get(staff_client)[0].content.decode()
    assert 'class="sortable' in html
    assert html.count('class="sortable') == 1  # visitor_id only


@pytest.mark.parametrize("alias", ["visitors", "visitors_sqlite"])
def test_table_estimate_on_each_vendor(alias):
    with connections[alias].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")
        cursor.execute(
            "INSERT INTO visitor_count (checkin_date) VALUES "
            "('2026-03-01 09:00:00'), ('2026-03-01 09:01:00'), ('2026-03-01 09:02:00')"
        )
    if alias == "visitors":
        with connections[alias].cursor() as cursor:
            cursor.execute("ANALYZE TABLE visitor_count")
    assert visitor_admin.estimated_table_rows(alias) >= 3


# --- odd legacy rows -------------------------------------------------------------------
def test_odd_rows_display_without_error(staff_client, insert_visits):
    long_name = "Raden Mas " + "Panjang " * 14 + "Sekali"
    ids = {
        "nulls": insert_visits(
            [datetime(2026, 3, 31, 9, 0)],
            member_id=None,
            member_name=None,
            institution=None,
            room_code=None,
        )[0],
        "long": insert_visits(
            [datetime(2026, 3, 31, 9, 30)],
            member_id="X" * 64,
            member_name=long_name[:128],
            institution="I" * 128,
        )[0],
        "far": insert_visits([datetime(9999, 12, 31, 23, 59, 59)])[0],
        "ancient": insert_visits([datetime(1000, 1, 1, 0, 0)])[0],
    }
    with connections["visitors"].cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        try:
            cursor.execute(
                "INSERT INTO visitor_count (member_id, checkin_date) VALUES "
                "('ZERO', '0000-00-00 00:00:00')"
            )
            ids["zero"] = cursor.lastrowid
            cursor.execute(
                "INSERT INTO visitor_count (member_id, checkin_date) VALUES "
                "('FEB31', '2026-02-31 10:00:00')"
            )
            ids["invalid"] = cursor.lastrowid
        finally:
            cursor.execute("SET SESSION sql_mode = DEFAULT")

    response, _ = get(staff_client)
    assert sorted(shown_ids(response)) == sorted(ids.values())
    html = response.content.decode()
    assert long_name[:57] + "..." in html and "X" * 64 in html
    for visitor_id in ids.values():
        detail = staff_client.get(detail_url(visitor_id))
        assert detail.status_code == 200, visitor_id
    assert long_name[:128] in staff_client.get(detail_url(ids["long"])).content.decode()
    for search in ("ZERO", str(ids["zero"]), "FEB31"):
        response, _ = get(staff_client, {"q": search})
        assert len(shown_ids(response)) == 1


def test_the_admin_only_reads_the_visitor_table(staff_client, rows):
    """The account may be read-only: every statement on the visitor DB is a SELECT."""
    visitor_id = rows["today"][0]
    with CaptureQueriesContext(connections["visitors"]) as queries:
        for url in (
            CHANGELIST,
            CHANGELIST + "?q=ENG&room_code=MAIN-HALL",
            CHANGELIST + "?institution=Faculty+of+Medicine",
            detail_url(visitor_id),
            reverse("admin:visitors_visitor_history", args=[visitor_id]),
        ):
            assert staff_client.get(url).status_code == 200, url
    assert queries.captured_queries
    assert_cheap([query["sql"] for query in queries.captured_queries])


def test_every_list_statement_has_a_server_time_limit(staff_client, rows):
    _, sqls = get(staff_client, {"q": "ENG", "room_code": "MAIN-HALL"})
    on_table = [sql for sql in sqls if "`visitor_count`" in sql]
    assert on_table and all(sql.startswith("SET STATEMENT max_statement_time=") for sql in on_table)
    assert "max_statement_time=3.000 FOR SELECT `visitor_count`.`visitor_id`" in "\n".join(sqls)


def test_a_list_that_runs_out_of_time_ends_with_a_message(staff_client, rows, monkeypatch):
    monkeypatch.setattr(visitor_admin, "LIST_TIME_LIMIT_S", 0.1)
    monkeypatch.setattr(
        visitor_admin.VisitorAdmin,
        "get_search_results",
        lambda self, request, queryset, term: (
            queryset.extra(where=["SLEEP(0.2) = 0"]) if term else queryset,
            False,
        ),
    )
    response = staff_client.get(CHANGELIST + "?q=slow")
    assert response.status_code == 302 and response["Location"] == CHANGELIST
    page = staff_client.get(CHANGELIST)
    assert "took longer than 0.1 s and was stopped" in page.content.decode()
    assert shown_ids(page)  # the connection is still usable


def test_time_limit_wraps_only_plain_selects():
    assert visitor_admin.limited_sql("SELECT 1", seconds=2, mariadb=True) == (
        "SET STATEMENT max_statement_time=2.000 FOR SELECT 1"
    )
    assert visitor_admin.limited_sql("SELECT 1", seconds=2, mariadb=False) == (
        "SELECT /*+ MAX_EXECUTION_TIME(2000) */ 1"
    )
    already = "SET STATEMENT max_statement_time=0.250 FOR SELECT 1"
    assert visitor_admin.limited_sql(already, seconds=2, mariadb=True) == already
    assert visitor_admin.limited_sql("SHOW INDEX FROM t", seconds=2, mariadb=True) == (
        "SHOW INDEX FROM t"
    )


@pytest.mark.parametrize("term", ["²", "9" * 5000, "12345678901"])
def test_odd_numeric_searches_are_member_prefixes_not_errors(staff_client, term):
    _response, sqls = get(staff_client, {"q": term})
    assert_cheap(sqls)
