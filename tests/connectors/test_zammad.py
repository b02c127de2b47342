"""Zammad through a real HTTP server on 127.0.0.1 that behaves like Zammad's REST API."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.connectors.server import FakeService, Reply, Request
from tickets.models import Source, SyncRunStatus, Ticket
from tickets.services import source_configure, source_sync, source_test_connection

TOKEN = "zammad-token-abc"


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeZammad(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.clock = 1_767_225_600
        self.tickets: dict[int, dict[str, Any]] = {}
        self.articles: dict[int, list[dict[str, Any]]] = {}
        self.rate_limit_next: int | None = None
        self.fail_after_pages: int | None = None
        self.pages_served = 0

    def tick(self) -> int:
        self.clock += 60
        return self.clock

    def add(self, ticket_id: int, title: str, customer: tuple[int, str, str], body: str, **fields: Any) -> None:
        now = self.tick()
        first_type = fields.pop("_type", "email")
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "number": str(31000 + ticket_id),
            "title": title,
            "state": "new",
            "state_id": 1,
            "priority": "2 normal",
            "priority_id": 2,
            "customer_id": customer[0],
            "customer": customer[2],
            "organization_id": None,
            "organization": None,
            "group": "Users",
            "created_at": iso(now),
            "updated_at": iso(now),
            "close_at": None,
            **fields,
        }
        self.articles[ticket_id] = []
        self.article(ticket_id, "Customer", f"{customer[1]} <{customer[2]}>", body, type=first_type)

    def article(
        self,
        ticket_id: int,
        sender: str,
        sender_from: str,
        body: str,
        *,
        type: str = "email",
        internal: bool = False,
        html: bool = False,
    ) -> None:
        now = self.tick()
        items = self.articles[ticket_id]
        items.append(
            {
                "id": ticket_id * 10 + len(items) + 1,
                "ticket_id": ticket_id,
                "from": sender_from,
                "body": body,
                "content_type": "text/html" if html else "text/plain",
                "sender": sender,
                "type": type,
                "internal": internal,
                "created_at": iso(now),
            }
        )
        self.tickets[ticket_id]["updated_at"] = iso(now)

    def route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Token token={TOKEN}":
            return Reply(401, {"error": "Invalid token!"})
        if request.path == "/api/v1/tickets/search":
            return self._search(request)
        match = re.fullmatch(r"/api/v1/ticket_articles/by_ticket/(\d+)", request.path)
        if match:
            ticket_id = int(match.group(1))
            if ticket_id not in self.tickets:
                return Reply(404, {"error": "Not Found"})
            return Reply(200, self.articles[ticket_id])
        if request.path == "/api/v1/users/me":
            return Reply(200, {"id": 3, "firstname": "Ada", "lastname": "Agent", "email": "ada@acme.test"})
        return Reply(404, {"error": "Not Found"})

    def _search(self, request: Request) -> Reply:
        if self.rate_limit_next is not None:
            wait, self.rate_limit_next = self.rate_limit_next, None
            return Reply(429, {"error": "Too Many Requests"}, {"Retry-After": str(wait)})
        if self.fail_after_pages is not None and self.pages_served >= self.fail_after_pages:
            return Reply(500, {"error": "Internal Server Error"})
        query = request.query["query"]
        if query == "*":
            return Reply(200, {"tickets": list(self.tickets), "tickets_count": len(self.tickets), "assets": {}})
        bound = re.fullmatch(r"updated_at:\[(\S+) TO \*\]", query)
        assert bound is not None, query
        since = bound.group(1)
        assert (request.query["sort_by"], request.query["order_by"]) == ("updated_at", "asc")
        assert request.query["expand"] == "true"
        matching = sorted(
            (t for t in self.tickets.values() if t["updated_at"][:19] >= since[:19]),
            key=lambda t: (t["updated_at"], t["id"]),
        )
        per_page, page = int(request.query["per_page"]), int(request.query["page"])
        self.pages_served += 1
        return Reply(200, matching[(page - 1) * per_page : page * per_page])


CARLA = (21, "Carla Customer", "carla@example.com")
DAN = (22, "Dan Doe", "dan@example.com")


@pytest.fixture
def zammad(serve: Callable[[FakeService], str], monkeypatch: pytest.MonkeyPatch) -> FakeZammad:
    from tickets.connectors import zammad as connector

    monkeypatch.setattr(connector, "PER_PAGE", 2)
    fake = FakeZammad()
    serve(fake)
    fake.add(1, "VPN drops", CARLA, "The VPN drops every hour.", organization_id=5, organization="Acme Corp")
    fake.article(1, "Agent", "Ada Agent <support@acme.test>", "<p>Which <b>client</b> version?</p>", html=True)
    fake.article(1, "Agent", "Ada Agent", "Escalate to network team", type="note", internal=True)
    fake.add(2, "Phone: new laptop", DAN, "Needs a new laptop.", _type="phone", state="open", priority="3 high")
    fake.add(3, "Old one", DAN, "Printer jam.", state="closed", close_at=iso(fake.clock))
    return fake


def _source(zammad: FakeZammad, token: str = TOKEN) -> Source:
    source, _ = source_configure(
        name="Acme Zammad",
        kind="zammad",
        settings_update={"base_url": zammad.base_url},
        secrets_update={"access_token": token},
    )
    return source


@pytest.mark.django_db
def test_it_imports_tickets_with_their_articles(zammad: FakeZammad, sleeps: list[float]) -> None:
    source = _source(zammad)

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED, run.failure
    assert run.created == 3
    vpn = Ticket.objects.get(source=source, external_id="1")
    assert (vpn.status, vpn.priority, vpn.channel, vpn.organization.name) == ("new", "normal", "email", "Acme Corp")
    assert (vpn.requester.email, vpn.requester.name) == ("carla@example.com", "Carla Customer")
    assert [(m.author_role, m.body, m.is_public) for m in vpn.messages.all()] == [
        ("customer", "The VPN drops every hour.", True),
        ("agent", "Which client version?", True),
        ("agent", "Escalate to network team", False),
    ]
    assert vpn.url == f"{zammad.base_url}/#ticket/zoom/1"
    laptop = Ticket.objects.get(source=source, external_id="2")
    assert (laptop.channel, laptop.status, laptop.priority) == ("phone", "open", "high")
    old = Ticket.objects.get(source=source, external_id="3")
    assert old.status == "closed" and old.solved_at is not None


@pytest.mark.django_db
def test_it_picks_up_changes_in_place_and_removes_removed_tickets(zammad: FakeZammad, sleeps: list[float]) -> None:
    source = _source(zammad)
    source_sync(source_id=source.pk, sleep=sleeps.append)
    quiet = source_sync(source_id=source.pk, sleep=sleeps.append)
    assert (quiet.created, quiet.updated, quiet.deleted) == (0, 0, 0)

    zammad.article(2, "Agent", "Ada Agent", "Ordered.", type="phone")
    zammad.tickets[2]["state"] = "closed"
    zammad.tickets[1].update(state="removed", updated_at=iso(zammad.tick()))
    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert (run.created, run.updated, run.deleted) == (0, 1, 1)
    assert Ticket.objects.get(source=source, external_id="2").status == "closed"
    assert sorted(Ticket.objects.filter(source=source).values_list("external_id", flat=True)) == ["2", "3"]


@pytest.mark.django_db
def test_a_crashed_sync_resumes_from_the_newest_change_it_stored(zammad: FakeZammad, sleeps: list[float]) -> None:
    source = _source(zammad)
    zammad.fail_after_pages = 1

    crashed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert crashed.status == SyncRunStatus.FAILED and Ticket.objects.filter(source=source).count() == 2
    zammad.fail_after_pages = None
    resumed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert resumed.status == SyncRunStatus.SUCCEEDED and (resumed.created, resumed.updated) == (1, 0)
    assert Ticket.objects.filter(source=source).count() == 3


@pytest.mark.django_db
def test_a_rejected_token_says_so(zammad: FakeZammad, sleeps: list[float]) -> None:
    run = source_sync(source_id=_source(zammad, token="bad").pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.FAILED and "the access token was rejected" in run.failure


@pytest.mark.django_db
def test_a_429_is_retried_after_retry_after(zammad: FakeZammad, sleeps: list[float]) -> None:
    zammad.rate_limit_next = 4

    run = source_sync(source_id=_source(zammad).pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED and sleeps == [4.0]


@pytest.mark.django_db
def test_the_connection_test_counts_tickets(zammad: FakeZammad, sleeps: list[float]) -> None:
    assert source_test_connection(source=_source(zammad), sleep=sleeps.append) == "Signed in as Ada Agent; 3 tickets"
