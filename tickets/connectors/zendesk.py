"""Zendesk Support: the cursor-based incremental ticket export, with each ticket's comments.

API (developer.zendesk.com, Ticketing API):

- ``GET /api/v2/incremental/tickets/cursor.json?start_time=<unix>`` for the first request, then
  ``?cursor=<after_cursor>`` until ``end_of_stream`` is true. The last ``after_cursor`` is kept:
  the next sync asks for what changed after it. Sideloads ``include=users,organizations,metric_sets``
  give requester names and emails, organization names, and solved time / reopen counts.
  Deleted tickets come with ``status: "deleted"``; merged tickets are closed (tag ``closed_by_merge``).
- ``GET /api/v2/tickets/{id}/comments.json?include=users`` for the conversation (cursor pagination
  with ``page[size]``, ``meta.has_more`` and ``links.next``); author roles from the sideloaded users.
- Auth: API token, HTTP Basic ``{email}/token:{api_token}``. Rate limits: 429 with ``Retry-After``.
- ``GET /api/v2/tickets/count.json`` and ``GET /api/v2/users/me.json`` for the connection test.
- ``PUT /api/v2/tickets/update_many.json?ids=1,2,3`` with ``{"ticket": {"additional_tags": [tag]}}``
  adds a tag to at most 100 tickets, keeping their other tags; Zendesk queues it as a background job
  and answers with a ``job_status`` (accepted, not yet done).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from tickets.connectors.base import (
    IMPORT_FROM_DEFAULT,
    ApiClient,
    Connector,
    Page,
    SettingField,
    Sleep,
    html_to_text,
    import_from,
    parse_time,
    require,
)
from tickets.records import (
    MAX_BODY_CHARS,
    CustomerRecord,
    InvalidRecord,
    MessageRecord,
    OrganizationRecord,
    TicketRecord,
)

VENDOR = "Zendesk"
EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
SIDELOADS = "users,organizations,metric_sets"
EXPORT_PAGE_SIZE = 1000
UPDATE_MANY_PATH = "/api/v2/tickets/update_many.json"
UPDATE_MANY_MAX_IDS = 100
COMMENTS_PAGE_SIZE = 100

STATUSES = {
    "new": "new",
    "open": "open",
    "pending": "pending",
    "hold": "pending",
    "solved": "solved",
    "closed": "closed",
}
CHANNELS = {
    "email": "email",
    "web": "web",
    "web_form": "web",
    "web_widget": "web",
    "help_center": "web",
    "mobile": "web",
    "mobile_sdk": "web",
    "chat": "chat",
    "native_messaging": "chat",
    "messaging": "chat",
    "whatsapp": "chat",
    "sms": "chat",
    "voice": "phone",
    "phone": "phone",
    "twitter": "social",
    "facebook": "social",
    "instagram_dm": "social",
    "api": "api",
}
SATISFACTION = {"good": 5, "bad": 1}

FIELDS = (
    SettingField("subdomain", "Subdomain", "The part before .zendesk.com in your help desk's address.", True),
    SettingField("email", "Agent email", "The email of the Zendesk admin or agent whose API token this is.", True),
    SettingField(
        "api_token", "API token", "Admin Center → Apps and integrations → Zendesk API → API tokens.", True, True
    ),
    SettingField(
        "start_time",
        "Import from",
        "Optional. Only tickets changed on or after this date (2025-01-31); empty imports everything.",
    ),
    SettingField(
        "base_url",
        "Base URL",
        "Optional. Overrides https://<subdomain>.zendesk.com, for a proxy or a regional endpoint.",
    ),
)


def _client(settings: Mapping[str, Any], credentials: Mapping[str, Any], sleep: Sleep) -> ApiClient:
    email = require(settings, "email", "agent email")
    token = require(credentials, "api_token", "API token")
    return ApiClient(
        _base_url(settings),
        vendor=VENDOR,
        auth=(f"{email}/token", token),
        sleep=sleep,
        credentials_hint="the API token",
    )


def _base_url(settings: Mapping[str, Any]) -> str:
    base_url = str(settings.get("base_url") or "").strip()
    if base_url:
        return base_url
    subdomain = require(settings, "subdomain", "Zendesk subdomain").removesuffix(".zendesk.com")
    return f"https://{subdomain}.zendesk.com"


def _start_time(settings: Mapping[str, Any]) -> int:
    moment = import_from(settings)
    return 0 if moment == IMPORT_FROM_DEFAULT else int(moment.timestamp())


def fetch(
    settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep = time.sleep
) -> Iterator[Page]:
    """Pages of the incremental export from ``cursor`` (``{"after_cursor": ...}``) until the end of stream."""
    with _client(settings, credentials, sleep) as client:
        after_cursor = cursor.get("after_cursor")
        while True:
            params: dict[str, Any] = {"include": SIDELOADS, "per_page": EXPORT_PAGE_SIZE}
            if after_cursor:
                params["cursor"] = after_cursor
            else:
                params["start_time"] = _start_time(settings)
            payload = client.get_json(EXPORT_PATH, params=params)
            page = _page(client, payload)
            # An empty page without a new cursor (nothing changed) keeps the one we have.
            after_cursor = payload.get("after_cursor") or after_cursor
            page.cursor = {"after_cursor": after_cursor} if after_cursor else {}
            yield page
            if payload.get("end_of_stream", True) or not payload.get("after_cursor"):
                return


def _page(client: ApiClient, payload: Mapping[str, Any]) -> Page:
    users = {user["id"]: user for user in payload.get("users") or []}
    organizations = {org["id"]: org for org in payload.get("organizations") or []}
    metrics = {metric["ticket_id"]: metric for metric in payload.get("metric_sets") or []}
    page = Page(records=[], cursor={})
    for ticket in payload.get("tickets") or []:
        external_id = str(ticket.get("id"))
        if ticket.get("status") == "deleted":
            page.deleted.append(external_id)
            continue
        comments = _comments(client, ticket["id"])
        if comments is None:  # deleted since the export was read
            page.deleted.append(external_id)
            continue
        try:
            page.records.append(
                _record(client.base_url, ticket, comments, users, organizations, metrics.get(ticket["id"]))
            )
        except (InvalidRecord, KeyError, TypeError, ValueError) as exc:
            page.rejected.append({"external_id": external_id, "reason": f"unreadable ticket: {exc}"})
    return page


def _comments(client: ApiClient, ticket_id: int) -> tuple[list[dict[str, Any]], dict[int, Any]] | None:
    """The ticket's comments and their authors, or None if the ticket is gone."""
    comments: list[dict[str, Any]] = []
    authors: dict[int, Any] = {}
    url: str | None = f"/api/v2/tickets/{ticket_id}/comments.json"
    params: dict[str, Any] | None = {"include": "users", "page[size]": COMMENTS_PAGE_SIZE}
    while url:
        payload = client.get_json(url, params=params, missing_ok=True)
        if payload is None:
            return None
        comments.extend(payload.get("comments") or [])
        authors.update({user["id"]: user for user in payload.get("users") or []})
        has_more = (payload.get("meta") or {}).get("has_more")
        url = (payload.get("links") or {}).get("next") if has_more else None
        params = None  # the next link carries them
    return comments, authors


def _record(
    base_url: str,
    ticket: Mapping[str, Any],
    conversation: tuple[list[dict[str, Any]], dict[int, Any]],
    users: Mapping[Any, Any],
    organizations: Mapping[Any, Any],
    metric: Mapping[str, Any] | None,
) -> TicketRecord:
    created_at = parse_time(ticket.get("created_at"))
    if created_at is None:
        raise InvalidRecord("created_at is missing")
    comments, authors = conversation
    messages = tuple(
        message for message in (_message(comment, {**users, **authors}, created_at) for comment in comments) if message
    )
    if not messages:
        body = (ticket.get("description") or ticket.get("subject") or "").strip()
        if not body:
            raise InvalidRecord("the ticket has neither comments nor a description")
        messages = (MessageRecord(external_id="description", body=body[:MAX_BODY_CHARS], created_at=created_at),)
    requester = users.get(ticket.get("requester_id"))
    organization_id = ticket.get("organization_id")
    organization = organizations.get(organization_id) if organization_id else None
    channel = ((ticket.get("via") or {}).get("channel") or "").lower()
    solved_at = parse_time((metric or {}).get("solved_at"))
    return TicketRecord(
        external_id=str(ticket["id"]),
        created_at=created_at,
        updated_at=parse_time(ticket.get("updated_at")),
        solved_at=solved_at if ticket.get("status") in {"solved", "closed"} else None,
        messages=messages,
        subject=(ticket.get("subject") or ticket.get("raw_subject") or "")[:500],
        channel=CHANNELS.get(channel, "other"),
        status=STATUSES.get(ticket.get("status") or "", "open"),
        priority=(ticket.get("priority") or "")[:20],
        requester=_customer(ticket.get("requester_id"), requester),
        organization=_organization(organization_id, organization),
        reopen_count=int((metric or {}).get("reopens") or 0),
        tags=tuple(sorted({str(tag)[:100] for tag in ticket.get("tags") or [] if tag})),
        csat=SATISFACTION.get((ticket.get("satisfaction_rating") or {}).get("score") or ""),
        url=f"{base_url}/agent/tickets/{ticket['id']}",
    )


def _organization(organization_id: Any, organization: Mapping[str, Any] | None) -> OrganizationRecord | None:
    if not organization_id:
        return None
    return OrganizationRecord(
        external_id=str(organization_id), name=((organization or {}).get("name") or str(organization_id))[:255]
    )


def _customer(requester_id: Any, user: Mapping[str, Any] | None) -> CustomerRecord | None:
    if not requester_id:
        return None
    user = user or {}
    return CustomerRecord(
        external_id=str(requester_id),
        name=(user.get("name") or "")[:255],
        email=(user.get("email") or "").lower()[:320],
    )


def _message(comment: Mapping[str, Any], users: Mapping[Any, Any], ticket_created_at: datetime) -> MessageRecord | None:
    body = comment.get("plain_body") or comment.get("body") or html_to_text(comment.get("html_body"))
    body = (body or "").strip()
    if not body:
        return None
    author = users.get(comment.get("author_id")) or {}
    role = author.get("role")
    return MessageRecord(
        external_id=str(comment.get("id")),
        body=body[:MAX_BODY_CHARS],
        created_at=parse_time(comment.get("created_at")) or ticket_created_at,
        author_role="customer" if role in (None, "end-user") else "agent",
        author_name=(author.get("name") or "")[:255],
        is_public=bool(comment.get("public", True)),
    )


def connection_check(settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep = time.sleep) -> str:
    """Checks the token can read tickets; says who it is and how many tickets there are."""
    with _client(settings, credentials, sleep) as client:
        me = client.get_json("/api/v2/users/me.json").get("user") or {}
        count = (client.get_json("/api/v2/tickets/count.json").get("count") or {}).get("value")
    who = f"Signed in as {me.get('name') or me.get('email') or 'the API user'} ({me.get('role') or 'unknown role'})"
    return f"{who}; {count:,} tickets" if isinstance(count, int) else who


def tag_tickets(
    settings: Mapping[str, Any],
    credentials: Mapping[str, Any],
    external_ids: list[str],
    tag: str,
    *,
    sleep: Sleep = time.sleep,
) -> int:
    """Add ``tag`` to the tickets (their other tags stay), 100 per bulk update; returns how many were sent.

    Each bulk update is a background job in Zendesk: an accepted request counts its tickets as tagged.
    """
    ids = sorted({str(external_id) for external_id in external_ids if str(external_id).strip()}, key=_id_order)
    tagged = 0
    with _client(settings, credentials, sleep) as client:
        for start in range(0, len(ids), UPDATE_MANY_MAX_IDS):
            chunk = ids[start : start + UPDATE_MANY_MAX_IDS]
            client.request(
                "PUT", UPDATE_MANY_PATH, params={"ids": ",".join(chunk)},
                json={"ticket": {"additional_tags": [tag]}},
            )
            tagged += len(chunk)
    return tagged


def _id_order(external_id: str) -> tuple[int, str]:
    return (int(external_id), "") if external_id.isdigit() else (0, external_id)


CONNECTOR = Connector(
    kind="zendesk",
    label="Zendesk Support",
    fields=FIELDS,
    fetch=fetch,
    test_connection=connection_check,
    tag_tickets=tag_tickets,
)
