"""Tickets pushed to Threadline: the REST API's bulk import and signed webhook deliveries."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from tickets.connectors import webhook
from tickets.crypto import secrets_decrypt, secrets_encrypt
from tickets.models import (
    Source,
    SourceKind,
    SyncRun,
    SyncTrigger,
)
from tickets.records import (
    InvalidRecord,
    TicketRecord,
    storable_text,
    ticket_record_from_dict,
)
from tickets.selectors import WEBHOOK_SECRET_KEY, source_webhook_secret
from tickets.services.ingest import (
    IngestCounts,
    SourceDisabled,
    ingest_records,
    source_get_or_create,
    sync_run_finish,
    sync_run_record_progress,
    sync_run_start,
)

# Both validate each mapping with ticket_record_from_dict (the one validator) and go through
# ingest_records under a SyncRun, so API and webhook imports show up in the sync history.

MAX_TICKETS_PER_REQUEST = 1000


class WebhookNotConfigured(Exception):
    """The source has no webhook secret, so no delivery to it can be authenticated."""


class InvalidDelivery(ValueError):
    """A webhook body that is not the documented JSON; the message says what is wrong."""


class ReplayedDelivery(Exception):
    """A delivery whose exact signature was accepted before, within the timestamp tolerance."""


@dataclass
class MappingIngestResult:
    """An API or webhook import: its run, its counts, and each rejected item with the reason."""

    sync_run: SyncRun
    counts: IngestCounts
    # [{"index": 3, "external_id": "T-9" or None, "reason": "..."}], in request order.
    rejected: list[dict[str, Any]]


def tickets_ingest_mappings(
    *, source: Source, mappings: Sequence[Any], trigger: str, started_by: Any = None
) -> MappingIngestResult:
    """Validate ``mappings`` (documented mapping form) and ingest the valid ones into ``source``.

    Invalid items are skipped and reported; the run then ends ``partial``. Idempotent like
    ``ingest_records``: the same mappings sent again count as unchanged. If ingestion itself
    fails, the run is recorded as failed and the error propagates.
    """
    sync_run = sync_run_start(source=source, trigger=trigger, started_by=started_by, progress_total=len(mappings))
    records, rejected = _records_from_mappings(mappings)
    try:
        counts = ingest_records(source=source, records=records, sync_run=sync_run)
    except Exception as exc:
        sync_run_finish(sync_run=sync_run, failure=f"{type(exc).__name__}: {exc}")
        raise
    sync_run_record_progress(
        sync_run=sync_run, counts=counts, rejected=rejected, done=len(mappings), total=len(mappings)
    )
    return MappingIngestResult(sync_run=sync_run_finish(sync_run=sync_run), counts=counts, rejected=rejected)


def _records_from_mappings(mappings: Sequence[Any]) -> tuple[list[TicketRecord], list[dict[str, Any]]]:
    records: list[TicketRecord] = []
    rejected: list[dict[str, Any]] = []
    for index, mapping in enumerate(mappings):
        if not isinstance(mapping, Mapping):
            rejected.append({"index": index, "external_id": None, "reason": "a ticket must be a JSON object"})
            continue
        try:
            records.append(ticket_record_from_dict(mapping))
        except InvalidRecord as exc:
            external_id = mapping.get("external_id")
            rejected.append(
                {
                    "index": index,
                    "external_id": storable_text(str(external_id))[:255] if external_id not in (None, "") else None,
                    "reason": str(exc),
                }
            )
    return records, rejected


def tickets_bulk_import(*, source_name: str, mappings: Sequence[Any], user: Any) -> MappingIngestResult:
    """``POST /api/tickets/bulk/``: import into the named source, creating it (kind "api") if new.

    The caller has already passed ``access_tickets_import``, which is the same permission that
    lets them upload files into new sources. Raises ``SourceDisabled``.
    """
    source = source_get_or_create(name=source_name, kind=SourceKind.API)
    if not source.enabled:
        raise SourceDisabled(f"source {source.name!r} is disabled; an admin must enable it first")
    return tickets_ingest_mappings(source=source, mappings=mappings, trigger=SyncTrigger.API, started_by=user)


def source_webhook_secret_rotate(*, source: Source) -> str:
    """Give ``source`` a new random webhook secret and return it (shown once, stored encrypted).

    The old secret stops working at once. Other credentials of the source are kept; the row is
    locked so a concurrent credentials edit is not lost.
    """
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        locked = Source.objects.select_for_update().get(pk=source.pk)
        credentials = secrets_decrypt(locked.credentials_encrypted)
        credentials[WEBHOOK_SECRET_KEY] = secret
        locked.credentials_encrypted = secrets_encrypt(credentials)
        locked.save(update_fields=["credentials_encrypted", "updated_at"])
    source.credentials_encrypted = locked.credentials_encrypted
    return secret


def webhook_delivery_ingest(
    *,
    source: Source,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    now: float | None = None,
) -> MappingIngestResult:
    """Authenticate one signed delivery (see ``tickets.connectors.webhook``) and ingest it.

    Raises ``SourceDisabled``, ``WebhookNotConfigured``, ``webhook.WebhookRejected`` (bad or
    stale signature), ``InvalidDelivery`` or ``ReplayedDelivery``, in that order of checking;
    nothing is written unless the delivery is authentic. A replayed delivery changes nothing:
    with a shared cache it is refused (``_delivery_claim``), and without one ingestion is
    idempotent, so it counts as unchanged.
    """
    if not source.enabled:
        raise SourceDisabled(f"source {source.name!r} is disabled")
    secret = source_webhook_secret(source=source)
    if not secret:
        raise WebhookNotConfigured(f"source {source.name!r} has no webhook secret; an admin must create one")
    webhook.verify(
        secret,
        timestamp_header,
        signature_header,
        body,
        now=time.time() if now is None else now,
        tolerance_seconds=settings.THREADLINE_WEBHOOK_TOLERANCE_SECONDS,
    )
    mappings = _webhook_mappings(body)
    claim = _delivery_claim(source, signature_header or "")
    try:
        return tickets_ingest_mappings(source=source, mappings=mappings, trigger=SyncTrigger.WEBHOOK)
    except BaseException:
        if claim:
            cache.delete(claim)  # not ingested: the sender's retry of the same delivery must go through
        raise


def _delivery_claim(source: Source, signature: str) -> str | None:
    """Record an authentic delivery's signature for as long as its timestamp is accepted, and
    return the cache key; raise ``ReplayedDelivery`` if it is recorded already.

    Only a cache every web process shares (Redis) can tell a replay sent to another process, so
    with a per-process cache nothing is recorded (None) and idempotent ingestion alone makes the
    replay change nothing. The key expires after twice the tolerance: a timestamp up to the
    tolerance ahead of the clock stays acceptable that long. ``cache.add`` is atomic in Redis,
    so of two copies sent at once only one is ingested.
    """
    if str(settings.CACHES["default"]["BACKEND"]).endswith(("LocMemCache", "DummyCache")):
        return None
    key = f"webhook-delivery:{source.pk}:{signature.strip().lower()}"
    # add() is False for a key already there, and also while Redis is unreachable (config.cache): only
    # a key that is really there is a replay, so an outage falls back to idempotency alone.
    if not cache.add(key, 1, timeout=2 * settings.THREADLINE_WEBHOOK_TOLERANCE_SECONDS) and cache.has_key(key):
        raise ReplayedDelivery(
            "this exact delivery (same timestamp and signature) was accepted already; nothing was changed. "
            "Sign every new delivery with the time you send it"
        )
    return key


def _webhook_mappings(body: bytes) -> list[Any]:
    """The tickets of a delivery: one mapping, or ``{"tickets": [mapping, ...]}``."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidDelivery(f"the body is not valid UTF-8 JSON ({exc})") from None
    except RecursionError:
        raise InvalidDelivery("the body is JSON nested too deeply to be read") from None
    if not isinstance(payload, dict):
        raise InvalidDelivery('the body must be a JSON object: one ticket, or {"tickets": [...]}')
    if "tickets" not in payload:
        return [payload]
    tickets = payload["tickets"]
    if not isinstance(tickets, list) or not tickets:
        raise InvalidDelivery('"tickets" must be a non-empty array of ticket objects')
    if len(tickets) > MAX_TICKETS_PER_REQUEST:
        raise InvalidDelivery(
            f'"tickets" has {len(tickets):,} entries; send at most {MAX_TICKETS_PER_REQUEST:,} per delivery'
        )
    return tickets
