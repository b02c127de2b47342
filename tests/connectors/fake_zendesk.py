"""Zendesk Support's API as the Zendesk connector uses it, behaving as developer.zendesk.com documents."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.connectors.server import FakeService, Reply, Request

EMAIL = "ada@acme.test"
TOKEN = "zd-secret-token-4711"
EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
UPDATE_MANY_PATH = "/api/v2/tickets/update_many.json"


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(position: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(f"{position[0]}|{position[1]}".encode()).decode()


def decode(cursor: str) -> tuple[int, int]:
    ts, ticket_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    return int(ts), int(ticket_id)


class FakeZendesk(FakeService):
    """Tickets ordered by (generated timestamp, id); the cursor is the position of the last one sent."""

    def __init__(self, page_size: int = 2) -> None:
        super().__init__()
        self.page_size = page_size
        self.comments_page_size = 2
        self.clock = 1_767_225_600  # 2026-01-01T00:00:00Z
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.users: dict[int, dict[str, Any]] = {
            101: {"id": 101, "name": "Carla Customer", "email": "Carla@Example.com", "role": "end-user"},
            102: {"id": 102, "name": "Dan Doe", "email": "dan@example.com", "role": "end-user"},
            9: {"id": 9, "name": "Ada Agent", "email": EMAIL, "role": "admin"},
        }
        self.organizations = {500: {"id": 500, "name": "Acme Corp"}}
        self.rate_limit_next: int | None = None  # Retry-After of one 429 to send
        self.fail_after_pages: int | None = None  # export pages served before it starts failing
        self.export_pages_served = 0
        self.gate: threading.Event | None = None  # when set, comment requests wait for it
        self.entered = threading.Event()
        self._next_comment_id = 9000
        self.tag_updates: list[tuple[list[int], list[str]]] = []  # (ids, additional_tags) of each bulk update
        self._next_job = 0

    # --- the data -------------------------------------------------------------------------------

    def tick(self) -> int:
        self.clock += 60
        return self.clock

    def add_ticket(
        self, ticket_id: int, subject: str, requester_id: int, comments: list[tuple[int, str, bool]], **fields: Any
    ) -> None:
        now = self.tick()
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "url": f"https://acme.zendesk.com/api/v2/tickets/{ticket_id}.json",
            "subject": subject,
            "raw_subject": subject,
            "description": comments[0][1],
            "status": "open",
            "priority": "normal",
            "requester_id": requester_id,
            "submitter_id": requester_id,
            "organization_id": None,
            "tags": [],
            "via": {"channel": "email", "source": {"from": {}, "to": {}, "rel": None}},
            "satisfaction_rating": None,
            "created_at": iso(now),
            "updated_at": iso(now),
            "generated_timestamp": now,
            **fields,
        }
        self.comments[ticket_id] = []
        for author_id, body, public in comments:
            self.add_comment(ticket_id, author_id, body, public=public, touch=False)

    def add_comment(
        self, ticket_id: int, author_id: int, body: str, *, public: bool = True, touch: bool = True
    ) -> None:
        self._next_comment_id += 1
        self.comments[ticket_id].append(
            {
                "id": self._next_comment_id,
                "type": "Comment",
                "author_id": author_id,
                "body": body,
                "html_body": f'<div class="zd-comment"><p>{body}</p></div>',
                "plain_body": body,
                "public": public,
                "created_at": iso(self.tick()),
            }
        )
        if touch:
            self.update_ticket(ticket_id)

    def update_ticket(self, ticket_id: int, **fields: Any) -> None:
        now = self.tick()
        self.tickets[ticket_id].update(fields, updated_at=iso(now), generated_timestamp=now)

    def delete_ticket(self, ticket_id: int) -> None:
        self.update_ticket(ticket_id, status="deleted")

    # --- the API --------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if self.gate is not None and "/comments" in request.path:
            self.entered.set()
            self.gate.wait(10)
        return super().handle(request)

    def route(self, request: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Reply(401, {"error": "Couldn't authenticate you"})
        if request.path == EXPORT_PATH:
            return self._export(request)
        if request.path.startswith("/api/v2/tickets/") and request.path.endswith("/comments.json"):
            return self._comments(int(request.path.split("/")[4]), request)
        if request.path == "/api/v2/tickets/count.json":
            live = sum(1 for t in self.tickets.values() if t["status"] != "deleted")
            return Reply(200, {"count": {"value": live, "refreshed_at": iso(self.clock)}})
        if request.path == UPDATE_MANY_PATH and request.method == "PUT":
            return self._update_many(request)
        if request.path == "/api/v2/users/me.json":
            return Reply(200, {"user": self.users[9]})
        return Reply(404, {"error": "InvalidEndpoint", "description": "Not found"})

    def _export(self, request: Request) -> Reply:
        if self.rate_limit_next is not None:
            retry_after, self.rate_limit_next = self.rate_limit_next, None
            return Reply(429, {"error": "APIRateLimitExceeded"}, {"Retry-After": str(retry_after)})
        if self.fail_after_pages is not None and self.export_pages_served >= self.fail_after_pages:
            return Reply(503, {"error": "ServiceUnavailable"})
        ordered = sorted(self.tickets.values(), key=lambda t: (t["generated_timestamp"], t["id"]))
        if "cursor" in request.query:
            after = decode(request.query["cursor"])
            remaining = [t for t in ordered if (t["generated_timestamp"], t["id"]) > after]
        else:
            start_time = int(request.query["start_time"])
            remaining = [t for t in ordered if t["generated_timestamp"] >= start_time]
        size = min(int(request.query.get("per_page", 1000)), self.page_size)
        page, rest = remaining[:size], remaining[size:]
        after_cursor = (
            encode((page[-1]["generated_timestamp"], page[-1]["id"])) if page else request.query.get("cursor")
        )
        self.export_pages_served += 1
        sideloads = request.query.get("include", "").split(",")
        body: dict[str, Any] = {
            "tickets": page,
            "after_cursor": after_cursor,
            "after_url": f"{self.base_url}{EXPORT_PATH}?cursor={after_cursor}" if after_cursor else None,
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": not rest,
        }
        if "users" in sideloads:
            body["users"] = [self.users[t["requester_id"]] for t in page if t["requester_id"] in self.users]
        if "organizations" in sideloads:
            body["organizations"] = [
                self.organizations[t["organization_id"]] for t in page if t["organization_id"] in self.organizations
            ]
        if "metric_sets" in sideloads:
            body["metric_sets"] = [
                {
                    "ticket_id": t["id"],
                    "reopens": t.get("_reopens", 0),
                    "solved_at": t["updated_at"] if t["status"] in {"solved", "closed"} else None,
                }
                for t in page
            ]
        return Reply(200, body, {"X-Rate-Limit": "10", "X-Rate-Limit-Remaining": "9"})

    def _update_many(self, request: Request) -> Reply:
        """Bulk update: at most 100 ids; ``additional_tags`` are added to the tickets' tags in a queued job."""
        try:
            ids = [int(part) for part in request.query.get("ids", "").split(",") if part]
        except ValueError:
            return Reply(400, {"error": "InvalidValue", "description": "ids must be numbers"})
        if not ids or len(ids) > 100:
            return Reply(400, {"error": "InvalidValue", "description": "Between 1 and 100 ids are allowed"})
        ticket = (request.json() or {}).get("ticket") or {}
        tags = [str(tag) for tag in ticket.get("additional_tags") or []]
        self.tag_updates.append((ids, tags))
        for ticket_id in ids:
            if ticket_id in self.tickets:
                existing = self.tickets[ticket_id]["tags"]
                self.update_ticket(ticket_id, tags=existing + [tag for tag in tags if tag not in existing])
        self._next_job += 1
        job_id = f"job{self._next_job:08d}"
        return Reply(
            200,
            {
                "job_status": {
                    "id": job_id,
                    "url": f"{self.base_url}/api/v2/job_statuses/{job_id}.json",
                    "status": "queued",
                    "total": len(ids),
                    "progress": None,
                    "message": None,
                    "results": None,
                }
            },
        )

    def _comments(self, ticket_id: int, request: Request) -> Reply:
        ticket = self.tickets.get(ticket_id)
        if ticket is None or ticket["status"] == "deleted":
            return Reply(404, {"error": "RecordNotFound", "description": "Not found"})
        size = int(request.query.get("page[size]", 100))
        size = min(size, self.comments_page_size)
        start = int(request.query.get("page[after]", 0))
        comments = self.comments[ticket_id][start : start + size]
        has_more = start + size < len(self.comments[ticket_id])
        query = {"include": "users", "page[size]": size, "page[after]": start + size}
        next_url = f"{self.base_url}/api/v2/tickets/{ticket_id}/comments.json?{urlencode(query)}"
        return Reply(
            200,
            {
                "comments": comments,
                "users": [self.users[c["author_id"]] for c in comments],
                "meta": {"has_more": has_more, "after_cursor": str(start + size) if has_more else None},
                "links": {"next": next_url if has_more else None, "prev": None},
            },
        )


def zendesk_source(zendesk: FakeZendesk, token: str = TOKEN) -> Any:
    """A Zendesk ticket source configured to sync from ``zendesk`` (signing in with ``token``)."""
    from tickets.services import source_configure

    source, _ = source_configure(
        name="Acme Zendesk",
        kind="zendesk",
        settings_update={"subdomain": "acme", "email": EMAIL, "base_url": zendesk.base_url},
        secrets_update={"api_token": token},
    )
    return source
