"""Linear: a workspace's (or one team's) issues changed since the last sync, over GraphQL.

API (linear.app/developers):

- ``POST https://api.linear.app/graphql`` with ``issues(filter: {updatedAt: {gt: $since}}, first: 50,
  after: $cursor, orderBy: updatedAt)``; ``pageInfo { hasNextPage endCursor }`` drives the pages.
- Auth: ``Authorization: <personal API key>`` (Settings → Security & access → Personal API keys),
  without a ``Bearer`` prefix; OAuth access tokens go as ``Bearer <token>``.
- Workflow state types ``triage``, ``backlog``, ``unstarted``, ``started``, ``completed``,
  ``canceled``; the mapping is looked up by state name ("In Review") first, then ``type:<type>``.
- Rate limits: an answer with the GraphQL error code ``RATELIMITED`` (HTTP 400), or a 429 with
  ``Retry-After``, is waited out and retried by ``ApiClient``.

While a sync runs the cursor is ``{"since", "after", "newest"}`` (resume inside the same search);
when it ends, ``{"since": <updatedAt of the newest issue stored>}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from roadmap.connectors.base import BacklogPage, BacklogRecord, Tracker, kind_guess
from tickets.connectors.base import (
    ApiClient,
    PermanentError,
    SettingField,
    Sleep,
    iso_z,
    parse_time,
    require,
)

VENDOR = "Linear"
DEFAULT_BASE_URL = "https://api.linear.app"
GRAPHQL_PATH = "/graphql"
PAGE_SIZE = 50

ISSUES_QUERY = """
query Issues($filter: IssueFilter, $first: Int!, $after: String) {
  issues(filter: $filter, first: $first, after: $after, orderBy: updatedAt) {
    nodes {
      identifier title description url updatedAt completedAt canceledAt
      state { name type }
      labels { nodes { name } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
VIEWER_QUERY = "query { viewer { name email } organization { name } }"

DEFAULT_STATUS_MAPPING = {
    "type:triage": "idea",
    "type:backlog": "idea",
    "type:unstarted": "planned",
    "type:started": "in_progress",
    "type:completed": "shipped",
    "type:canceled": "wont_do",
}

FIELDS = (
    SettingField("api_key", "API key", "Linear → Settings → Security & access → Personal API keys.", True, True),
    SettingField("team", "Team key", "Optional. Only this team's issues (its key, e.g. ENG); empty syncs all teams."),
    SettingField("base_url", "API address", "Optional. Overrides https://api.linear.app, for a proxy."),
)


def _rate_limited(response: httpx.Response) -> bool:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(((error or {}).get("extensions") or {}).get("code") == "RATELIMITED" for error in errors)


def _client(settings: Mapping[str, Any], credentials: Mapping[str, Any], sleep: Sleep) -> ApiClient:
    key = require(credentials, "api_key", "Linear API key")
    return ApiClient(
        str(settings.get("base_url") or "").strip() or DEFAULT_BASE_URL,
        vendor=VENDOR,
        headers={"Authorization": key, "Content-Type": "application/json"},
        sleep=sleep,
        credentials_hint="the API key",
        rate_limited=_rate_limited,
    )


def _query(client: ApiClient, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    payload = client.post_json(GRAPHQL_PATH, body={"query": query, "variables": dict(variables or {})})
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if errors:
        first = errors[0] or {}
        code = (first.get("extensions") or {}).get("code") or ""
        if code in {"AUTHENTICATION_ERROR", "UNAUTHENTICATED"}:
            raise PermanentError(f"{VENDOR} rejected the API key; check it in the source's settings, or create "
                                 "a new one.", status=401)
        raise PermanentError(f"{VENDOR} refused the query: {first.get('message') or json.dumps(first)[:200]}")
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise PermanentError(f"{VENDOR} answered without data; check the API address in the source's settings.")
    return payload["data"]


def fetch(
    settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep = time.sleep
) -> Iterator[BacklogPage]:
    """Pages of issues updated after ``cursor["since"]`` (all of them without it)."""
    since: str | None = cursor.get("since")
    after: str | None = cursor.get("after")
    newest = parse_time(cursor.get("newest")) or parse_time(since)
    search: dict[str, Any] = {}
    if since:
        search["updatedAt"] = {"gt": since}
    team = str(settings.get("team") or "").strip()
    if team:
        search["team"] = {"key": {"eq": team.upper()}}
    with _client(settings, credentials, sleep) as client:
        while True:
            data = _query(client, ISSUES_QUERY, {"filter": search or None, "first": PAGE_SIZE, "after": after})
            connection = data.get("issues") or {}
            records = [_record(node) for node in connection.get("nodes") or []]
            for record in records:
                if record.updated_at and (newest is None or record.updated_at > newest):
                    newest = record.updated_at
            info = connection.get("pageInfo") or {}
            after = info.get("endCursor")
            more = bool(info.get("hasNextPage") and after)
            if more:
                page_cursor: dict[str, Any] = {"since": since, "after": after, "newest": _iso(newest)}
                page_cursor = {key: value for key, value in page_cursor.items() if value}
            else:
                page_cursor = {"since": _iso(newest)} if newest else {}
            yield BacklogPage(records=records, cursor=page_cursor)
            if not more:
                return


def _iso(moment: Any) -> str | None:
    """Linear's form, milliseconds included: ``updatedAt: {gt: …}`` must not drop them."""
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment.microsecond else iso_z(moment)


def _record(node: Mapping[str, Any]) -> BacklogRecord:
    state = node.get("state") or {}
    labels = [str(label.get("name") or "") for label in (node.get("labels") or {}).get("nodes") or []]
    state_type = str(state.get("type") or "")
    closed = node.get("completedAt") if state_type == "completed" else node.get("canceledAt")
    return BacklogRecord(
        external_key=str(node["identifier"]),
        title=str(node.get("title") or node["identifier"]),
        description=str(node.get("description") or ""),
        kind=kind_guess(*labels),
        state=str(state.get("name") or state_type or "unknown"),
        states=tuple(s for s in (str(state.get("name") or ""), f"type:{state_type}" if state_type else "") if s),
        url=str(node.get("url") or ""),
        updated_at=parse_time(node.get("updatedAt")),
        closed_at=parse_time(closed) if state_type in {"completed", "canceled"} else None,
    )


def connection_check(settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep = time.sleep) -> str:
    with _client(settings, credentials, sleep) as client:
        data = _query(client, VIEWER_QUERY)
    viewer, organization = data.get("viewer") or {}, data.get("organization") or {}
    return f"Signed in as {viewer.get('name') or viewer.get('email') or 'the key owner'} " \
        f"in {organization.get('name') or 'the workspace'}."


TRACKER = Tracker(
    kind="linear",
    label="Linear",
    vendor=VENDOR,
    fields=FIELDS,
    fetch=fetch,
    test_connection=connection_check,
    default_status_mapping=DEFAULT_STATUS_MAPPING,
)
