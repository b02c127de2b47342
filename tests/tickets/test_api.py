"""The REST API of the ticket store, through HTTP: reading, bulk creation, tokens, the schema."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from drf_spectacular.validation import validate_schema

from tickets.api.common import TICKET_MAPPING_EXAMPLE
from tickets.models import Message, Organization, Source, SourceKind, SyncRun, SyncRunStatus, Ticket
from tickets.records import ticket_record_from_dict
from tickets.services import MAX_TICKETS_PER_REQUEST, ingest_records

pytestmark = pytest.mark.django_db

LIST, BULK = "/api/tickets/", "/api/tickets/bulk/"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> Iterator[None]:
    cache.clear()  # the token endpoint's throttle counts in the cache, which outlives a test
    yield
    cache.clear()


def mapping(external_id: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_id": external_id,
        "subject": f"Question {external_id}",
        "body": "My card is declined abroad",
        "created_at": START.isoformat(),
        "requester_email": "mia@example.com",
        "organization": "Acme",
        "plan": "pro",
        "channel": "email",
        "status": "open",
    }
    data.update(overrides)
    return data


def seed(source: Source, *mappings: dict[str, Any]) -> None:
    ingest_records(source=source, records=[ticket_record_from_dict(m) for m in mappings])


def seed_hours(source: Source, count: int, prefix: str = "T") -> None:
    """``count`` tickets one hour apart, each with its own requester and organization."""
    seed(
        source,
        *(
            mapping(
                f"{prefix}-{i}",
                created_at=(START + timedelta(hours=i)).isoformat(),
                requester_email=f"{prefix.lower()}{i}@example.com",
                organization=f"Org {prefix}{i}",
            )
            for i in range(count)
        ),
    )


def post_json(client: Client, url: str, body: Any, **headers: str) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def external_ids(response: Any) -> list[str]:
    return [row["external_id"] for row in response.json()["results"]]


# --- permissions --------------------------------------------------------------------------------------

PERSONAS = ["admin_user", "support_lead", "product_manager", "viewer", "outsider"]
READERS = {"admin_user", "support_lead", "product_manager", "viewer"}
IMPORTERS = {"admin_user"}


def _call(client: Client, endpoint: str, ticket_id: int) -> Any:
    if endpoint == "list":
        return client.get(LIST)
    if endpoint == "detail":
        return client.get(f"/api/tickets/{ticket_id}/")
    if endpoint == "bulk":
        return post_json(client, BULK, {"source": "helpdesk", "tickets": [mapping("NEW-1")]})
    return client.post("/api/sources/helpdesk/webhook-secret/")


@pytest.mark.parametrize("endpoint", ["list", "detail", "bulk", "webhook-secret"])
def test_anonymous_callers_get_401_everywhere(source: Source, endpoint: str) -> None:
    seed(source, mapping("T-1"))
    response = _call(Client(), endpoint, Ticket.objects.get().pk)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    ("endpoint", "allowed"),
    [("list", READERS), ("detail", READERS), ("bulk", IMPORTERS), ("webhook-secret", IMPORTERS)],
)
def test_each_role_gets_exactly_its_endpoints(
    request: pytest.FixtureRequest,
    client_for: Callable[[Any], Client],
    source: Source,
    persona: str,
    endpoint: str,
    allowed: set[str],
) -> None:
    seed(source, mapping("T-1"))
    client = client_for(request.getfixturevalue(persona))
    response = _call(client, endpoint, Ticket.objects.get().pk)
    assert response.status_code == (200 if persona in allowed else 403), response.content


# --- reading -------------------------------------------------------------------------------------------


def test_the_list_is_newest_first_with_requester_organization_and_source(
    client_for: Callable[[Any], Client], viewer: Any, source: Source
) -> None:
    seed_hours(source, 3)
    response = client_for(viewer).get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert "count" not in body and body["next"] is None
    assert external_ids(response) == ["T-2", "T-1", "T-0"]
    first = body["results"][0]
    assert first["source"] == {"id": source.pk, "name": "helpdesk", "kind": "upload"}
    assert first["requester"]["email"] == "t2@example.com"
    assert first["organization"]["name"] == "Org T2" and first["organization"]["plan"] == "pro"
    assert first["channel"] == "email" and first["status"] == "open"


def test_filters_narrow_the_list(client_for: Callable[[Any], Client], viewer: Any, source: Source) -> None:
    other = Source.objects.create(name="chatbox", kind=SourceKind.INTERCOM)
    seed(
        source,
        mapping("A", subject="Login loop on Safari", tags="auth;safari", requester_email="ann@example.com"),
        mapping("B", channel="chat", status="solved", created_at="2026-03-05T10:00:00Z", organization="Beta"),
        mapping("C", tags=["billing"], created_at="2026-02-01T10:00:00Z"),
    )
    seed(other, mapping("D", subject="Login again"))
    acme = Organization.objects.get(source=source, name="Acme")
    client = client_for(viewer)

    def ids(**query: Any) -> list[str]:
        response = client.get(LIST, query)
        assert response.status_code == 200, response.content
        return sorted(external_ids(response))

    assert ids(source=other.pk) == ["D"]
    assert ids(source="helpdesk") == ["A", "B", "C"]
    assert ids(channel="chat") == ["B"]
    assert ids(status="solved") == ["B"]
    assert ids(organization=acme.pk) == ["A", "C"]
    assert ids(requester_email="Ann@Example.com") == ["A"]
    assert ids(created_after="2026-03-02") == ["B"]
    assert ids(created_before="2026-03-01T00:00:00Z") == ["C"]
    assert ids(tag="safari") == ["A"]
    assert ids(tag="saf") == []
    assert ids(q="login") == ["A", "D"]
    assert ids(q="login", source="helpdesk") == ["A"]


def test_an_invalid_filter_is_a_400_naming_it(client_for: Callable[[Any], Client], viewer: Any) -> None:
    response = client_for(viewer).get(LIST, {"source": "no-such-source", "created_after": "yesterday"})
    assert response.status_code == 400
    assert set(response.json()) == {"source", "created_after"}


def test_cursor_pages_walk_every_ticket_once_in_order(
    client_for: Callable[[Any], Client], viewer: Any, source: Source
) -> None:
    # Equal created_at on some tickets: the cursor must still neither skip nor repeat them.
    seed_hours(source, 5)
    seed(source, *(mapping(f"SAME-{i}", created_at=(START + timedelta(hours=2)).isoformat()) for i in range(3)))
    client = client_for(viewer)

    seen: list[str] = []
    url: str | None = f"{LIST}?page_size=3"
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 3
        seen += [row["external_id"] for row in body["results"]]
        url = body["next"]

    expected = list(Ticket.objects.order_by("-created_at", "-id").values_list("external_id", flat=True))
    assert seen == expected and len(seen) == 8


def test_listing_costs_the_same_queries_for_3_or_40_tickets(
    client_for: Callable[[Any], Client], viewer: Any, source: Source
) -> None:
    client = client_for(viewer)
    seed_hours(source, 3, prefix="A")
    client.get(LIST)  # warm the session and permission caches of this client

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(LIST, {"page_size": 100}).status_code == 200
        return len(context.captured_queries)

    few = queries()
    seed_hours(source, 37, prefix="B")
    assert queries() == few
    assert few <= 5  # session, user, permissions, and one query for the page


def test_a_ticket_comes_with_its_conversation(
    client_for: Callable[[Any], Client], viewer: Any, source: Source
) -> None:
    seed(
        source,
        mapping(
            "T-1",
            messages=[
                {"body": "Card declined", "author_role": "customer"},
                {"body": "Which country?", "author_role": "agent", "author_name": "Sam"},
            ],
        ),
    )
    ticket = Ticket.objects.get()
    client = client_for(viewer)
    with CaptureQueriesContext(connection) as context:
        response = client.get(f"/api/tickets/{ticket.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert [(m["author_role"], m["body"]) for m in body["messages"]] == [
        ("customer", "Card declined"),
        ("agent", "Which country?"),
    ]
    assert body["requester"]["email"] == "mia@example.com" and body["organization"]["name"] == "Acme"
    ticket_queries = [q for q in context.captured_queries if "tickets_" in q["sql"]]
    assert len(ticket_queries) == 2  # the ticket with its relations, then its messages


def test_an_unknown_ticket_is_404(client_for: Callable[[Any], Client], viewer: Any) -> None:
    assert client_for(viewer).get("/api/tickets/999999/").status_code == 404


# --- bulk creation ---------------------------------------------------------------------------------------


def test_bulk_keeps_the_good_tickets_and_reports_each_bad_one(
    client_for: Callable[[Any], Client], admin_user: Any, source: Source
) -> None:
    tickets = [
        mapping("T-1"),
        mapping("T-2", created_at="last tuesday"),
        mapping("T-3", messages=[{"body": "hi"}, {"body": "hello", "author_role": "agent"}]),
        "not an object",
        mapping("", body="no id"),
        mapping("T-4", channel="chat"),
    ]
    response = post_json(client_for(admin_user), BULK, {"source": "helpdesk", "tickets": tickets})

    assert response.status_code == 207
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (3, 0, 0)
    assert [(r["index"], r["external_id"]) for r in body["rejected"]] == [(1, "T-2"), (3, None), (4, None)]
    assert "created_at 'last tuesday' is not a date" in body["rejected"][0]["reason"]
    assert body["rejected"][1]["reason"] == "a ticket must be a JSON object"
    assert body["rejected"][2]["reason"] == "external_id is required"
    assert sorted(Ticket.objects.values_list("external_id", flat=True)) == ["T-1", "T-3", "T-4"]
    assert Message.objects.filter(ticket__external_id="T-3").count() == 2

    run = SyncRun.objects.get(pk=body["sync_run"])
    assert (run.trigger, run.status, run.started_by) == ("api", SyncRunStatus.PARTIAL, admin_user)
    assert (run.created, run.rejected, run.fetched) == (3, 3, 6)
    assert run.errors[0]["index"] == 1


def test_bulk_sent_twice_changes_nothing_the_second_time(
    client_for: Callable[[Any], Client], admin_user: Any, source: Source
) -> None:
    client = client_for(admin_user)
    payload = {"source": "helpdesk", "tickets": [mapping("T-1"), mapping("T-2")]}
    first = post_json(client, BULK, payload)
    second = post_json(client, BULK, payload)
    payload["tickets"][0]["status"] = "solved"
    third = post_json(client, BULK, payload)

    assert first.status_code == second.status_code == third.status_code == 200
    assert first.json()["created"] == 2
    assert (second.json()["created"], second.json()["unchanged"]) == (0, 2)
    assert (third.json()["updated"], third.json()["unchanged"]) == (1, 1)
    assert Ticket.objects.count() == 2


def test_bulk_into_a_new_name_creates_an_api_source(client_for: Callable[[Any], Client], admin_user: Any) -> None:
    response = post_json(client_for(admin_user), BULK, {"source": "crm-export", "tickets": [mapping("T-1")]})
    assert response.status_code == 200 and response.json()["source"] == "crm-export"
    assert Source.objects.get(name="crm-export").kind == SourceKind.API


def test_bulk_refuses_a_disabled_source(
    client_for: Callable[[Any], Client], admin_user: Any, source: Source
) -> None:
    source.enabled = False
    source.save(update_fields=["enabled"])
    response = post_json(client_for(admin_user), BULK, {"source": "helpdesk", "tickets": [mapping("T-1")]})
    assert response.status_code == 409 and "disabled" in response.json()["detail"]
    assert not Ticket.objects.exists() and not SyncRun.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"source": "helpdesk", "tickets": []}, "tickets", "may not be empty"),
        ({"source": "helpdesk", "tickets": [{}] * (MAX_TICKETS_PER_REQUEST + 1)}, "tickets", "at most 1,000"),
        ({"tickets": [{}]}, "source", "required"),
        ({"source": "helpdesk", "tickets": {"external_id": "T-1"}}, "tickets", "list"),
    ],
)
def test_bulk_refuses_a_malformed_request_as_a_whole(
    client_for: Callable[[Any], Client], admin_user: Any, body: Any, field: str, message: str
) -> None:
    response = post_json(client_for(admin_user), BULK, body)
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not SyncRun.objects.exists()


def test_bulk_refuses_a_body_over_the_limit_before_parsing_it(
    client_for: Callable[[Any], Client], admin_user: Any, settings: Any
) -> None:
    settings.THREADLINE_API_MAX_BODY_BYTES = 1000
    response = post_json(
        client_for(admin_user), BULK, {"source": "helpdesk", "tickets": [mapping("T-1", body="x" * 2000)]}
    )
    assert response.status_code == 413 and "the limit is 1,000" in response.json()["detail"]


def test_bulk_needs_a_json_body(client_for: Callable[[Any], Client], admin_user: Any) -> None:
    response = client_for(admin_user).post(BULK, {"source": "helpdesk"})  # multipart form
    assert response.status_code == 415


# --- tokens --------------------------------------------------------------------------------------------


def test_a_token_from_username_and_password_authenticates_api_calls(viewer: Any, source: Source) -> None:
    from tests.conftest import PASSWORD

    seed(source, mapping("T-1"))
    client = Client()
    response = post_json(client, "/api/auth/token/", {"username": viewer.username, "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["token"]

    again = post_json(client, "/api/auth/token/", {"username": viewer.username, "password": PASSWORD})
    assert again.json()["token"] == token
    listed = client.get(LIST, headers={"Authorization": f"Token {token}"})
    assert listed.status_code == 200 and external_ids(listed) == ["T-1"]


def test_a_wrong_password_gets_no_token(viewer: Any) -> None:
    response = post_json(Client(), "/api/auth/token/", {"username": viewer.username, "password": "guess"})
    assert response.status_code == 400 and "token" not in response.json()


def test_an_unknown_token_is_401(viewer: Any) -> None:
    response = Client().get(LIST, headers={"Authorization": "Token 0123456789abcdef0123456789abcdef01234567"})
    assert response.status_code == 401


def test_a_token_does_not_widen_a_role(outsider: Any) -> None:
    from tests.conftest import PASSWORD

    token = post_json(Client(), "/api/auth/token/", {"username": outsider.username, "password": PASSWORD})
    response = Client().get(LIST, headers={"Authorization": f"Token {token.json()['token']}"})
    assert response.status_code == 403


# --- OpenAPI ---------------------------------------------------------------------------------------------


def test_the_schema_is_valid_openapi_3_and_documents_every_endpoint(client_for: Any, viewer: Any) -> None:
    response = client_for(viewer).get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    for path in ["/api/tickets/", "/api/tickets/{ticket_id}/", "/api/tickets/bulk/", "/api/auth/token/",
                 "/api/webhooks/{source}/", "/api/sources/{source}/webhook-secret/"]:
        assert path in schema["paths"], path
    assert "HMAC-SHA256" in schema["paths"]["/api/webhooks/{source}/"]["post"]["description"]


def test_the_schema_generates_without_warnings(tmp_path: Path) -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_the_documented_mapping_example_is_a_valid_ticket() -> None:
    assert ticket_record_from_dict(TICKET_MAPPING_EXAMPLE).external_id == "T-1042"


def test_the_docs_page_loads_everything_from_our_own_static_files(client_for: Any, viewer: Any) -> None:
    response = client_for(viewer).get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["']([^"']+)["']""", html)
    assert len(sources) >= 3  # the Swagger UI bundle, its preset and its stylesheet
    assert not re.search(r"https?://|//[a-z]", html, re.IGNORECASE), "the docs page must work offline"
    # The start-up script comes from the docs view itself (no inline script, for the CSP).
    assert "/api/docs/?script=" in sources
    for url in (url for url in sources if url != "/api/docs/?script="):
        assert url.startswith("/static/"), url
        assert finders.find(url.removeprefix("/static/")), f"{url} is not among our static files"
