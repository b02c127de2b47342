"""Intercom: conversations changed since the cursor, each with its conversation parts.

API (developers.intercom.com, REST API 2.x):

- ``POST /conversations/search`` with ``{"query": {"field": "updated_at", "operator": ">", "value": <unix>},
  "pagination": {"per_page": 150, "starting_after": ...}}``; the response's ``pages.next.starting_after``
  names the next page, ``total_count`` how many match.
- ``GET /conversations/{id}?display_as=plaintext`` for the conversation with its ``conversation_parts``
  (comments are public, notes internal; assignments and other events without a body are skipped).
- Auth: ``Authorization: Bearer <access token>``, with an ``Intercom-Version`` header. Rate limits:
  429 with ``X-RateLimit-Reset`` (epoch seconds). Regional workspaces use api.eu.intercom.io or
  api.au.intercom.io.
- ``GET /me`` for the connection test.

The search is not ordered, so the cursor keeps the query's lower bound and the page token while a
sync runs; at its end the bound moves to the newest change seen (never past the sync's own start,
less a margin for clock skew), so a conversation changed during a sync is read again next time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from tickets.connectors.base import (
    IMPORT_FROM_DEFAULT,
    ApiClient,
    ConfigurationError,
    Connector,
    Page,
    SettingField,
    Sleep,
    html_to_text,
    import_from,
    parse_time,
    require,
)
from tickets.records import MAX_BODY_CHARS, CustomerRecord, InvalidRecord, MessageRecord, TicketRecord

VENDOR = "Intercom"
API_VERSION = "2.11"
REGIONS = {"us": "https://api.intercom.io", "eu": "https://api.eu.intercom.io", "au": "https://api.au.intercom.io"}
PER_PAGE = 150
OVERLAP_SECONDS = 300

STATES = {"open": "open", "closed": "closed", "snoozed": "pending"}
CHANNELS = {
    "conversation": "chat",
    "chat": "chat",
    "push": "chat",
    "whatsapp": "chat",
    "sms": "chat",
    "email": "email",
    "phone_call": "phone",
    "phone": "phone",
    "call": "phone",
    "facebook": "social",
    "twitter": "social",
    "instagram": "social",
    "api": "api",
}
CUSTOMER_TYPES = {"user", "lead", "contact"}
AGENT_TYPES = {"admin", "team"}

FIELDS = (
    SettingField(
        "access_token",
        "Access token",
        "From the Developer Hub: your app → Authentication. Needs read access to conversations.",
        True,
        True,
    ),
    SettingField("region", "Data region", "us (default), eu or au: where your Intercom workspace is hosted."),
    SettingField("start_time", "Import from", "Optional. Only conversations changed after this date (2025-01-31)."),
    SettingField("api_version", "API version", f"Optional. The Intercom-Version header; default {API_VERSION}."),
    SettingField("base_url", "Base URL", "Optional. Overrides the regional API address, e.g. for a proxy."),
)


def _client(settings: Mapping[str, Any], credentials: Mapping[str, Any], sleep: Sleep) -> ApiClient:
    token = require(credentials, "access_token", "access token")
    region = str(settings.get("region") or "us").strip().lower()
    if region not in REGIONS:
        raise ConfigurationError(f"The data region {region!r} is not one of us, eu, au.")
    return ApiClient(
        str(settings.get("base_url") or "").strip() or REGIONS[region],
        vendor=VENDOR,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Intercom-Version": str(settings.get("api_version") or API_VERSION),
        },
        sleep=sleep,
        credentials_hint="the access token",
    )


def _start_time(settings: Mapping[str, Any]) -> int:
    moment = import_from(settings)
    return 0 if moment == IMPORT_FROM_DEFAULT else int(moment.timestamp())


def _search_body(updated_after: int, starting_after: str | None, per_page: int = PER_PAGE) -> dict[str, Any]:
    pagination: dict[str, Any] = {"per_page": per_page}
    if starting_after:
        pagination["starting_after"] = starting_after
    return {"query": {"field": "updated_at", "operator": ">", "value": updated_after}, "pagination": pagination}


def fetch(
    settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep = time.sleep
) -> Iterator[Page]:
    """Pages of conversations updated after ``cursor["updated_after"]`` (Unix seconds)."""
    started = int(time.time())
    updated_after = int(cursor.get("updated_after", _start_time(settings)))
    starting_after = cursor.get("starting_after")
    high_water = int(cursor.get("high_water", updated_after))
    with _client(settings, credentials, sleep) as client:
        while True:
            payload = client.post_json("/conversations/search", body=_search_body(updated_after, starting_after))
            page = Page(records=[], cursor={}, total=payload.get("total_count"))
            for summary in payload.get("conversations") or []:
                high_water = max(high_water, int(summary.get("updated_at") or 0))
                conversation = client.get_json(
                    f"/conversations/{summary['id']}", params={"display_as": "plaintext"}, missing_ok=True
                )
                if conversation is None:  # deleted since the search
                    page.deleted.append(str(summary["id"]))
                    continue
                try:
                    page.records.append(_record(conversation))
                except (InvalidRecord, KeyError, TypeError, ValueError) as exc:
                    page.rejected.append({"external_id": str(summary.get("id")), "reason": f"unreadable: {exc}"})
            starting_after = ((payload.get("pages") or {}).get("next") or {}).get("starting_after")
            if starting_after:
                page.cursor = {
                    "updated_after": updated_after,
                    "starting_after": starting_after,
                    "high_water": high_water,
                }
                yield page
                continue
            page.cursor = {"updated_after": max(updated_after, min(high_water, started) - OVERLAP_SECONDS)}
            yield page
            return


def _record(conversation: Mapping[str, Any]) -> TicketRecord:
    created_at = parse_time(conversation.get("created_at"))
    if created_at is None:
        raise InvalidRecord("created_at is missing")
    source = conversation.get("source") or {}
    first = _message(source, created_at, default_id=f"source-{source.get('id') or conversation['id']}")
    parts = (conversation.get("conversation_parts") or {}).get("conversation_parts") or []
    messages = tuple(m for m in (first, *(_part(part, created_at) for part in parts)) if m is not None)
    if not messages:
        raise InvalidRecord("the conversation has no message with text")
    subject = html_to_text(source.get("subject")) or (conversation.get("title") or "")
    rating = (conversation.get("conversation_rating") or {}).get("rating")
    return TicketRecord(
        external_id=str(conversation["id"]),
        created_at=created_at,
        updated_at=parse_time(conversation.get("updated_at")),
        solved_at=(
            parse_time((conversation.get("statistics") or {}).get("last_close_at"))
            if conversation.get("state") == "closed"
            else None
        ),
        messages=messages,
        subject=subject[:500],
        channel=CHANNELS.get(str(source.get("type") or "").lower(), "other"),
        status=STATES.get(str(conversation.get("state") or ""), "open"),
        priority="high" if conversation.get("priority") == "priority" else "",
        requester=_requester(conversation),
        tags=tuple(sorted({str(t.get("name"))[:100] for t in (conversation.get("tags") or {}).get("tags") or []})),
        csat=rating if isinstance(rating, int) and 1 <= rating <= 5 else None,
    )


def _requester(conversation: Mapping[str, Any]) -> CustomerRecord | None:
    author = (conversation.get("source") or {}).get("author") or {}
    if author.get("type") in CUSTOMER_TYPES and author.get("id"):
        return CustomerRecord(
            external_id=str(author["id"]),
            name=(author.get("name") or "")[:255],
            email=(author.get("email") or "").lower()[:320],
        )
    contacts = (conversation.get("contacts") or {}).get("contacts") or []
    if contacts and contacts[0].get("id"):
        return CustomerRecord(external_id=str(contacts[0]["id"]))
    return None


def _role(author: Mapping[str, Any]) -> str:
    kind = author.get("type")
    if kind in AGENT_TYPES:
        return "agent"
    if kind == "bot":
        return "bot"
    return "customer"


def _message(item: Mapping[str, Any], ticket_created_at: datetime, default_id: str) -> MessageRecord | None:
    body = html_to_text(item.get("body"))
    if not body:
        return None
    author = item.get("author") or {}
    return MessageRecord(
        external_id=default_id,
        body=body[:MAX_BODY_CHARS],
        created_at=parse_time(item.get("created_at")) or ticket_created_at,
        author_role=_role(author),
        author_name=(author.get("name") or "")[:255],
        is_public=item.get("part_type") != "note",
    )


def _part(part: Mapping[str, Any], ticket_created_at: datetime) -> MessageRecord | None:
    return _message(part, ticket_created_at, default_id=str(part.get("id")))


def connection_check(settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep = time.sleep) -> str:
    """Checks the token reads conversations; says whose workspace it is and how many conversations it has."""
    with _client(settings, credentials, sleep) as client:
        me = client.get_json("/me")
        found = client.post_json("/conversations/search", body=_search_body(0, None, per_page=1))
    workspace = (me.get("app") or {}).get("name")
    who = f"Signed in as {me.get('name') or me.get('email') or 'the app'}" + (f" to {workspace}" if workspace else "")
    total = found.get("total_count")
    return f"{who}; {total:,} conversations" if isinstance(total, int) else who


CONNECTOR = Connector(kind="intercom", label="Intercom", fields=FIELDS, fetch=fetch, test_connection=connection_check)
