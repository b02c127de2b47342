"""The REST API fuzzed from its own OpenAPI schema: no input makes it fail or answer off-schema.

Schemathesis generates requests for every operation of the schema drf-spectacular builds from the
code (valid and invalid bodies, parameters and headers) and sends them to the Django WSGI app in
process, as an admin and as a viewer. Each answer must not be a 5xx, must use a status code the
schema lists for the operation, and must match the schema of that status. Operations with an id in
the path are also called with the id of a stored row, so the success answers are checked too.
Examples are derandomized: the same requests every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from insights.models import Theme, ThemeStatus
from roadmap.models import BacklogItem
from roadmap.services import escalation_raise, theme_link_create
from tickets.models import Source, SourceKind, SyncRun, SyncTrigger
from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records, source_webhook_secret_rotate

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 30
SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
OPERATIONS = sorted(
    (result.ok() for result in SCHEMA.get_all_operations()), key=lambda operation: operation.label
)


@pytest.fixture(scope="module")
def wsgi_app() -> Any:
    return get_wsgi_application()


@pytest.fixture(autouse=True)
def _keep_the_test_transaction() -> Iterator[None]:
    """Django closes a connection in a transaction at the end of a request; the test client avoids
    it the same way, or each request would end the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    cache.clear()  # throttle counts
    yield
    cache.clear()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def stored_ids(admin_user: Any, support_lead: Any, source: Source) -> dict[str, Any]:
    """A few rows of every kind an operation can name in its path; path parameter -> value."""
    ingest_records(
        source=source,
        records=[
            ticket_record_from_dict(
                {"external_id": f"F-{n}", "subject": f"Export stops {n}", "body": "The CSV export stops early.",
                 "created_at": f"2026-03-0{n}T10:00:00Z", "requester_email": f"c{n}@example.com",
                 "organization": "Acme", "arr": 1200, "tags": ["export"]}
            )
            for n in range(1, 4)
        ],
    )
    ticket = source.tickets.order_by("pk").first()
    theme = Theme.objects.create(name="CSV export limit", status=ThemeStatus.ACTIVE, keywords=["csv"])
    item = BacklogItem.objects.create(title="Stream CSV exports", status="planned")
    theme_link_create(item=item, theme=theme, user=admin_user)
    escalation = escalation_raise(user=support_lead, ticket=ticket, severity="high", note="Acme cannot export.")
    run = SyncRun.objects.create(source=source, trigger=SyncTrigger.UPLOAD, file_name="tickets.csv")
    hooked = Source.objects.create(name="pushed", kind=SourceKind.WEBHOOK)
    source_webhook_secret_rotate(source=hooked)
    return {"ticket_id": ticket.pk, "item_id": item.pk, "theme_id": theme.pk, "escalation_id": escalation.pk,
            "sync_run_id": run.pk, "source": hooked.name}


def _token(user: Any) -> str:
    return str(Token.objects.get_or_create(user=user)[0].key)


@pytest.mark.parametrize("persona", ["admin_user", "viewer"])
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_no_request_makes_the_api_fail_or_leave_its_schema(
    request: pytest.FixtureRequest, wsgi_app: Any, stored_ids: dict[str, Any], operation: Any, persona: str
) -> None:
    headers = {"Authorization": f"Token {_token(request.getfixturevalue(persona))}"}

    @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(app=wsgi_app, headers=headers, checks=CHECKS)
        known = {name: stored_ids[name] for name in case.path_parameters or {} if name in stored_ids}
        if known:
            case.path_parameters = {**case.path_parameters, **known}
            case.call_and_validate(app=wsgi_app, headers=headers, checks=CHECKS)

    fuzz()


# What the fuzzing found, pinned as plain cases: each was a 500 on PostgreSQL or SQLite.


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"created_before": "6632-06-28T23:14:20.223+23:16"}, 200),  # PostgreSQL takes offsets up to 15:59
        ({"created_after": "9999-12-31T23:59:59-23:00"}, 400),  # past year 9999 once in UTC
        ({"organization": str(10**30)}, 400),
        ({"theme": str(10**30)}, 400),
    ],
)
def test_ticket_filters_out_of_the_databases_range_are_answered_not_crashed(
    admin_user: Any, client_for: Any, query: dict[str, str], status: int
) -> None:
    response = client_for(admin_user).get("/api/tickets/", query)

    assert response.status_code == status, response.content


def test_unlinking_with_ids_past_the_integer_range_is_404(admin_user: Any, client_for: Any, stored_ids: dict[str, Any]) -> None:
    response = client_for(admin_user).delete(f"/api/backlog-items/{stored_ids['item_id']}/links/{10**26}/")

    assert response.status_code == 404
