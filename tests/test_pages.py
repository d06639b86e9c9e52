"""Pages outside the API: ``/docs/`` finds the docs, and an unknown path answers the site's own
404 page (HTML for browsers, JSON when JSON is asked for)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(databases=["default", "visitors"])

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_docs_with_a_trailing_slash_redirects_to_the_docs(client):
    response = client.get("/docs/")
    assert response.status_code == 301 and response["Location"] == "/docs"
    assert client.get("/docs/", follow=True).status_code == 200


@pytest.mark.parametrize("path", ["/nowhere", "/docs/nowhere", "/admin-typo", "/static/none.css"])
def test_an_unknown_page_is_the_sites_own_404(client, path):
    response = client.get(path, HTTP_ACCEPT=BROWSER)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "Page not found" in body and "Library visitors" in body
    assert 'href="/"' in body and 'href="/docs"' in body
    assert "Django" not in body  # not Django's plain page


@pytest.mark.parametrize("accept", ["application/json", "application/problem+json, */*"])
def test_a_client_asking_for_json_gets_json(client, accept):
    response = client.get("/nowhere", HTTP_ACCEPT=accept)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_api_paths_stay_json_whatever_is_accepted(client):
    response = client.get("/api/nowhere", HTTP_ACCEPT=BROWSER)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
