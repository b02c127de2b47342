"""GitHub Issues, Jira Cloud and Linear in miniature, on real local HTTP servers (tests.connectors.server).

Each plays its API the way the vendor documents it, as far as the backlog connectors use it: the
auth header (401 otherwise), the vendor's pagination (``Link`` header, ``nextPageToken``, GraphQL
``pageInfo``), its incremental filter (``since``, JQL ``updated >=``, ``updatedAt: {gt}``), one
rate-limit answer with ``Retry-After`` on request, and a switch that makes it fail after some pages.

All three hold the same small backlog (``seed``), so the tests can run the same story on each:
1 an idea, 2 a bug being worked on, 3 docs that shipped, 4 a request declined, 5 a planned feature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from abc import abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.connectors.server import FakeService, Reply, Request

START = 1_767_225_600  # 2026-01-01T00:00:00Z


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeTracker(FakeService):
    kind = ""
    page_size = 2
    # The statuses the seeded backlog maps to with the tracker's default mapping, by issue number.
    default_statuses: dict[int, str] = {}
    # A source's own mapping, and the statuses it gives.
    custom_mapping: dict[str, str] = {}
    custom_statuses: dict[int, str] = {}

    def __init__(self) -> None:
        super().__init__()
        self.clock = START
        self.rate_limit_next: int | None = None  # Retry-After of one 429 to send
        self.fail_after_pages: int | None = None  # issue pages served before it answers 503
        self.pages_served = 0

    def tick(self) -> int:
        self.clock += 60
        return self.clock

    def throttled(self) -> Reply | None:
        """The 429 or 503 this request gets, if any; counts the issue pages served otherwise."""
        if self.rate_limit_next is not None:
            retry_after, self.rate_limit_next = self.rate_limit_next, None
            return Reply(429, {"message": "Too many requests"}, {"Retry-After": str(retry_after)})
        if self.fail_after_pages is not None and self.pages_served >= self.fail_after_pages:
            return Reply(503, {"message": "Service unavailable"})
        self.pages_served += 1
        return None

    # What the tests drive, implemented by each tracker.
    @abstractmethod
    def key(self, number: int) -> str:
        """Implemented by each tracker."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Implemented by each tracker."""

    @abstractmethod
    def secrets(self, token: str | None = None) -> dict[str, Any]:
        """Implemented by each tracker."""

    @abstractmethod
    def seed(self) -> None:
        """Implemented by each tracker."""

    @abstractmethod
    def ship(self, number: int) -> None:
        """Implemented by each tracker."""

    @abstractmethod
    def retitle(self, number: int, title: str) -> None:
        """Implemented by each tracker."""

    @abstractmethod
    def closed_at(self, number: int) -> datetime:
        """Implemented by each tracker."""


# --- GitHub ------------------------------------------------------------------------------------

GITHUB_TOKEN = "ghp_fake_token_4711"
REPOSITORY = "acme/webapp"


class FakeGitHub(FakeTracker):
    """``GET /repos/{owner}/{repo}/issues``: since (inclusive), sort=updated asc, page/per_page, Link, ETag."""

    kind = "github"
    default_statuses = {1: "idea", 2: "idea", 3: "shipped", 4: "wont_do", 5: "idea"}
    custom_mapping = {"open": "planned", "label:in progress": "in_progress"}
    custom_statuses = {1: "planned", 2: "in_progress", 3: "shipped", 4: "wont_do", 5: "planned"}

    def __init__(self) -> None:
        super().__init__()
        self.issues: dict[int, dict[str, Any]] = {}
        self.not_modified = 0
        self.secondary_limit_next: int | None = None  # Retry-After of one 403 secondary rate limit
        self.forbidden_next = False  # one plain 403: the token lacks access
        self.primary_limit_next: int | None = None  # seconds until reset of one 403 with the budget spent
        self.after_first_page: Callable[[], None] | None = None  # a change made while a sync walks the pages

    def key(self, number: int) -> str:
        return f"{REPOSITORY}#{number}"

    def settings(self) -> dict[str, Any]:
        return {"repository": REPOSITORY, "base_url": self.base_url}

    def secrets(self, token: str | None = None) -> dict[str, Any]:
        return {"token": token or GITHUB_TOKEN}

    def add(self, number: int, title: str, *, labels: tuple[str, ...] = (), state: str = "open",
            state_reason: str | None = None, pull_request: bool = False, body: str = "") -> None:
        now = self.tick()
        issue: dict[str, Any] = {
            "number": number, "title": title, "body": body or f"About {title.lower()}.",
            "html_url": f"https://github.com/{REPOSITORY}/issues/{number}",
            "labels": [{"name": label} for label in labels],
            "state": state, "state_reason": state_reason,
            "created_at": _iso(now), "updated_at": _iso(now), "closed_at": _iso(now) if state == "closed" else None,
        }
        if pull_request:
            issue["pull_request"] = {"url": f"https://api.github.com/repos/{REPOSITORY}/pulls/{number}"}
        self.issues[number] = issue

    def seed(self) -> None:
        self.add(1, "Dark mode", labels=("enhancement",))
        self.add(2, "Export crashes on large files", labels=("bug", "in progress"))
        self.add(3, "Document webhooks", labels=("documentation",), state="closed", state_reason="completed")
        self.add(4, "Fax support", state="closed", state_reason="not_planned")
        self.add(5, "SSO with Okta")
        self.add(6, "Fix typo in README", pull_request=True)

    def update(self, number: int, **fields: Any) -> None:
        now = self.tick()
        self.issues[number].update(fields, updated_at=_iso(now))
        if fields.get("state") == "closed":
            self.issues[number]["closed_at"] = _iso(now)

    def ship(self, number: int) -> None:
        self.update(number, state="closed", state_reason="completed")

    def retitle(self, number: int, title: str) -> None:
        self.update(number, title=title)

    def closed_at(self, number: int) -> datetime:
        return datetime.fromisoformat(self.issues[number]["closed_at"].replace("Z", "+00:00"))

    def route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {GITHUB_TOKEN}":
            return Reply(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
        budget = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999",
                  "x-ratelimit-reset": str(int(datetime.now(UTC).timestamp()) + 3600)}
        if request.path == f"/repos/{REPOSITORY}":
            return Reply(200, {"full_name": REPOSITORY, "open_issues_count": 3}, budget)
        if request.path != f"/repos/{REPOSITORY}/issues":
            return Reply(404, {"message": "Not Found"})
        if self.secondary_limit_next is not None:
            retry_after, self.secondary_limit_next = self.secondary_limit_next, None
            return Reply(403, {"message": "You have exceeded a secondary rate limit."},
                         {"Retry-After": str(retry_after)})
        if self.primary_limit_next is not None:
            reset, self.primary_limit_next = int(datetime.now(UTC).timestamp()) + self.primary_limit_next, None
            return Reply(403, {"message": "API rate limit exceeded for user ID 1."},
                         {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
        if self.forbidden_next:
            self.forbidden_next = False
            return Reply(403, {"message": "Resource not accessible by personal access token"}, budget)
        refused = self.throttled()
        if refused is not None:
            return refused
        assert request.query.get("state") == "all" and request.query.get("sort") == "updated"
        assert request.query.get("direction") == "asc"
        since = request.query.get("since")
        ordered = sorted(self.issues.values(), key=lambda i: (i["updated_at"], i["number"]))
        selected = [i for i in ordered if since is None or i["updated_at"] >= since]
        size = min(int(request.query.get("per_page", 30)), self.page_size)
        page_number = int(request.query.get("page", 1))
        page = [dict(issue) for issue in selected[(page_number - 1) * size : page_number * size]]
        etag = 'W/"' + hashlib.sha256(json.dumps([request.query, page], sort_keys=True).encode()).hexdigest() + '"'
        if request.headers.get("if-none-match") == etag:
            self.not_modified += 1
            return Reply(304, None, {"ETag": etag, **budget})
        headers = {"ETag": etag, **budget}
        if self.after_first_page is not None:
            change, self.after_first_page = self.after_first_page, None
            change()
        if page_number * size < len(selected):
            query = {**request.query, "page": page_number + 1}
            headers["Link"] = (f'<{self.base_url}{request.path}?{urlencode(query)}>; rel="next", '
                               f'<{self.base_url}{request.path}?{urlencode({**query, "page": 1})}>; rel="first"')
        return Reply(200, page, headers)


# --- Jira --------------------------------------------------------------------------------------

JIRA_EMAIL = "ada@acme.test"
JIRA_TOKEN = "jira-fake-token-4711"
PROJECT = "WEB"
JQL = re.compile(r'^project = "(?P<project>\w+)"(?: AND updated >= "(?P<since>\d{4}/\d\d/\d\d \d\d:\d\d)")?'
                 r" ORDER BY updated ASC, key ASC$")


def _jira_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _adf(text: str) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]},
        {"type": "bulletList", "content": [{"type": "listItem", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Reported by "},
                                              {"type": "mention", "attrs": {"id": "1", "text": "@Carla"}}]}]}]},
    ]}


STATUSES = {
    "Backlog": "new", "To Do": "new", "In Progress": "indeterminate", "Done": "done",
}


class FakeJira(FakeTracker):
    """``GET /rest/api/3/search/jql``: bounded JQL, ``nextPageToken`` pages, Basic auth email:token."""

    kind = "jira"
    default_statuses = {1: "idea", 2: "in_progress", 3: "shipped", 4: "wont_do", 5: "idea"}
    custom_mapping = {"To Do": "planned"}
    custom_statuses = {1: "idea", 2: "in_progress", 3: "shipped", 4: "wont_do", 5: "planned"}

    def __init__(self) -> None:
        super().__init__()
        self.issues: dict[int, dict[str, Any]] = {}
        self.jqls: list[str] = []

    def key(self, number: int) -> str:
        return f"{PROJECT}-{number}"

    def settings(self) -> dict[str, Any]:
        return {"site": "acme.atlassian.net", "project": PROJECT, "email": JIRA_EMAIL, "base_url": self.base_url}

    def secrets(self, token: str | None = None) -> dict[str, Any]:
        return {"api_token": token or JIRA_TOKEN}

    def add(self, number: int, summary: str, *, status: str = "Backlog", issue_type: str = "Story",
            labels: tuple[str, ...] = (), resolution: str | None = None) -> None:
        now = self.tick()
        self.issues[number] = {"id": str(10000 + number), "key": self.key(number), "fields": {
            "summary": summary, "description": _adf(f"About {summary.lower()}."),
            "issuetype": {"name": issue_type}, "labels": list(labels),
            "status": {"name": status, "statusCategory": {"key": STATUSES[status]}},
            "resolution": {"name": resolution} if resolution else None,
            "resolutiondate": _jira_time(now) if resolution else None,
            "updated": _jira_time(now), "_ts": now,
        }}

    def seed(self) -> None:
        self.add(1, "Dark mode")
        self.add(2, "Export crashes on large files", status="In Progress", issue_type="Bug")
        self.add(3, "Document webhooks", status="Done", issue_type="Task", labels=("docs",), resolution="Done")
        self.add(4, "Fax support", status="Done", resolution="Won't Do")
        self.add(5, "SSO with Okta", status="To Do")

    def update(self, number: int, **fields: Any) -> None:
        now = self.tick()
        self.issues[number]["fields"].update(fields, updated=_jira_time(now), _ts=now)

    def ship(self, number: int) -> None:
        self.update(number, status={"name": "Done", "statusCategory": {"key": "done"}}, resolution={"name": "Done"},
                    resolutiondate=_jira_time(self.clock + 60))

    def retitle(self, number: int, title: str) -> None:
        self.update(number, summary=title)

    def closed_at(self, number: int) -> datetime:
        return datetime.fromisoformat(self.issues[number]["fields"]["resolutiondate"])

    def route(self, request: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Reply(401, {"errorMessages": ["Client must be authenticated to access this resource."]})
        if request.path == "/rest/api/3/myself":
            return Reply(200, {"accountId": "1", "displayName": "Ada Admin", "emailAddress": JIRA_EMAIL})
        if request.path == f"/rest/api/3/project/{PROJECT}":
            return Reply(200, {"key": PROJECT, "name": "Web app"})
        if request.path != "/rest/api/3/search/jql":
            return Reply(404, {"errorMessages": ["Not found"]})
        refused = self.throttled()
        if refused is not None:
            return refused
        jql = request.query.get("jql", "")
        self.jqls.append(jql)
        match = JQL.match(jql)
        if match is None or match["project"] != PROJECT:
            return Reply(400, {"errorMessages": [f"Error in the JQL Query: {jql!r}"]})
        since = (int(datetime.strptime(match["since"], "%Y/%m/%d %H:%M").replace(tzinfo=UTC).timestamp())
                 if match["since"] else None)
        ordered = sorted(self.issues.values(), key=lambda i: (i["fields"]["_ts"], int(i["id"])))
        selected = [i for i in ordered if since is None or i["fields"]["_ts"] >= since]
        offset = int(base64.b64decode(request.query["nextPageToken"]).decode()) if "nextPageToken" in request.query \
            else 0
        size = min(int(request.query.get("maxResults", 50)), self.page_size)
        page = selected[offset : offset + size]
        body: dict[str, Any] = {"issues": [
            {"id": i["id"], "key": i["key"], "fields": {k: v for k, v in i["fields"].items() if k != "_ts"}}
            for i in page
        ], "isLast": offset + size >= len(selected)}
        if not body["isLast"]:
            body["nextPageToken"] = base64.b64encode(str(offset + size).encode()).decode()
        return Reply(200, body)


# --- Linear ------------------------------------------------------------------------------------

LINEAR_KEY = "lin_api_fake_key_4711"
LINEAR_STATES = {
    "Backlog": "backlog", "Todo": "unstarted", "In Progress": "started", "Done": "completed", "Canceled": "canceled",
}


class FakeLinear(FakeTracker):
    """``POST /graphql``: ``issues(filter: {updatedAt: {gt}}, first, after, orderBy: updatedAt)``, newest
    first, with relay ``pageInfo``; ``Authorization: <API key>``."""

    kind = "linear"
    default_statuses = {1: "idea", 2: "in_progress", 3: "shipped", 4: "wont_do", 5: "planned"}
    custom_mapping = {"Backlog": "planned"}
    custom_statuses = {1: "planned", 2: "in_progress", 3: "shipped", 4: "wont_do", 5: "planned"}

    def __init__(self) -> None:
        super().__init__()
        self.issues: dict[int, dict[str, Any]] = {}
        self.filters: list[Any] = []
        self.graphql_rate_limit_next = False  # one HTTP 400 with the RATELIMITED error code

    def key(self, number: int) -> str:
        return f"ENG-{number}"

    def settings(self) -> dict[str, Any]:
        return {"base_url": self.base_url}

    def secrets(self, token: str | None = None) -> dict[str, Any]:
        return {"api_key": token or LINEAR_KEY}

    def _ms(self, ts: int) -> str:
        return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "250Z"

    def add(self, number: int, title: str, *, state: str = "Backlog", labels: tuple[str, ...] = ()) -> None:
        now = self.tick()
        kind = LINEAR_STATES[state]
        self.issues[number] = {
            "identifier": self.key(number), "title": title, "description": f"About {title.lower()}.",
            "url": f"https://linear.app/acme/issue/{self.key(number).lower()}",
            "updatedAt": self._ms(now), "completedAt": self._ms(now) if kind == "completed" else None,
            "canceledAt": self._ms(now) if kind == "canceled" else None,
            "state": {"name": state, "type": kind}, "labels": {"nodes": [{"name": label} for label in labels]},
            "_ts": now,
        }

    def seed(self) -> None:
        self.add(1, "Dark mode", labels=("Feature",))
        self.add(2, "Export crashes on large files", state="In Progress", labels=("Bug",))
        self.add(3, "Document webhooks", state="Done", labels=("Docs",))
        self.add(4, "Fax support", state="Canceled")
        self.add(5, "SSO with Okta", state="Todo")

    def update(self, number: int, **fields: Any) -> None:
        now = self.tick()
        self.issues[number].update(fields, updatedAt=self._ms(now), _ts=now)

    def ship(self, number: int) -> None:
        self.update(number, state={"name": "Done", "type": "completed"}, completedAt=self._ms(self.clock + 60))

    def retitle(self, number: int, title: str) -> None:
        self.update(number, title=title)

    def closed_at(self, number: int) -> datetime:
        return datetime.fromisoformat(self.issues[number]["completedAt"].replace("Z", "+00:00"))

    def route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != LINEAR_KEY:
            return Reply(401, {"errors": [{"message": "Authentication required, not authenticated",
                                           "extensions": {"code": "AUTHENTICATION_ERROR"}}]})
        if request.method != "POST" or request.path != "/graphql":
            return Reply(404, {"errors": [{"message": "Not found"}]})
        body = request.json()
        query, variables = body["query"], body.get("variables") or {}
        if "viewer" in query:
            return Reply(200, {"data": {"viewer": {"name": "Ada Admin", "email": "ada@acme.test"},
                                        "organization": {"name": "Acme"}}})
        if self.graphql_rate_limit_next:
            self.graphql_rate_limit_next = False
            return Reply(400, {"errors": [{"message": "Rate limit exceeded",
                                           "extensions": {"code": "RATELIMITED"}}]})
        refused = self.throttled()
        if refused is not None:
            return refused
        assert "orderBy: updatedAt" in query and "pageInfo { hasNextPage endCursor }" in query
        search = variables.get("filter") or {}
        self.filters.append(search)
        since = (search.get("updatedAt") or {}).get("gt")
        ordered = sorted(self.issues.values(), key=lambda i: (i["updatedAt"], i["identifier"]), reverse=True)
        selected = [i for i in ordered if since is None or i["updatedAt"] > since]
        after = variables.get("after")
        keys = [i["identifier"] for i in selected]
        start = keys.index(after) + 1 if after in keys else 0
        size = min(int(variables.get("first") or 50), self.page_size)
        page = selected[start : start + size]
        nodes = [{k: v for k, v in i.items() if k != "_ts"} for i in page]
        info = {"hasNextPage": start + size < len(selected), "endCursor": page[-1]["identifier"] if page else None}
        return Reply(200, {"data": {"issues": {"nodes": nodes, "pageInfo": info}}})


TRACKERS: dict[str, type[FakeTracker]] = {"github": FakeGitHub, "jira": FakeJira, "linear": FakeLinear}
