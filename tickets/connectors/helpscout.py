"""Help Scout: Mailbox API 2.0 conversations modified since the cursor, with their threads.

API (developer.helpscout.com, Mailbox API 2.0):

- OAuth2 client credentials: ``POST /v2/oauth2/token`` with ``grant_type=client_credentials``,
  ``client_id`` and ``client_secret`` (form encoded) returns a bearer ``access_token`` and its
  ``expires_in`` seconds. The token is fetched on first use, again shortly before it expires, and once
  more if the API answers 401 (a token revoked early).
- ``GET /v2/conversations?status=all&modifiedSince=<ISO>&sortField=modifiedAt&sortOrder=desc&embed=threads&page=N``:
  a HAL document, conversations under ``_embedded.conversations`` (each with ``_embedded.threads``) and
  ``page.{number,totalPages,totalElements}``. Newest change first, on purpose: a conversation changed
  while the sync pages pushes the others back a place (read twice, harmless) instead of forward (skipped).
  When every page is read, the next sync asks for changes since this one started, less a margin.
- Threads: ``customer`` from the customer, ``message`` an agent's reply, ``note`` internal, ``chat`` and
  ``phone`` by their ``createdBy.type``; line items (status changes, assignments) carry no text.
- Status active → open, pending, closed; spam and deleted conversations are removed.
- Rate limits: 429 with ``X-RateLimit-Retry-After``.
- ``GET /v2/mailboxes`` for the connection test ("3 mailboxes, 12,408 conversations").
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tickets.connectors.base import (
    ApiClient,
    Connector,
    Page,
    PermanentError,
    SettingField,
    Sleep,
    html_to_text,
    import_from,
    iso_z,
    parse_time,
    require,
)
from tickets.records import MAX_BODY_CHARS, CustomerRecord, InvalidRecord, MessageRecord, TicketRecord

VENDOR = "Help Scout"
BASE_URL = "https://api.helpscout.net"
OAUTH_PATH = "/v2/oauth2/token"
OVERLAP = timedelta(minutes=5)
TOKEN_MARGIN_SECONDS = 60

STATUSES = {"active": "open", "open": "open", "pending": "pending", "closed": "closed"}
CHANNELS = {"email": "email", "chat": "chat", "phone": "phone"}

FIELDS = (
    SettingField("client_id", "App ID", "Your Profile → My Apps → Create App: the App ID.", True),
    SettingField("client_secret", "App secret", "The App Secret shown with the App ID.", True, True),
    SettingField("start_time", "Import from", "Optional. Only conversations changed since this date (2025-01-31)."),
    SettingField("base_url", "Base URL", f"Optional. Overrides {BASE_URL}, for a proxy or a test server."),
)


class _HelpScoutApi:
    """An ``ApiClient`` that holds an OAuth2 token from the client-credentials grant and renews it."""

    def __init__(self, settings: Mapping[str, Any], credentials: Mapping[str, Any], sleep: Sleep) -> None:
        self.client_id = require(settings, "client_id", "App ID")
        self.client_secret = require(credentials, "client_secret", "App secret")
        self.client = ApiClient(
            str(settings.get("base_url") or "").strip() or BASE_URL,
            vendor=VENDOR,
            headers={"Accept": "application/hal+json, application/json"},
            sleep=sleep,
            credentials_hint="the access token",
        )
        self.expires_at = 0.0

    def __enter__(self) -> _HelpScoutApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        if time.monotonic() >= self.expires_at:
            self._renew_token()
        try:
            return self.client.get_json(url, params=params)
        except PermanentError as exc:
            if exc.status != 401:
                raise
        self._renew_token()  # revoked or expired early: one new token, then a 401 is final
        return self.client.get_json(url, params=params)

    def _renew_token(self) -> None:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}
        try:
            response = self.client.request("POST", OAUTH_PATH, data=form)
        except PermanentError as exc:
            if exc.status in (400, 401, 403):
                raise PermanentError(
                    f"Help Scout rejected the App ID and App secret (HTTP {exc.status}): check them under "
                    "Your Profile → My Apps, or create a new app.",
                    status=exc.status,
                ) from None
            raise
        assert response is not None
        payload = response.json()
        token = payload.get("access_token")
        if not token:
            raise PermanentError("Help Scout's token endpoint answered without an access token.")
        self.client.set_header("Authorization", f"Bearer {token}")
        self.expires_at = time.monotonic() + max(float(payload.get("expires_in") or 0) - TOKEN_MARGIN_SECONDS, 0)


def _start(settings: Mapping[str, Any]) -> str:
    return iso_z(import_from(settings))


def fetch(
    settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep = time.sleep
) -> Iterator[Page]:
    """Pages of conversations modified since ``cursor["modified_since"]``, newest change first.

    Then the conversations marked spam since then (``status=all`` leaves them out), to remove them.
    """
    since = str(cursor.get("modified_since") or _start(settings))
    run_started = str(cursor.get("run_started") or iso_z(datetime.now(UTC)))
    resume = {"modified_since": since, "run_started": run_started}
    with _HelpScoutApi(settings, credentials, sleep) as api:
        if cursor.get("phase") != "spam":
            page_number = int(cursor.get("page", 1))
            while True:
                page, total_pages = _list(api, "all", since, page_number)
                for conversation in page.records_raw:
                    _read(conversation, page.page)
                if page_number < total_pages:
                    page_number += 1
                    page.page.cursor = {**resume, "page": page_number}
                    yield page.page
                    continue
                page.page.cursor = {**resume, "phase": "spam"}
                yield page.page
                break
        page_number = 1
        while True:
            page, total_pages = _list(api, "spam", since, page_number, embed=False)
            page.page.deleted.extend(str(c.get("id")) for c in page.records_raw)
            page.page.total = None
            if page_number < total_pages:
                page_number += 1
                page.page.cursor = {**resume, "phase": "spam"}
                yield page.page
                continue
            started = parse_time(run_started) or datetime.now(UTC)
            page.page.cursor = {"modified_since": max(since, iso_z(started - OVERLAP))}
            yield page.page
            return


class _Listing:
    def __init__(self, records_raw: list[dict[str, Any]], total: int | None) -> None:
        self.records_raw = records_raw
        self.page = Page(records=[], cursor={}, total=total)


def _list(api: _HelpScoutApi, status: str, since: str, page_number: int, embed: bool = True) -> tuple[_Listing, int]:
    params: dict[str, Any] = {
        "status": status,
        "modifiedSince": since,
        "sortField": "modifiedAt",
        "sortOrder": "desc",
        "page": page_number,
    }
    if embed:
        params["embed"] = "threads"
    payload = api.get_json("/v2/conversations", params=params)
    info = payload.get("page") or {}
    conversations = (payload.get("_embedded") or {}).get("conversations") or []
    return _Listing(conversations, info.get("totalElements")), int(info.get("totalPages") or 0)


def _read(conversation: Mapping[str, Any], page: Page) -> None:
    external_id = str(conversation.get("id"))
    if conversation.get("status") == "spam" or conversation.get("state") == "deleted":
        page.deleted.append(external_id)
        return
    try:
        page.records.append(_record(conversation))
    except (InvalidRecord, KeyError, TypeError, ValueError) as exc:
        page.rejected.append({"external_id": external_id, "reason": f"unreadable conversation: {exc}"})


def _person_name(person: Mapping[str, Any]) -> str:
    return " ".join(part for part in (person.get("first"), person.get("last")) if part).strip()[:255]


def _record(conversation: Mapping[str, Any]) -> TicketRecord:
    created_at = parse_time(conversation.get("createdAt"))
    if created_at is None:
        raise InvalidRecord("createdAt is missing")
    threads = (conversation.get("_embedded") or {}).get("threads") or []
    messages = sorted(
        (m for m in (_message(thread, created_at) for thread in threads) if m is not None),
        key=lambda m: (m.created_at, m.external_id),
    )
    if not messages:
        raise InvalidRecord("the conversation has no thread with text")
    customer = conversation.get("primaryCustomer") or {}
    status = STATUSES.get(str(conversation.get("status") or ""), "open")
    return TicketRecord(
        external_id=str(conversation["id"]),
        created_at=created_at,
        updated_at=parse_time(conversation.get("userUpdatedAt")),
        solved_at=parse_time(conversation.get("closedAt")) if status == "closed" else None,
        messages=tuple(messages),
        subject=(conversation.get("subject") or "")[:500],
        channel=CHANNELS.get(str(conversation.get("type") or ""), "other"),
        status=status,
        requester=CustomerRecord(
            external_id=str(customer["id"]),
            name=_person_name(customer),
            email=(customer.get("email") or "").lower()[:320],
        )
        if customer.get("id")
        else None,
        tags=tuple(sorted({str(tag.get("tag"))[:100] for tag in conversation.get("tags") or [] if tag.get("tag")})),
        url=f"https://secure.helpscout.net/conversation/{conversation['id']}/{conversation.get('number', '')}/",
    )


def _message(thread: Mapping[str, Any], ticket_created_at: datetime) -> MessageRecord | None:
    if thread.get("type") == "lineitem" or thread.get("state") == "draft":
        return None
    body = html_to_text(thread.get("body"))
    if not body:
        return None
    author = thread.get("createdBy") or {}
    kind = thread.get("type")
    if kind == "customer":
        role = "customer"
    elif kind in ("message", "note"):
        role = "agent"
    else:
        role = "customer" if author.get("type") == "customer" else "agent"
    return MessageRecord(
        external_id=str(thread.get("id")),
        body=body[:MAX_BODY_CHARS],
        created_at=parse_time(thread.get("createdAt")) or ticket_created_at,
        author_role=role,
        author_name=_person_name(author),
        is_public=kind != "note",
    )


def connection_check(settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep = time.sleep) -> str:
    """Checks the app's credentials; counts the mailboxes and conversations it can read."""
    with _HelpScoutApi(settings, credentials, sleep) as api:
        mailboxes = (api.get_json("/v2/mailboxes").get("page") or {}).get("totalElements")
        conversations = (api.get_json("/v2/conversations", params={"status": "all"}).get("page") or {}).get(
            "totalElements"
        )
    return f"{mailboxes or 0:,} mailboxes, {conversations or 0:,} conversations"


CONNECTOR = Connector(
    kind="helpscout", label="Help Scout", fields=FIELDS, fetch=fetch, test_connection=connection_check
)
