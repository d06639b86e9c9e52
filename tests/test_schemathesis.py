"""Schemathesis against ``/docs/json``: every documented operation, generated requests,
all of its checks (server errors, undocumented status codes, response schemas, methods the
spec does not allow...), against the WSGI application in this process.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import checks

from visitors import cache
from visitors.endpoints import CATALOGUE, REPORT_PATH
from visitors.queries import guarded

pytestmark = pytest.mark.django_db(databases=["default", "visitors"])


@pytest.fixture
def wsgi_app():
    # As Django's test client does: keep the test's transaction open between requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# Loading the schema needs no database; the generated requests run inside each test's.
schema = schemathesis.openapi.from_wsgi("/docs/json", get_wsgi_application())


@pytest.fixture
def api_schema():
    return schema


@pytest.fixture(autouse=True)
def _fresh_state(wsgi_app, db):
    cache.breaker.reset()
    guarded.breaker.reset()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case):
    # The report's rules across parameters (from <= to, at most 20 years) are not expressible
    # in OpenAPI: a schema-valid request may get its documented 400 there.
    excluded = [checks.positive_data_acceptance] if case.path == REPORT_PATH else []
    case.call_and_validate(excluded_checks=excluded)


def test_every_operation_is_exercised(api_schema):
    operations = {
        f"{op.method.upper()} {op.path}" for op in (r.ok() for r in api_schema.get_all_operations())
    }
    paths = [endpoint.url_path for endpoint in CATALOGUE]
    assert {f"GET {path}" for path in [*paths, REPORT_PATH]} <= operations


def test_the_schema_documents_every_status_the_api_returns(api_schema):
    for path in [endpoint.url_path for endpoint in CATALOGUE]:
        responses = api_schema.raw_schema["paths"][path]["get"]["responses"]
        assert {"200", "304", "400", "405", "406", "429", "503"} <= set(responses)
    report = api_schema.raw_schema["paths"][REPORT_PATH]["get"]
    assert {"200", "304", "400", "405", "406", "429", "503"} <= set(report["responses"])
    assert set(report["responses"]["200"]["content"]) == {
        "application/json",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert [p["name"] for p in report["parameters"]] == ["by", "format", "from", "to"]


BAD_REQUESTS = {
    "disallowed-host": {"headers": {"Host": "evil.example"}},
    "too-many-parameters": {"query": {f"p{i}": "1" for i in range(1001)}},
}


@pytest.mark.parametrize("bad", BAD_REQUESTS)
@pytest.mark.parametrize("path", [*(endpoint.url_path for endpoint in CATALOGUE), REPORT_PATH])
def test_djangos_own_400s_are_documented(api_schema, path, bad):
    """A bad Host or over 1000 query parameters: Django answers 400 before any view, with
    a status and a body the schema documents."""
    case = api_schema[path]["GET"].Case(**BAD_REQUESTS[bad])
    response = case.call()
    assert response.status_code == 400
    case.validate_response(
        response,
        checks=[
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
        ],
    )
