"""Intercom through a real HTTP server on 127.0.0.1 that behaves like Intercom's REST API."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.connectors.server import FakeService, Reply, Request
from tickets.models import Source, SyncRunStatus, Ticket
from tickets.services import source_configure, source_sync, source_test_connection

TOKEN = "dG9rOmludGVyY29tLXNlY3JldA=="


class FakeIntercom(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.page_size = 2
        self.clock = 1_767_225_600
        self.conversations: dict[str, dict[str, Any]] = {}
        self.rate_limit_next = False
        self.fail_after_pages: int | None = None
        self.search_pages_served = 0

    def tick(self) -> int:
        self.clock += 3600
        return self.clock

    def add(
        self, conversation_id: str, body: str, author: dict[str, Any], parts: list[dict[str, Any]], **fields: Any
    ) -> None:
        now = self.tick()
        self.conversations[conversation_id] = {
            "type": "conversation",
            "id": conversation_id,
            "created_at": now,
            "updated_at": now,
            "title": None,
            "state": "open",
            "open": True,
            "priority": "not_priority",
            "tags": {"type": "tag.list", "tags": []},
            "conversation_rating": None,
            "source": {
                "type": "conversation",
                "id": f"9{conversation_id}",
                "delivered_as": "customer_initiated",
                "subject": "",
                "body": body,
                "author": author,
                "url": None,
            },
            "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": author["id"]}]},
            "conversation_parts": {"type": "conversation_part.list", "conversation_parts": [], "total_count": 0},
            **fields,
        }
        for part in parts:
            self.add_part(conversation_id, **part, touch=False)

    def add_part(
        self,
        conversation_id: str,
        body: str | None,
        author: dict[str, Any],
        part_type: str = "comment",
        touch: bool = True,
    ) -> None:
        conversation = self.conversations[conversation_id]
        parts = conversation["conversation_parts"]["conversation_parts"]
        parts.append(
            {
                "type": "conversation_part",
                "id": f"{conversation_id}{len(parts) + 1:03d}",
                "part_type": part_type,
                "body": body,
                "created_at": self.tick(),
                "updated_at": self.clock,
                "author": author,
                "redacted": False,
            }
        )
        conversation["conversation_parts"]["total_count"] = len(parts)
        if touch:
            conversation["updated_at"] = self.tick()

    def route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(
                401, {"type": "error.list", "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}]}
            )
        if "intercom-version" not in request.headers:
            return Reply(400, {"type": "error.list", "errors": [{"code": "intercom_version_missing"}]})
        if request.method == "POST" and request.path == "/conversations/search":
            return self._search(request.json())
        if request.method == "GET" and request.path.startswith("/conversations/"):
            conversation = self.conversations.get(request.path.rsplit("/", 1)[1])
            if conversation is None or conversation.get("_deleted"):
                return Reply(404, {"type": "error.list", "errors": [{"code": "not_found"}]})
            return Reply(200, conversation)
        if request.path == "/me":
            return Reply(
                200,
                {
                    "type": "admin",
                    "id": "1",
                    "name": "Ada Admin",
                    "email": "ada@acme.test",
                    "app": {"type": "app", "id_code": "abc123", "name": "Acme"},
                },
            )
        return Reply(404, {"type": "error.list", "errors": [{"code": "not_found"}]})

    def _search(self, body: dict[str, Any]) -> Reply:
        if self.rate_limit_next:
            self.rate_limit_next = False
            reset = int(time.time()) + 3
            return Reply(
                429,
                {"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]},
                {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
            )
        if self.fail_after_pages is not None and self.search_pages_served >= self.fail_after_pages:
            return Reply(500, {"type": "error.list", "errors": [{"code": "server_error"}]})
        query = body["query"]
        assert query["field"] == "updated_at" and query["operator"] == ">"
        matching = sorted(
            (c for c in self.conversations.values() if c["updated_at"] > query["value"]), key=lambda c: c["id"]
        )
        pagination = body.get("pagination") or {}
        start = int(base64.b64decode(pagination["starting_after"]).decode()) if pagination.get("starting_after") else 0
        size = min(pagination.get("per_page", 20), self.page_size)
        page = matching[start : start + size]
        self.search_pages_served += 1
        pages: dict[str, Any] = {
            "type": "pages",
            "page": start // size + 1,
            "per_page": size,
            "total_pages": -(-len(matching) // size),
        }
        if start + size < len(matching):
            pages["next"] = {
                "page": start // size + 2,
                "starting_after": base64.b64encode(str(start + size).encode()).decode(),
            }
        summaries = [{k: v for k, v in c.items() if k not in ("conversation_parts", "_deleted")} for c in page]
        return Reply(
            200, {"type": "conversation.list", "conversations": summaries, "total_count": len(matching), "pages": pages}
        )


CARLA = {"type": "user", "id": "c1", "name": "Carla Customer", "email": "carla@example.com"}
ADMIN = {"type": "admin", "id": "a1", "name": "Ada Admin", "email": "ada@acme.test"}
BOT = {"type": "bot", "id": "b1", "name": "Fin"}


@pytest.fixture
def intercom(serve: Callable[[FakeService], str]) -> FakeIntercom:
    fake = FakeIntercom()
    serve(fake)
    fake.add(
        "101",
        "<p>My export is <b>stuck</b> at 99%</p>",
        CARLA,
        [
            {"body": "<p>Have you tried again?</p>", "author": BOT},
            {"body": None, "author": ADMIN, "part_type": "assignment"},
            {"body": "<p>Looking into it.</p>", "author": ADMIN},
            {"body": "<p>Customer is on the old plan</p>", "author": ADMIN, "part_type": "note"},
        ],
        tags={"type": "tag.list", "tags": [{"type": "tag", "id": "1", "name": "export"}]},
        priority="priority",
    )
    fake.add(
        "102", "How do I invite a teammate?", {"type": "lead", "id": "l7", "name": "", "email": "lee@example.com"}, []
    )
    fake.add(
        "103",
        "Refund please",
        CARLA,
        [{"body": "Done.", "author": ADMIN}],
        state="closed",
        conversation_rating={"rating": 4, "remark": ""},
        statistics={"last_close_at": 1_767_300_000},
    )
    return fake


def _source(intercom: FakeIntercom, token: str = TOKEN) -> Source:
    source, _ = source_configure(
        name="Acme Intercom",
        kind="intercom",
        settings_update={"base_url": intercom.base_url},
        secrets_update={"access_token": token},
    )
    return source


@pytest.mark.django_db
def test_it_imports_conversations_with_their_parts(intercom: FakeIntercom, sleeps: list[float]) -> None:
    source = _source(intercom)

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED, run.failure
    assert (run.fetched, run.created, run.progress_total) == (3, 3, 3)
    stuck = Ticket.objects.get(source=source, external_id="101")
    assert (stuck.channel, stuck.status, stuck.priority, stuck.tags) == ("chat", "open", "high", ["export"])
    assert stuck.requester.email == "carla@example.com"
    assert [(m.author_role, m.body, m.is_public) for m in stuck.messages.all()] == [
        ("customer", "My export is stuck at 99%", True),
        ("bot", "Have you tried again?", True),
        ("agent", "Looking into it.", True),
        ("agent", "Customer is on the old plan", False),
    ]
    refund = Ticket.objects.get(source=source, external_id="103")
    assert (refund.status, refund.csat) == ("closed", 4) and refund.solved_at is not None
    assert Ticket.objects.get(source=source, external_id="102").requester.external_id == "l7"
    assert all(r.headers["intercom-version"] == "2.11" for r in intercom.requests)


@pytest.mark.django_db
def test_it_picks_up_only_changes_and_updates_them_in_place(intercom: FakeIntercom, sleeps: list[float]) -> None:
    source = _source(intercom)
    source_sync(source_id=source.pk, sleep=sleeps.append)
    quiet = source_sync(source_id=source.pk, sleep=sleeps.append)
    assert (quiet.created, quiet.updated) == (0, 0)

    intercom.add_part("102", "<p>Settings → Team → Invite.</p>", ADMIN)
    intercom.conversations["102"]["state"] = "closed"
    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert (run.created, run.updated) == (0, 1)
    invite = Ticket.objects.get(source=source, external_id="102")
    assert invite.status == "closed" and invite.messages.count() == 2
    assert Ticket.objects.filter(source=source).count() == 3


@pytest.mark.django_db
def test_a_crashed_sync_resumes_from_the_saved_page(intercom: FakeIntercom, sleeps: list[float]) -> None:
    source = _source(intercom)
    intercom.fail_after_pages = 1

    crashed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert crashed.status == SyncRunStatus.FAILED and "HTTP 500" in crashed.failure
    assert Ticket.objects.filter(source=source).count() == 2
    assert Source.objects.get(pk=source.pk).cursor["starting_after"]

    intercom.fail_after_pages = None
    intercom.requests.clear()
    resumed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert resumed.status == SyncRunStatus.SUCCEEDED
    assert intercom.requests[0].json()["pagination"]["starting_after"]
    assert resumed.created == 1
    assert sorted(Ticket.objects.filter(source=source).values_list("external_id", flat=True)) == ["101", "102", "103"]


@pytest.mark.django_db
def test_a_rejected_token_says_so(intercom: FakeIntercom, sleeps: list[float]) -> None:
    run = source_sync(source_id=_source(intercom, token="wrong").pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.FAILED
    assert "the access token was rejected" in run.failure


@pytest.mark.django_db
def test_a_429_waits_until_the_rate_limit_resets(intercom: FakeIntercom, sleeps: list[float]) -> None:
    intercom.rate_limit_next = True

    run = source_sync(source_id=_source(intercom).pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED and run.created == 3
    assert len(sleeps) == 1 and 1 <= sleeps[0] <= 3


@pytest.mark.django_db
def test_the_connection_test_names_the_workspace(intercom: FakeIntercom, sleeps: list[float]) -> None:
    assert (
        source_test_connection(source=_source(intercom), sleep=sleeps.append)
        == "Signed in as Ada Admin to Acme; 3 conversations"
    )


@pytest.mark.django_db
def test_a_conversation_deleted_while_the_sync_reads_it_is_removed(intercom: FakeIntercom, sleeps: list[float]) -> None:
    source = _source(intercom)
    source_sync(source_id=source.pk, sleep=sleeps.append)
    intercom.add_part("103", "Reopening: refund missing", CARLA)
    intercom.conversations["103"]["_deleted"] = True  # listed by the search, gone when fetched

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED and run.deleted == 1
    assert sorted(Ticket.objects.filter(source=source).values_list("external_id", flat=True)) == ["101", "102"]
