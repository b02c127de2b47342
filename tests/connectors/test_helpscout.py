"""Help Scout through a real HTTP server on 127.0.0.1 that behaves like the Mailbox API 2.0."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.connectors.server import FakeService, Reply, Request
from tickets.models import Source, SyncRunStatus, Ticket
from tickets.services import source_configure, source_sync, source_test_connection

APP_ID, APP_SECRET = "app-id-1", "app-secret-XYZ"


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeHelpScout(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.page_size = 2
        self.clock = int(time.time()) - 10 * 86400
        self.conversations: dict[int, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.expires_in = 7200
        self.rate_limit_next: int | None = None
        self.fail_after_pages: int | None = None
        self.pages_served = 0

    def tick(self) -> int:
        self.clock += 60
        return self.clock

    def add(
        self, conversation_id: int, subject: str, customer: dict[str, Any], threads: list[dict[str, Any]], **fields: Any
    ) -> None:
        now = self.tick()
        self.conversations[conversation_id] = {
            "id": conversation_id,
            "number": conversation_id + 1000,
            "type": "email",
            "status": "active",
            "state": "published",
            "subject": subject,
            "mailboxId": 1,
            "primaryCustomer": customer,
            "createdAt": iso(now),
            "userUpdatedAt": iso(now),
            "closedAt": None,
            "tags": [],
            "_modified": now,
            "_embedded": {"threads": []},
            **fields,
        }
        for thread in threads:
            self.add_thread(conversation_id, **thread)

    def add_thread(self, conversation_id: int, type: str, body: str | None, by: dict[str, Any]) -> None:
        conversation = self.conversations[conversation_id]
        threads = conversation["_embedded"]["threads"]
        now = self.tick()
        threads.insert(
            0,
            {  # Help Scout lists the newest thread first
                "id": conversation_id * 100 + len(threads) + 1,
                "type": type,
                "status": "active",
                "state": "published",
                "body": body,
                "createdBy": by,
                "createdAt": iso(now),
            },
        )
        conversation["_modified"] = now

    def route(self, request: Request) -> Reply:
        if request.path == "/v2/oauth2/token":
            form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
            if form != {"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": APP_SECRET}:
                return Reply(401, {"error": "invalid_client"})
            self.tokens_issued += 1
            token = f"token-{self.tokens_issued}"
            self.tokens.add(token)
            return Reply(200, {"token_type": "bearer", "access_token": token, "expires_in": self.expires_in})
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return Reply(401, {"error": "Unauthorized"})
        if request.path == "/v2/conversations":
            return self._list(request)
        if request.path == "/v2/mailboxes":
            return Reply(
                200,
                {
                    "_embedded": {"mailboxes": [{"id": 1}, {"id": 2}, {"id": 3}]},
                    "page": {"size": 50, "totalElements": 3, "totalPages": 1, "number": 1},
                },
            )
        return Reply(404, {"error": "Not found"})

    def _list(self, request: Request) -> Reply:
        if self.rate_limit_next is not None:
            wait, self.rate_limit_next = self.rate_limit_next, None
            return Reply(429, {"error": "Too many requests"}, {"X-RateLimit-Retry-After": str(wait)})
        if self.fail_after_pages is not None and self.pages_served >= self.fail_after_pages:
            return Reply(503, {"error": "unavailable"})
        query = request.query
        wanted = query.get("status", "active")
        since = query.get("modifiedSince", "1970-01-01T00:00:00Z")
        matching = sorted(
            (
                c
                for c in self.conversations.values()
                if iso(c["_modified"]) >= since and (c["status"] == "spam") == (wanted == "spam")
            ),
            key=lambda c: c["_modified"],
            reverse=query.get("sortOrder") == "desc",
        )
        number = int(query.get("page", 1))
        chunk = matching[(number - 1) * self.page_size : number * self.page_size]
        self.pages_served += 1
        embed_threads = query.get("embed") == "threads"
        conversations = [
            {k: v for k, v in c.items() if not k.startswith("_") or (k == "_embedded" and embed_threads)} for c in chunk
        ]
        total_pages = -(-len(matching) // self.page_size)
        return Reply(
            200,
            {
                "_embedded": {"conversations": conversations},
                "_links": {"next": {"href": f"{self.base_url}/v2/conversations?page={number + 1}"}}
                if number < total_pages
                else {},
                "page": {
                    "size": self.page_size,
                    "totalElements": len(matching),
                    "totalPages": total_pages,
                    "number": number,
                },
            },
        )


CARLA = {"id": 11, "type": "customer", "first": "Carla", "last": "Customer", "email": "carla@example.com"}
ADA = {"id": 1, "type": "user", "first": "Ada", "last": "Agent", "email": "ada@acme.test"}


@pytest.fixture
def helpscout(serve: Callable[[FakeService], str]) -> FakeHelpScout:
    fake = FakeHelpScout()
    serve(fake)
    fake.add(
        1,
        "Password reset mail never arrives",
        CARLA,
        [
            {"type": "customer", "body": "<p>The reset mail never arrives.</p>", "by": CARLA},
            {"type": "lineitem", "body": None, "by": ADA},
            {"type": "message", "body": "<p>Check your spam folder?</p>", "by": ADA},
            {"type": "note", "body": "Mail provider blocks us", "by": ADA},
        ],
        tags=[{"id": 4, "tag": "email", "color": "#fff"}],
    )
    fake.add(
        2, "Chat about pricing", CARLA, [{"type": "chat", "body": "How much for 10 seats?", "by": CARLA}], type="chat"
    )
    fake.add(
        3,
        "Closed one",
        CARLA,
        [{"type": "customer", "body": "Thanks!", "by": CARLA}],
        status="closed",
        closedAt=iso(fake.clock),
    )
    return fake


def _source(helpscout: FakeHelpScout, secret: str = APP_SECRET) -> Source:
    source, _ = source_configure(
        name="Acme Help Scout",
        kind="helpscout",
        settings_update={"client_id": APP_ID, "base_url": helpscout.base_url},
        secrets_update={"client_secret": secret},
    )
    return source


@pytest.mark.django_db
def test_it_imports_conversations_with_their_threads(helpscout: FakeHelpScout, sleeps: list[float]) -> None:
    source = _source(helpscout)

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED, run.failure
    assert (run.created, run.progress_total) == (3, 3)
    reset = Ticket.objects.get(source=source, external_id="1")
    assert [(m.author_role, m.author_name, m.body, m.is_public) for m in reset.messages.all()] == [
        ("customer", "Carla Customer", "The reset mail never arrives.", True),
        ("agent", "Ada Agent", "Check your spam folder?", True),
        ("agent", "Ada Agent", "Mail provider blocks us", False),
    ]
    assert (reset.tags, reset.channel, reset.status) == (["email"], "email", "open")
    assert reset.url == "https://secure.helpscout.net/conversation/1/1001/"
    assert Ticket.objects.get(source=source, external_id="2").channel == "chat"
    closed = Ticket.objects.get(source=source, external_id="3")
    assert closed.status == "closed" and closed.solved_at is not None
    assert helpscout.tokens_issued == 1


@pytest.mark.django_db
def test_it_picks_up_changes_in_place_and_removes_spam(helpscout: FakeHelpScout, sleeps: list[float]) -> None:
    source = _source(helpscout)
    source_sync(source_id=source.pk, sleep=sleeps.append)
    helpscout.clock = int(time.time())  # changes made after the first sync
    helpscout.add_thread(2, "chat", "It's 50 per seat.", ADA)
    helpscout.conversations[3].update(status="spam", _modified=helpscout.tick())

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert (run.created, run.updated, run.deleted) == (0, 1, 1)
    assert Ticket.objects.get(source=source, external_id="2").messages.count() == 2
    assert sorted(Ticket.objects.filter(source=source).values_list("external_id", flat=True)) == ["1", "2"]


@pytest.mark.django_db
def test_a_crashed_sync_resumes_at_the_saved_page(helpscout: FakeHelpScout, sleeps: list[float]) -> None:
    source = _source(helpscout)
    helpscout.fail_after_pages = 1

    crashed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert crashed.status == SyncRunStatus.FAILED and Ticket.objects.filter(source=source).count() == 2
    assert Source.objects.get(pk=source.pk).cursor["page"] == 2

    helpscout.fail_after_pages = None
    resumed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert resumed.status == SyncRunStatus.SUCCEEDED and resumed.created == 1
    assert Ticket.objects.filter(source=source).count() == 3


@pytest.mark.django_db
def test_an_expired_token_is_renewed(helpscout: FakeHelpScout, sleeps: list[float]) -> None:
    helpscout.expires_in = 0  # every request needs a fresh token
    run = source_sync(source_id=_source(helpscout).pk, sleep=sleeps.append)
    assert run.status == SyncRunStatus.SUCCEEDED and helpscout.tokens_issued == 3  # one per request

    helpscout.expires_in = 7200
    helpscout.tokens.clear()  # revoked behind our back: the 401 gets one renewal
    source = Source.objects.get(name="Acme Help Scout")
    assert source_sync(source_id=source.pk, full=True, sleep=sleeps.append).status == SyncRunStatus.SUCCEEDED


@pytest.mark.django_db
def test_rejected_app_credentials_say_so(helpscout: FakeHelpScout, sleeps: list[float]) -> None:
    run = source_sync(source_id=_source(helpscout, secret="wrong").pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.FAILED
    assert run.failure.startswith("Help Scout rejected the App ID and App secret (HTTP 401)")
    assert "wrong" not in run.failure


@pytest.mark.django_db
def test_a_429_waits_as_help_scout_says(helpscout: FakeHelpScout, sleeps: list[float]) -> None:
    helpscout.rate_limit_next = 9

    run = source_sync(source_id=_source(helpscout).pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED and sleeps == [9.0]


@pytest.mark.django_db
def test_the_connection_test_counts_mailboxes_and_conversations(helpscout: FakeHelpScout, sleeps: list[float]) -> None:
    assert source_test_connection(source=_source(helpscout), sleep=sleeps.append) == "3 mailboxes, 3 conversations"
