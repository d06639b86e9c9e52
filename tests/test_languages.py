"""English and Indonesian (visitors/languages.py, the templates, the message files): pages,
the admin's Reports page and the API's error messages follow Accept-Language, with
LANGUAGE_CODE as the default; the API's answers themselves do not vary by language."""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from tests.conftest import ALL_DATABASES
from visitors.queries import guarded

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

LOCALE = Path(__file__).resolve().parents[1] / "visitors" / "locale" / "id" / "LC_MESSAGES"
INDONESIAN = {"HTTP_ACCEPT_LANGUAGE": "id-ID,id;q=0.9,en;q=0.5"}


def test_the_compiled_message_files_are_in_the_tree_and_hold_every_translation():
    for domain in ("django", "djangojs"):
        with (LOCALE / f"{domain}.mo").open("rb") as compiled:
            catalog = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
        source = (LOCALE / f"{domain}.po").read_text(encoding="utf-8")
        entries = source.count("\nmsgid ") - 1  # but the header
        assert entries > 25 and len([k for k in catalog if k]) == entries, domain
        assert 'msgstr ""\n\n' not in source.split("\n\n", 1)[1] + "\n", "untranslated"


@pytest.mark.parametrize("path", ["/", "/kiosk"])
def test_pages_follow_accept_language(client, path):
    english = client.get(path).content.decode()
    assert '<html lang="en"' in english and "Visitors today" in english
    page = client.get(path, **INDONESIAN)
    indonesian = page.content.decode()
    assert '<html lang="id"' in indonesian
    assert "Pengunjung hari ini" in indonesian and "Visitors today" not in indonesian
    assert "Hari ini per jam" in indonesian and "Waktu tersibuk" in indonesian
    assert "Accept-Language" in page["Vary"]


def test_language_code_is_the_default(client, settings):
    settings.LANGUAGE_CODE = "id"
    assert "Pengunjung hari ini" in client.get("/").content.decode()
    assert "Visitors today" in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_javascript_catalog_translates_the_dashboards_words(client):
    catalog = client.get(reverse("javascript-catalog"), **INDONESIAN).content.decode()
    assert "7 hari terakhir" in catalog and "Langsung" in catalog
    assert "7 hari terakhir" not in client.get(reverse("javascript-catalog")).content.decode()


def test_api_errors_in_indonesian(client, db):
    body = client.get("/api/visitors/report?from=kemarin&to=2026-01-01", **INDONESIAN).json()
    assert body["detail"] == "'from' bukan tanggal YYYY-MM-DD: 'kemarin'."
    assert body["parameter"] == "from"
    english = client.get("/api/visitors/report?from=kemarin&to=2026-01-01").json()
    assert english["detail"] == "'from' is not a date YYYY-MM-DD: 'kemarin'."
    body = client.get("/api/visitors/report?from=2026-02-01&to=2026-01-01", **INDONESIAN).json()
    assert body["detail"] == "'from' lebih lambat dari 'to'."
    assert client.get("/api/visitors/nope", **INDONESIAN).json()["detail"] == "Tidak ditemukan."
    guarded.breaker.record_failure(OSError("MySQL is down"))
    body = client.get("/api/visitors/today", **INDONESIAN).json()
    assert body["detail"].startswith("Basis data pengunjung tidak dapat dihubungi")


def test_api_answers_do_not_vary_by_language(client, insert_visits):
    client.get("/api/visitors/today")  # computed and cached
    english = client.get("/api/visitors/today")
    indonesian = client.get("/api/visitors/today", **INDONESIAN)
    assert english.content == indonesian.content
    assert "Accept-Language" not in english.get("Vary", "")


def test_the_admin_reports_page_in_indonesian(client, insert_visits):
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(user)
    page = client.get(
        reverse("admin:visitors_reports"),
        {"from": "2026-01-01", "to": "2026-01-02", "by": "day"},
        **INDONESIAN,
    ).content.decode()
    assert "Unduh CSV" in page and "Periode" in page and "Kunjungan" in page
    assert "<td>1 Jan. 2026</td>" in page  # the Indonesian date format
