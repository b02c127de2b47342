"""Freshdesk: tickets by ``updated_since``, oldest change first, with their conversations.

API (developers.freshdesk.com, API v2):

- ``GET /api/v2/tickets?updated_since=<ISO>&order_by=updated_at&order_type=asc&per_page=100&page=N``
  with ``include=requester,description,company,stats`` (requester name and email, the first message as
  ``description_text``, the company's name, resolved and closed times). Without ``updated_since`` only
  the last 30 days are listed. At most 300 pages are served for one query, so the connector never
  pages deep: after each page it restarts at the newest ``updated_at`` it has seen (``updated_since``
  is inclusive, so the boundary tickets come again and are skipped), and pages on only while a whole
  page shares one timestamp.
- ``GET /api/v2/tickets/{id}/conversations?per_page=100&page=N``: replies and notes, followed through the
  ``Link: <…>; rel="next"`` header. ``incoming`` marks the customer's messages, ``private`` notes.
- Status 2 open, 3 pending, 4 resolved, 5 closed (higher numbers are custom "waiting" states);
  priority 1-4 low to urgent; source 1 email, 2 portal, 3 phone, 7 chat, 9 feedback widget, 10 outbound
  email. The listing leaves spam and deleted tickets out; ``filter=spam`` and ``filter=deleted`` list
  them (newest change first), and the tickets found there are removed.
- Auth: HTTP Basic with the API key as user name and ``X`` as password. Rate limits: 429 with
  ``Retry-After``; ``X-RateLimit-Remaining`` per minute.
- ``GET /api/v2/agents/me`` for the connection test.
- Tagging (closing the loop on a shipped backlog item): ``PUT /api/v2/tickets/{id}`` with ``tags``
  replaces a ticket's tags, so each ticket's tags are read first (``GET /api/v2/tickets/{id}``) and
  the new one is added to them; a ticket that has it already is left alone, a deleted one skipped.
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
    iso_z,
    next_link,
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

VENDOR = "Freshdesk"
PER_PAGE = 100
MAX_PAGES = 300
EPOCH = iso_z(IMPORT_FROM_DEFAULT)
INCLUDE = "requester,description,company,stats"
REMOVED_FILTERS = ("spam", "deleted")

STATUSES = {2: "open", 3: "pending", 4: "solved", 5: "closed"}
PRIORITIES = {1: "low", 2: "medium", 3: "high", 4: "urgent"}
CHANNELS = {1: "email", 2: "web", 3: "phone", 5: "social", 6: "social", 7: "chat", 9: "web", 10: "email"}

FIELDS = (
    SettingField("domain", "Helpdesk domain", "yourcompany.freshdesk.com (or just yourcompany).", True),
    SettingField(
        "api_key", "API key", "Profile settings → View API key, of an agent who sees all tickets.", True, True
    ),
    SettingField("start_time", "Import from", "Optional. Only tickets changed since this date (2025-01-31)."),
    SettingField("base_url", "Base URL", "Optional. Overrides https://<domain>, for a proxy or a test server."),
)


def _base_url(settings: Mapping[str, Any]) -> str:
    base_url = str(settings.get("base_url") or "").strip()
    if base_url:
        return base_url
    domain = require(settings, "domain", "Freshdesk domain").removeprefix("https://").strip("/")
    return f"https://{domain if '.' in domain else domain + '.freshdesk.com'}"


def _client(settings: Mapping[str, Any], credentials: Mapping[str, Any], sleep: Sleep) -> ApiClient:
    api_key = require(credentials, "api_key", "API key")
    return ApiClient(
        _base_url(settings), vendor=VENDOR, auth=(api_key, "X"), sleep=sleep, credentials_hint="the API key"
    )


def _start(settings: Mapping[str, Any]) -> str:
    return iso_z(import_from(settings))


def fetch(
    settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep = time.sleep
) -> Iterator[Page]:
    """Pages of tickets changed since ``cursor["updated_since"]``; the cursor after a page is its newest change.

    The listing leaves out spam and deleted tickets, so a last step lists those two filters (newest
    change first, down to where this sync started) and removes them here too.
    """
    base_url = _base_url(settings)
    since = str(cursor.get("updated_since") or _start(settings))
    removed_since = str(cursor.get("removed_since") or since)
    with _client(settings, credentials, sleep) as client:
        if cursor.get("phase") != "removed":
            for page in _changed(client, base_url, since, int(cursor.get("page", 1))):
                page.cursor = {**page.cursor, "removed_since": removed_since}
                if page.cursor.pop("last", False):
                    since = page.cursor["updated_since"]
                    page.cursor["phase"] = "removed"
                yield page
        page = Page(records=[], cursor={"updated_since": since})
        for name in REMOVED_FILTERS:
            page.deleted.extend(_removed(client, name, removed_since))
        yield page


def _changed(client: ApiClient, base_url: str, since: str, page_number: int) -> Iterator[Page]:
    # (id, updated_at) already read in this run: the boundary tickets a restart at ``since`` returns again.
    seen: set[tuple[int, str]] = set()
    while True:
        tickets = client.get_json("/api/v2/tickets", params=_list_params(since, page_number))
        page = Page(records=[], cursor={})
        for ticket in tickets:
            key = (ticket["id"], str(ticket.get("updated_at")))
            if key in seen:
                continue
            seen.add(key)
            _read(client, base_url, ticket, page)
        newest = str(tickets[-1].get("updated_at")) if tickets else since
        if len(tickets) < PER_PAGE:
            page.cursor = {"updated_since": max(newest, since), "last": True}
            yield page
            return
        if newest != since:
            since, page_number = newest, 1
        elif page_number < MAX_PAGES:
            page_number += 1  # a whole page changed in the same second: page on within it
        else:
            raise ConfigurationError(
                f"More than {MAX_PAGES * PER_PAGE:,} Freshdesk tickets share the update time {since}; "
                "the API cannot list them all."
            )
        page.cursor = {"updated_since": since, **({"page": page_number} if page_number > 1 else {})}
        yield page


def _removed(client: ApiClient, name: str, since: str) -> list[str]:
    """Ids of the tickets in the ``spam`` or ``deleted`` view changed since ``since``."""
    ids: list[str] = []
    for page_number in range(1, MAX_PAGES + 1):
        params = {"filter": name, "order_by": "updated_at", "order_type": "desc", "per_page": PER_PAGE}
        tickets = client.get_json("/api/v2/tickets", params={**params, "page": page_number})
        recent = [t for t in tickets if str(t.get("updated_at")) >= since]
        ids.extend(str(t["id"]) for t in recent)
        if len(tickets) < PER_PAGE or len(recent) < len(tickets):
            break
    return ids


def _list_params(since: str, page_number: int, per_page: int | None = None) -> dict[str, Any]:
    return {
        "updated_since": since,
        "order_by": "updated_at",
        "order_type": "asc",
        "per_page": per_page or PER_PAGE,
        "page": page_number,
        "include": INCLUDE,
    }


def _read(client: ApiClient, base_url: str, ticket: Mapping[str, Any], page: Page) -> None:
    external_id = str(ticket["id"])
    if ticket.get("spam") or ticket.get("deleted"):
        page.deleted.append(external_id)
        return
    conversations = _conversations(client, ticket["id"])
    if conversations is None:
        page.deleted.append(external_id)
        return
    try:
        page.records.append(_record(base_url, ticket, conversations))
    except (InvalidRecord, KeyError, TypeError, ValueError) as exc:
        page.rejected.append({"external_id": external_id, "reason": f"unreadable ticket: {exc}"})


def _conversations(client: ApiClient, ticket_id: int) -> list[dict[str, Any]] | None:
    conversations: list[dict[str, Any]] = []
    url: str | None = f"/api/v2/tickets/{ticket_id}/conversations"
    params: dict[str, Any] | None = {"per_page": PER_PAGE}
    while url:
        response = client.request("GET", url, params=params, missing_ok=True)
        if response is None:
            return None
        conversations.extend(response.json())
        url, params = next_link(response.headers), None
    return conversations


def _record(base_url: str, ticket: Mapping[str, Any], conversations: list[dict[str, Any]]) -> TicketRecord:
    created_at = parse_time(ticket.get("created_at"))
    if created_at is None:
        raise InvalidRecord("created_at is missing")
    requester = ticket.get("requester") or {}
    requester_name = (requester.get("name") or "")[:255]
    first = (ticket.get("description_text") or html_to_text(ticket.get("description")) or "").strip()
    messages = (
        [
            MessageRecord(
                external_id="description",
                body=first[:MAX_BODY_CHARS],
                created_at=created_at,
                author_name=requester_name,
            )
        ]
        if first
        else []
    )
    messages.extend(m for m in (_message(c, created_at) for c in conversations) if m is not None)
    if not messages:
        raise InvalidRecord("the ticket has no description and no conversation")
    status = STATUSES.get(ticket.get("status") or 0, "pending")  # custom statuses are waiting states
    stats = ticket.get("stats") or {}
    company = ticket.get("company") or {}
    company_id = ticket.get("company_id")
    return TicketRecord(
        external_id=str(ticket["id"]),
        created_at=created_at,
        updated_at=parse_time(ticket.get("updated_at")),
        solved_at=parse_time(stats.get("resolved_at") or stats.get("closed_at"))
        if status in {"solved", "closed"}
        else None,
        messages=tuple(messages),
        subject=(ticket.get("subject") or "")[:500],
        channel=CHANNELS.get(ticket.get("source") or 0, "other"),
        status=status,
        priority=PRIORITIES.get(ticket.get("priority") or 0, ""),
        requester=CustomerRecord(
            external_id=str(ticket["requester_id"]),
            name=requester_name,
            email=(requester.get("email") or "").lower()[:320],
        )
        if ticket.get("requester_id")
        else None,
        organization=OrganizationRecord(
            external_id=str(company_id), name=(company.get("name") or str(company_id))[:255]
        )
        if company_id
        else None,
        tags=tuple(sorted({str(tag)[:100] for tag in ticket.get("tags") or [] if tag})),
        url=f"{base_url}/a/tickets/{ticket['id']}",
    )


def _message(conversation: Mapping[str, Any], ticket_created_at: datetime) -> MessageRecord | None:
    body = (conversation.get("body_text") or html_to_text(conversation.get("body")) or "").strip()
    if not body:
        return None
    return MessageRecord(
        external_id=str(conversation.get("id")),
        body=body[:MAX_BODY_CHARS],
        created_at=parse_time(conversation.get("created_at")) or ticket_created_at,
        author_role="customer" if conversation.get("incoming") else "agent",
        is_public=not conversation.get("private", False),
    )


def connection_check(settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep = time.sleep) -> str:
    """Checks the API key reads tickets; says whose key it is."""
    with _client(settings, credentials, sleep) as client:
        me = client.get_json("/api/v2/agents/me")
        client.get_json("/api/v2/tickets", params=_list_params(EPOCH, 1, per_page=1))
    contact = me.get("contact") or {}
    return f"Signed in as {contact.get('name') or contact.get('email') or 'the agent'}; tickets are readable"


def tag_tickets(
    settings: Mapping[str, Any],
    credentials: Mapping[str, Any],
    external_ids: list[str],
    tag: str,
    *,
    sleep: Sleep = time.sleep,
) -> int:
    """Add ``tag`` to each ticket, keeping its other tags; returns how many tickets carry it now.

    Two requests per ticket (Freshdesk has no "add a tag" update); tickets deleted meanwhile are skipped.
    """
    tagged = 0
    with _client(settings, credentials, sleep) as client:
        for external_id in dict.fromkeys(str(external_id) for external_id in external_ids):
            ticket = client.get_json(f"/api/v2/tickets/{external_id}", missing_ok=True)
            if ticket is None:
                continue
            tags = [str(existing) for existing in ticket.get("tags") or []]
            if tag not in tags:
                updated = client.request("PUT", f"/api/v2/tickets/{external_id}", json={"tags": [*tags, tag]},
                                         missing_ok=True)
                if updated is None:
                    continue
            tagged += 1
    return tagged


CONNECTOR = Connector(
    kind="freshdesk",
    label="Freshdesk",
    fields=FIELDS,
    fetch=fetch,
    test_connection=connection_check,
    tag_tickets=tag_tickets,
)
