"""Freshdesk through a real HTTP server on 127.0.0.1 that behaves like Freshdesk's API v2."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.connectors.server import FakeService, Reply, Request
from tickets.models import Source, SyncRunStatus, Ticket
from tickets.services import source_configure, source_sync, source_test_connection

API_KEY = "fd-api-key-31337"


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeFreshdesk(FakeService):
    def __init__(self, per_page_cap: int = 100) -> None:
        super().__init__()
        self.per_page_cap = per_page_cap
        self.clock = 1_767_225_600
        self.tickets: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, list[dict[str, Any]]] = {}
        self.rate_limit_next: int | None = None
        self.fail_after_pages: int | None = None
        self.list_pages_served = 0

    def tick(self) -> int:
        self.clock += 60
        return self.clock

    def add(self, ticket_id: int, subject: str, description: str, requester: dict[str, Any], **fields: Any) -> None:
        now = self.tick()
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "subject": subject,
            "description": f"<div>{description}</div>",
            "description_text": description,
            "status": 2,
            "priority": 1,
            "source": 1,
            "type": None,
            "requester_id": requester["id"],
            "requester": requester,
            "company_id": None,
            "tags": [],
            "spam": False,
            "created_at": iso(now),
            "updated_at": iso(now),
            "stats": {"resolved_at": None, "closed_at": None, "first_responded_at": None},
            **fields,
        }
        self.conversations[ticket_id] = []

    def reply(self, ticket_id: int, body: str, *, incoming: bool, private: bool = False) -> None:
        now = self.tick()
        self.conversations[ticket_id].append(
            {
                "id": ticket_id * 100 + len(self.conversations[ticket_id]) + 1,
                "body": f"<div>{body}</div>",
                "body_text": body,
                "incoming": incoming,
                "private": private,
                "user_id": 7,
                "source": 0 if not private else 2,
                "created_at": iso(now),
                "updated_at": iso(now),
            }
        )
        self.tickets[ticket_id]["updated_at"] = iso(now)

    def route(self, request: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{API_KEY}:X".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Reply(
                401, {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}
            )
        if request.path == "/api/v2/tickets":
            return self._list(request)
        if request.path.startswith("/api/v2/tickets/") and request.path.endswith("/conversations"):
            return self._conversations(int(request.path.split("/")[4]), request)
        if request.path == "/api/v2/agents/me":
            return Reply(200, {"id": 7, "contact": {"name": "Ada Agent", "email": "ada@acme.test"}})
        return Reply(404, {"code": "not_found"})

    def _list(self, request: Request) -> Reply:
        if self.rate_limit_next is not None:
            retry_after, self.rate_limit_next = self.rate_limit_next, None
            return Reply(
                429, {"message": "rate limited"}, {"Retry-After": str(retry_after), "X-RateLimit-Remaining": "0"}
            )
        if self.fail_after_pages is not None and self.list_pages_served >= self.fail_after_pages:
            return Reply(502, {"message": "bad gateway"})
        query = request.query
        if "filter" in query:  # the spam and deleted views, newest change first
            assert (query["order_by"], query["order_type"]) == ("updated_at", "desc")
            flag = {"spam": "spam", "deleted": "deleted"}[query["filter"]]
            found = sorted(
                (t for t in self.tickets.values() if t.get(flag)), key=lambda t: t["updated_at"], reverse=True
            )
            return Reply(200, found[: int(query.get("per_page", 30))])
        assert (query["order_by"], query["order_type"]) == ("updated_at", "asc")
        assert {"requester", "description"} <= set(query["include"].split(","))
        since = query.get("updated_since", iso(self.clock - 30 * 86400))
        matching = sorted(
            (t for t in self.tickets.values() if t["updated_at"] >= since and not (t["spam"] or t.get("deleted"))),
            key=lambda t: (t["updated_at"], t["id"]),
        )
        per_page = min(int(query.get("per_page", 30)), self.per_page_cap)
        page = int(query.get("page", 1))
        if page > 300:
            return Reply(
                400, {"description": "Validation failed", "errors": [{"field": "page", "code": "invalid_value"}]}
            )
        chunk = matching[(page - 1) * per_page : page * per_page]
        self.list_pages_served += 1
        headers = {"X-RateLimit-Total": "700", "X-RateLimit-Remaining": "699"}
        if page * per_page < len(matching):
            headers["Link"] = f'<{self.base_url}/api/v2/tickets?{urlencode({**query, "page": page + 1})}>; rel="next"'
        tickets = [{k: v for k, v in t.items() if k != "requester" or "requester" in query["include"]} for t in chunk]
        return Reply(200, tickets, headers)

    def _conversations(self, ticket_id: int, request: Request) -> Reply:
        if ticket_id not in self.tickets:
            return Reply(404, {"code": "not_found"})
        items = self.conversations[ticket_id]
        per_page = 1  # one per page, so the Link header is followed
        page = int(request.query.get("page", 1))
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = (
                f'<{self.base_url}/api/v2/tickets/{ticket_id}/conversations?page={page + 1}&per_page=1>; rel="next"'
            )
        return Reply(200, items[(page - 1) * per_page : page * per_page], headers)


CARLA = {"id": 11, "name": "Carla Customer", "email": "Carla@Example.com", "mobile": None, "phone": None}
DAN = {"id": 12, "name": "Dan Doe", "email": "dan@example.com", "mobile": None, "phone": None}


@pytest.fixture
def freshdesk(serve: Callable[[FakeService], str], monkeypatch: pytest.MonkeyPatch) -> FakeFreshdesk:
    from tickets.connectors import freshdesk as connector

    monkeypatch.setattr(connector, "PER_PAGE", 2)  # small pages so three tickets span two of them
    fake = FakeFreshdesk()
    serve(fake)
    fake.add(
        1,
        "Login loop",
        "I keep getting logged out.",
        CARLA,
        company_id=70,
        company={"id": 70, "name": "Acme Corp"},
        tags=["login"],
        priority=3,
    )
    fake.reply(1, "Clear your cookies, please.", incoming=False)
    fake.reply(1, "That fixed it, thanks!", incoming=True)
    fake.add(2, "Invoice copy", "Can I get a copy of my invoice?", DAN, source=2)
    fake.reply(2, "Check with finance first", incoming=False, private=True)
    fake.add(
        3,
        "Phone: pricing",
        "Asked about pricing on the phone.",
        DAN,
        source=3,
        status=5,
        stats={"resolved_at": iso(fake.clock), "closed_at": iso(fake.clock)},
    )
    return fake


def _source(freshdesk: FakeFreshdesk, api_key: str = API_KEY) -> Source:
    source, _ = source_configure(
        name="Acme Freshdesk",
        kind="freshdesk",
        settings_update={"domain": "acme", "base_url": freshdesk.base_url},
        secrets_update={"api_key": api_key},
    )
    return source


@pytest.mark.django_db
def test_it_imports_tickets_with_descriptions_and_conversations(freshdesk: FakeFreshdesk, sleeps: list[float]) -> None:
    source = _source(freshdesk)

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED, run.failure
    assert (run.created, run.updated, run.unchanged) == (3, 0, 0)
    login = Ticket.objects.get(source=source, external_id="1")
    assert (login.status, login.priority, login.channel, login.tags) == ("open", "high", "email", ["login"])
    assert login.organization.name == "Acme Corp" and login.requester.email == "carla@example.com"
    assert [(m.author_role, m.body) for m in login.messages.all()] == [
        ("customer", "I keep getting logged out."),
        ("agent", "Clear your cookies, please."),
        ("customer", "That fixed it, thanks!"),
    ]
    invoice = Ticket.objects.get(source=source, external_id="2")
    assert invoice.channel == "web" and [m.is_public for m in invoice.messages.all()] == [True, False]
    pricing = Ticket.objects.get(source=source, external_id="3")
    assert (pricing.channel, pricing.status) == ("phone", "closed") and pricing.solved_at is not None
    assert login.url == f"{freshdesk.base_url}/a/tickets/1"
    first = next(r for r in freshdesk.requests if r.path == "/api/v2/tickets")
    assert first.query["updated_since"] == "2000-01-01T00:00:00Z"


@pytest.mark.django_db
def test_it_picks_up_changes_in_place_and_removes_spam_and_deleted_tickets(
    freshdesk: FakeFreshdesk, sleeps: list[float]
) -> None:
    source = _source(freshdesk)
    source_sync(source_id=source.pk, sleep=sleeps.append)
    quiet = source_sync(source_id=source.pk, sleep=sleeps.append)
    assert (quiet.created, quiet.updated, quiet.deleted) == (0, 0, 0)

    freshdesk.reply(2, "Here it is.", incoming=False)
    freshdesk.tickets[2]["status"] = 4
    freshdesk.tickets[1].update(spam=True, updated_at=iso(freshdesk.tick()))
    freshdesk.tickets[3].update(deleted=True, updated_at=iso(freshdesk.tick()))
    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert (run.created, run.updated, run.deleted) == (0, 1, 2)
    invoice = Ticket.objects.get(source=source, external_id="2")
    assert invoice.status == "solved" and invoice.messages.count() == 3
    assert list(Ticket.objects.filter(source=source).values_list("external_id", flat=True)) == ["2"]
    assert Source.objects.get(pk=source.pk).cursor == {"updated_since": freshdesk.tickets[2]["updated_at"]}


@pytest.mark.django_db
def test_a_crashed_sync_resumes_from_the_newest_change_it_stored(freshdesk: FakeFreshdesk, sleeps: list[float]) -> None:
    source = _source(freshdesk)
    freshdesk.fail_after_pages = 1

    crashed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert crashed.status == SyncRunStatus.FAILED and "HTTP 502" in crashed.failure
    assert Ticket.objects.filter(source=source).count() == 2
    saved = Source.objects.get(pk=source.pk).cursor["updated_since"]
    assert saved == freshdesk.tickets[2]["updated_at"]

    freshdesk.fail_after_pages = None
    freshdesk.requests.clear()
    resumed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert resumed.status == SyncRunStatus.SUCCEEDED
    assert freshdesk.requests[0].query["updated_since"] == saved
    assert (resumed.created, resumed.updated) == (1, 0)
    assert Ticket.objects.filter(source=source).count() == 3


@pytest.mark.django_db
def test_a_rejected_api_key_says_so(freshdesk: FakeFreshdesk, sleeps: list[float]) -> None:
    run = source_sync(source_id=_source(freshdesk, api_key="nope").pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.FAILED and "the API key was rejected" in run.failure


@pytest.mark.django_db
def test_a_429_is_retried_after_retry_after(freshdesk: FakeFreshdesk, sleeps: list[float]) -> None:
    freshdesk.rate_limit_next = 30

    run = source_sync(source_id=_source(freshdesk).pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED and run.created == 3
    assert sleeps == [30.0]


@pytest.mark.django_db
def test_the_connection_test_names_the_agent(freshdesk: FakeFreshdesk, sleeps: list[float]) -> None:
    assert (
        source_test_connection(source=_source(freshdesk), sleep=sleeps.append)
        == "Signed in as Ada Agent; tickets are readable"
    )
