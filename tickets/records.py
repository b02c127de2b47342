"""Normalized records: the one shape every connector, upload and API call hands to ingestion.

A connector turns its vendor's payloads into ``TicketRecord`` objects (directly, or through
``ticket_record_from_dict`` when its data is already a flat mapping such as a CSV row, a JSONL
line, an API body or a webhook delivery). ``tickets.services.ingest_records`` persists them.

The mapping form, documented for users in the README ("Bringing tickets in"):

======================  ==========================================================================
``external_id``         required; the ticket's id in the source, unique per source
``body``                required unless ``messages`` is given: the customer's first message
``created_at``          required; ISO 8601 (``2026-03-01T09:30:00Z``) or Unix seconds; naive = UTC
``subject``             optional
``requester_email``     optional; with ``requester_name`` / ``requester_id`` identifies the customer
``organization``        optional organization name; ``organization_id`` if the source has ids
``plan``, ``arr``       optional; the organization's plan and annual recurring revenue
``channel``             email, chat, phone, web, social, api or other (common synonyms accepted)
``status``              new, open, pending, solved or closed (common synonyms accepted)
``tags``                a list, or one string separated by commas, semicolons or pipes
``csat``                1-5
``updated_at``, ``solved_at``, ``priority``, ``language``, ``url``, ``reopen_count``
``messages``            a list (a JSON array in CSV) of ``{external_id, author_role, author_name,
                        body, created_at, public}``; only ``body`` is required in each
======================  ==========================================================================
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, is_dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_BODY_CHARS = 100_000
MAX_MESSAGES = 500
MAX_ID_CHARS = 255

CHANNEL_SYNONYMS = {
    "email": "email", "e-mail": "email", "mail": "email",
    "chat": "chat", "livechat": "chat", "live_chat": "chat", "messenger": "chat", "conversation": "chat",
    "whatsapp": "chat", "sms": "chat",
    "phone": "phone", "voice": "phone", "call": "phone",
    "web": "web", "form": "web", "web_form": "web", "webform": "web", "portal": "web",
    "social": "social", "twitter": "social", "facebook": "social", "instagram": "social",
    "api": "api", "other": "other", "": "other",
}
STATUS_SYNONYMS = {
    "new": "new",
    "open": "open", "active": "open", "reopened": "open",
    "pending": "pending", "hold": "pending", "on-hold": "pending", "on_hold": "pending", "waiting": "pending",
    "solved": "solved", "resolved": "solved",
    "closed": "closed",
}
AUTHOR_ROLES = {"customer", "agent", "bot"}
AUTHOR_ROLE_SYNONYMS = {"user": "customer", "requester": "customer", "contact": "customer",
                        "end-user": "customer", "admin": "agent", "staff": "agent", "operator": "agent",
                        "system": "bot", "automation": "bot"}
_TAG_SEPARATORS = re.compile(r"[,;|]")
_SURROGATES = re.compile("[\ud800-\udfff]")


class InvalidRecord(ValueError):
    """A record that cannot be imported; the message says why, in words a user can act on."""


@dataclass(frozen=True, slots=True)
class OrganizationRecord:
    external_id: str
    name: str
    plan: str = ""
    arr: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    external_id: str
    name: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class MessageRecord:
    external_id: str
    body: str
    created_at: datetime
    author_role: str = "customer"
    author_name: str = ""
    is_public: bool = True


@dataclass(frozen=True, slots=True)
class TicketRecord:
    """A ticket or chat conversation with everything ingestion needs to store it."""

    external_id: str
    created_at: datetime
    messages: tuple[MessageRecord, ...]
    subject: str = ""
    channel: str = "other"
    status: str = "open"
    priority: str = ""
    requester: CustomerRecord | None = None
    organization: OrganizationRecord | None = None
    updated_at: datetime | None = None
    solved_at: datetime | None = None
    reopen_count: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)
    csat: int | None = None
    language: str = ""
    url: str = ""

    def content_hash(self) -> str:
        """A digest of every field: equal digests mean a re-import would change nothing."""
        payload = json.dumps(_plain(self), sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


def _plain(value: Any) -> Any:
    """``dataclasses.asdict`` without its deep copies (the hash is ingestion's biggest cost)."""
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if is_dataclass(value):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def ticket_record_from_dict(data: Mapping[str, Any]) -> TicketRecord:
    """Validate one mapping of the documented form and return its record.

    Raises ``InvalidRecord`` naming the first field that is wrong. Empty strings count as absent,
    so CSV cells and JSON keys behave alike.
    """
    external_id = _required_text(data, "external_id", MAX_ID_CHARS)
    created_at = _timestamp(data.get("created_at"), "created_at", required=True)
    assert created_at is not None
    messages = _messages(data.get("messages"), created_at)
    if not messages:
        body = _required_text(data, "body", MAX_BODY_CHARS, hint="(or a non-empty messages list)")
        messages = (MessageRecord(external_id="body", body=body, created_at=created_at),)
    return TicketRecord(
        external_id=external_id,
        created_at=created_at,
        messages=messages,
        subject=_text(data.get("subject"))[:500],
        channel=_choice(data.get("channel"), "channel", CHANNEL_SYNONYMS, default="other"),
        status=_choice(data.get("status"), "status", STATUS_SYNONYMS, default="open"),
        priority=_text(data.get("priority"))[:20],
        requester=_requester(data),
        organization=_organization(data),
        updated_at=_timestamp(data.get("updated_at"), "updated_at"),
        solved_at=_timestamp(data.get("solved_at"), "solved_at"),
        reopen_count=_integer(data.get("reopen_count"), "reopen_count", 0, 1000) or 0,
        tags=_tags(data.get("tags")),
        csat=_integer(data.get("csat"), "csat", 1, 5),
        language=_text(data.get("language"))[:16],
        url=_url(data.get("url")),
    )


def storable_text(text: str) -> str:
    """``text`` as every database stores it: without NUL characters (PostgreSQL refuses them) and
    with each unpaired UTF-16 surrogate (JSON's ``"\\ud800"``, not encodable as UTF-8) made U+FFFD."""
    text = text.replace("\x00", "")
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise InvalidRecord(f"expected text, got a JSON {type(value).__name__}")
    return storable_text(str(value)).strip()


def _required_text(data: Mapping[str, Any], name: str, max_chars: int, hint: str = "") -> str:
    value = _text(data.get(name))
    if not value:
        raise InvalidRecord(f"{name} is required{' ' + hint if hint else ''}")
    if len(value) > max_chars:
        raise InvalidRecord(f"{name} is {len(value):,} characters long; the limit is {max_chars:,}")
    return value


def _timestamp(value: Any, name: str, required: bool = False) -> datetime | None:
    if value is None or value == "":
        if required:
            raise InvalidRecord(f"{name} is required")
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"\d{9,11}", value)):
            return datetime.fromtimestamp(float(value), tz=UTC)
        parsed = datetime.fromisoformat(str(value).strip())
        # In UTC inside the try: an offset can carry a time at the calendar's edge past year 9999.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidRecord(
            f"{name} {str(value)[:40]!r} is not a date; use ISO 8601 like 2026-03-01T09:30:00Z"
        ) from None


def _choice(value: Any, name: str, synonyms: Mapping[str, str], default: str) -> str:
    key = _text(value).lower().replace(" ", "_")
    if not key:
        return default
    if key not in synonyms:
        allowed = ", ".join(sorted(set(synonyms.values())))
        raise InvalidRecord(f"{name} {key!r} is not one of {allowed}")
    return synonyms[key]


def _integer(value: Any, name: str, low: int, high: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
        if isinstance(value, bool) or number != int(number):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise InvalidRecord(f"{name} {str(value)[:20]!r} is not a whole number") from None
    if not low <= number <= high:
        raise InvalidRecord(f"{name} {int(number)} is outside {low}-{high}")
    return int(number)


def _decimal(value: Any, name: str) -> Decimal | None:
    text = _text(value).replace(",", "").replace("$", "").replace("€", "").replace("£", "").strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidRecord(f"{name} {str(value)[:20]!r} is not a number") from None
    if not number.is_finite() or number < 0 or number >= Decimal("1e12"):
        raise InvalidRecord(f"{name} {str(value)[:20]!r} must be between 0 and 1,000,000,000,000")
    return number.quantize(Decimal("0.01"))


def _tags(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value if isinstance(value, list) else _TAG_SEPARATORS.split(_text(value))
    tags = {_text(item)[:100] for item in items}
    return tuple(sorted(tag for tag in tags if tag))


def _url(value: Any) -> str:
    url = _text(value)
    if url and not re.match(r"https?://", url):
        raise InvalidRecord(f"url {url[:40]!r} must start with http:// or https://")
    return url[:500]


def _requester(data: Mapping[str, Any]) -> CustomerRecord | None:
    email = _text(data.get("requester_email")).lower()[:320]
    name = _text(data.get("requester_name"))[:255]
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
        raise InvalidRecord(f"requester_email {email[:40]!r} is not an email address")
    external_id = _text(data.get("requester_id"))[:MAX_ID_CHARS] or email or name
    if not external_id:
        return None
    return CustomerRecord(external_id=external_id, name=name, email=email)


def _organization(data: Mapping[str, Any]) -> OrganizationRecord | None:
    name = _text(data.get("organization"))[:255]
    external_id = _text(data.get("organization_id"))[:MAX_ID_CHARS] or name
    if not external_id:
        return None
    return OrganizationRecord(
        external_id=external_id,
        name=name or external_id,
        plan=_text(data.get("plan"))[:100],
        arr=_decimal(data.get("arr"), "arr"),
    )


def _messages(value: Any, ticket_created_at: datetime) -> tuple[MessageRecord, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidRecord("messages is not valid JSON (expected an array of objects)") from None
        except RecursionError:
            raise InvalidRecord("messages is JSON nested too deeply (expected an array of objects)") from None
    if not isinstance(value, list):
        raise InvalidRecord("messages must be an array of objects")
    if len(value) > MAX_MESSAGES:
        raise InvalidRecord(f"messages has {len(value):,} entries; the limit is {MAX_MESSAGES}")
    return tuple(_message(item, index, ticket_created_at) for index, item in enumerate(value))


def _message(item: Any, index: int, ticket_created_at: datetime) -> MessageRecord:
    if not isinstance(item, Mapping):
        raise InvalidRecord(f"messages[{index}] must be an object")
    try:
        body = _required_text(item, "body", MAX_BODY_CHARS)
        role = _text(item.get("author_role") or item.get("role") or "customer").lower()
        role = AUTHOR_ROLE_SYNONYMS.get(role, role)
        if role not in AUTHOR_ROLES:
            raise InvalidRecord(f"author_role {role!r} is not one of agent, bot, customer")
        public = item.get("public", True)
        return MessageRecord(
            external_id=_text(item.get("external_id"))[:MAX_ID_CHARS] or str(index),
            body=body,
            created_at=_timestamp(item.get("created_at"), "created_at") or ticket_created_at,
            author_role=role,
            author_name=_text(item.get("author_name"))[:255],
            is_public=public not in (False, "false", "0", 0, "no"),
        )
    except InvalidRecord as exc:
        raise InvalidRecord(f"messages[{index}]: {exc}") from None
