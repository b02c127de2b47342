"""Zammad: tickets changed since the cursor (oldest change first), each with its articles.

API (docs.zammad.org, REST API):

- ``GET /api/v1/tickets/search?query=updated_at:[<ISO> TO *]&sort_by=updated_at&order_by=asc``
  ``&page=N&per_page=100&expand=true``: an Elasticsearch query, so ticket search needs Zammad's
  Elasticsearch (every production install has it).
  ``expand=true`` names the state, priority, customer (login) and organization. Like Freshdesk, the
  connector restarts after each page at the newest ``updated_at`` it has seen (the lower bound is
  inclusive, boundary tickets are skipped), and pages on only while a whole page shares one timestamp.
- ``GET /api/v1/ticket_articles/by_ticket/{id}?expand=true``: the articles, with ``sender`` (Customer,
  Agent, System), ``type`` (email, web, phone, note, chat, sms, ...) and ``internal``.
- States: new, open, pending reminder / pending close → pending, closed and merged → closed; tickets in
  the ``removed`` state are removed.
- Auth: ``Authorization: Token token=<access token>`` (Profile → Token Access, permission ``ticket.agent``).
- ``GET /api/v1/users/me`` for the connection test.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from email.utils import parseaddr
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
    iso_z,
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

VENDOR = "Zammad"
PER_PAGE = 100
MAX_PAGES = 500
EPOCH = iso_z(IMPORT_FROM_DEFAULT)

STATES = {
    "new": "new",
    "open": "open",
    "pending reminder": "pending",
    "pending close": "pending",
    "closed": "closed",
    "merged": "closed",
}
REMOVED_STATES = {"removed"}
CHANNELS = {
    "email": "email",
    "web": "web",
    "phone": "phone",
    "chat": "chat",
    "sms": "chat",
    "telegram message": "chat",
    "twitter status": "social",
    "twitter direct-message": "social",
    "facebook feed post": "social",
    "facebook feed comment": "social",
}

FIELDS = (
    SettingField("base_url", "Zammad address", "Your Zammad's address, e.g. https://support.example.com.", True),
    SettingField(
        "access_token",
        "Access token",
        "Profile → Token Access → Create, with the permission ticket.agent.",
        True,
        True,
    ),
    SettingField("start_time", "Import from", "Optional. Only tickets changed since this date (2025-01-31)."),
)


def _client(settings: Mapping[str, Any], credentials: Mapping[str, Any], sleep: Sleep) -> ApiClient:
    token = require(credentials, "access_token", "access token")
    return ApiClient(
        require(settings, "base_url", "Zammad address"),
        vendor=VENDOR,
        headers={"Authorization": f"Token token={token}"},
        sleep=sleep,
        credentials_hint="the access token",
    )


def _start(settings: Mapping[str, Any]) -> str:
    return iso_z(import_from(settings))


def _search_params(since: str, page_number: int) -> dict[str, Any]:
    return {
        "query": f"updated_at:[{since} TO *]",
        "sort_by": "updated_at",
        "order_by": "asc",
        "page": page_number,
        "per_page": PER_PAGE,
        "expand": "true",
    }


def fetch(
    settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep = time.sleep
) -> Iterator[Page]:
    """Pages of tickets changed since ``cursor["updated_since"]``; the cursor after a page is its newest change."""
    since = str(cursor.get("updated_since") or _start(settings))
    page_number = int(cursor.get("page", 1))
    seen: set[tuple[int, str]] = set()
    with _client(settings, credentials, sleep) as client:
        base_url = client.base_url
        while True:
            tickets = client.get_json("/api/v1/tickets/search", params=_search_params(since, page_number))
            if isinstance(tickets, dict):  # an install that ignores expand answers {"tickets": [...], "assets": ...}
                tickets = list(((tickets.get("assets") or {}).get("Ticket") or {}).values())
            page = Page(records=[], cursor={})
            for ticket in tickets:
                key = (ticket["id"], _iso(ticket.get("updated_at")))
                if key in seen:
                    continue
                seen.add(key)
                _read(client, base_url, ticket, page)
            newest = _iso(tickets[-1].get("updated_at")) if tickets else since
            if len(tickets) < PER_PAGE:
                page.cursor = {"updated_since": max(newest, since)}
                yield page
                return
            if newest != since:
                since, page_number = newest, 1
            elif page_number < MAX_PAGES:
                page_number += 1
            else:
                raise ConfigurationError(
                    f"More than {MAX_PAGES * PER_PAGE:,} Zammad tickets share the update time {since}."
                )
            page.cursor = {"updated_since": since, **({"page": page_number} if page_number > 1 else {})}
            yield page


def _iso(value: Any) -> str:
    moment = parse_time(value)
    return iso_z(moment) if moment else EPOCH


def _read(client: ApiClient, base_url: str, ticket: Mapping[str, Any], page: Page) -> None:
    external_id = str(ticket["id"])
    if str(ticket.get("state") or "") in REMOVED_STATES:
        page.deleted.append(external_id)
        return
    articles = client.get_json(
        f"/api/v1/ticket_articles/by_ticket/{ticket['id']}", params={"expand": "true"}, missing_ok=True
    )
    if articles is None:
        page.deleted.append(external_id)
        return
    try:
        page.records.append(_record(base_url, ticket, articles))
    except (InvalidRecord, KeyError, TypeError, ValueError) as exc:
        page.rejected.append({"external_id": external_id, "reason": f"unreadable ticket: {exc}"})


def _record(base_url: str, ticket: Mapping[str, Any], articles: list[dict[str, Any]]) -> TicketRecord:
    created_at = parse_time(ticket.get("created_at"))
    if created_at is None:
        raise InvalidRecord("created_at is missing")
    messages = tuple(m for m in (_message(article, created_at) for article in articles) if m is not None)
    if not messages:
        raise InvalidRecord("the ticket has no article with text")
    state = str(ticket.get("state") or "open")
    status = STATES.get(state, "pending" if state.startswith("pending") else "open")
    first_type = str(articles[0].get("type") or "") if articles else ""
    login = str(ticket.get("customer") or "")
    customer_name = next(
        (parseaddr(a.get("from") or "")[0] for a in articles if a.get("sender") == "Customer" and a.get("from")), ""
    )
    organization_id = ticket.get("organization_id")
    return TicketRecord(
        external_id=str(ticket["id"]),
        created_at=created_at,
        updated_at=parse_time(ticket.get("updated_at")),
        solved_at=parse_time(ticket.get("close_at")) if status == "closed" else None,
        messages=messages,
        subject=(ticket.get("title") or "")[:500],
        channel=CHANNELS.get(first_type, "other"),
        status=status,
        priority=re.sub(r"^\d+\s*", "", str(ticket.get("priority") or ""))[:20],
        requester=CustomerRecord(
            external_id=str(ticket["customer_id"]),
            name=customer_name[:255],
            email=login.lower()[:320] if "@" in login else "",
        )
        if ticket.get("customer_id")
        else None,
        organization=OrganizationRecord(
            external_id=str(organization_id), name=str(ticket.get("organization") or organization_id)[:255]
        )
        if organization_id
        else None,
        url=f"{base_url}/#ticket/zoom/{ticket['id']}",
    )


def _message(article: Mapping[str, Any], ticket_created_at: datetime) -> MessageRecord | None:
    body = str(article.get("body") or "")
    if "html" in str(article.get("content_type") or ""):
        body = html_to_text(body)
    body = body.strip()
    if not body:
        return None
    sender = str(article.get("sender") or "")
    name = parseaddr(article.get("from") or "")[0] or str(article.get("from") or "")
    return MessageRecord(
        external_id=str(article.get("id")),
        body=body[:MAX_BODY_CHARS],
        created_at=parse_time(article.get("created_at")) or ticket_created_at,
        author_role={"Customer": "customer", "Agent": "agent", "System": "bot"}.get(sender, "customer"),
        author_name=name[:255],
        is_public=not article.get("internal", False),
    )


def connection_check(settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep = time.sleep) -> str:
    """Checks the token; says whose it is and how many tickets the search finds."""
    with _client(settings, credentials, sleep) as client:
        me = client.get_json("/api/v1/users/me")
        found = client.get_json("/api/v1/tickets/search", params={"query": "*", "limit": 1})
    name = " ".join(p for p in (me.get("firstname"), me.get("lastname")) if p) or me.get("email") or "the token's user"
    count = found.get("tickets_count") if isinstance(found, dict) else None
    return f"Signed in as {name}; {count:,} tickets" if isinstance(count, int) else f"Signed in as {name}"


CONNECTOR = Connector(kind="zammad", label="Zammad", fields=FIELDS, fetch=fetch, test_connection=connection_check)
