"""Writes to the ticket store. Ingestion is the one path every connector, upload and API call takes."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone

from tickets.access import Role, user_role_set
from tickets.models import (
    Customer,
    IngestBatch,
    Message,
    Organization,
    Source,
    SourceKind,
    SyncRun,
    SyncRunStatus,
    SyncTrigger,
    Ticket,
)
from tickets.records import CustomerRecord, OrganizationRecord, TicketRecord

logger = logging.getLogger(__name__)

_TICKET_FIELDS = [
    "channel", "subject", "status", "priority", "requester", "organization", "created_at", "updated_at",
    "solved_at", "reopen_count", "tags", "csat", "language", "url", "content_hash",
]
_MESSAGE_FIELDS = ["author_role", "author_name", "body", "created_at", "is_public"]


@dataclass
class IngestCounts:
    """What one ingestion did. ``changed_ticket_ids`` are the tickets created or updated."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_ticket_ids: list[int] = field(default_factory=list)

    def add(self, other: IngestCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.changed_ticket_ids.extend(other.changed_ticket_ids)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def source_get_or_create(*, name: str, kind: str = SourceKind.UPLOAD) -> Source:
    source, _ = Source.objects.get_or_create(name=name, defaults={"kind": kind})
    return source


def user_create(*, email: str, role: Role, password: str | None = None, name: str = "") -> tuple[Any, str]:
    """Create a user with ``role``, or give an existing user (same email) that role.

    Returns (user, password set). A new user without ``password`` gets a random one, so no
    account has a guessable default; an existing user keeps theirs unless one is given (then
    the returned password is ""). Passwords go through the configured validators.
    """
    users = get_user_model().objects
    user = users.filter(email__iexact=email).first()
    if user is None:
        user = users.create_user(username=email.lower(), email=email.lower())
        password = password or secrets.token_urlsafe(12)
    if name:
        user.first_name, _, user.last_name = name.partition(" ")
    if password:
        validate_password(password, user)
        user.set_password(password)
    user.save()
    user_role_set(user, role)
    return user, password or ""


def ingest_records(
    *,
    source: Source,
    records: Iterable[TicketRecord],
    sync_run: SyncRun | None = None,
    batch_size: int | None = None,
) -> IngestCounts:
    """Upsert ``records`` into ``source`` in batches, each in its own transaction.

    Idempotent: a record whose content equals what is stored counts as unchanged and writes
    nothing. Within one call a later record with the same external id wins, as if imported
    after the earlier one. After each batch commits, the tickets it created or changed are
    handed to ``insights.tasks.process_ingest_batch`` through an ``IngestBatch`` row.
    Records are consumed lazily, so a generator over a large file keeps memory constant.
    """
    counts = IngestCounts()
    for batch in _batches_without_repeats(records, batch_size or settings.THREADLINE_INGEST_BATCH_SIZE):
        counts.add(_ingest_batch(source, batch, sync_run))
    return counts


def _batches_without_repeats(records: Iterable[TicketRecord], size: int) -> Iterator[list[TicketRecord]]:
    """Chunks of at most ``size`` records in which no external id occurs twice."""
    batch: list[TicketRecord] = []
    seen: set[str] = set()
    for record in records:
        if len(batch) >= size or record.external_id in seen:
            yield batch
            batch, seen = [], set()
        batch.append(record)
        seen.add(record.external_id)
    if batch:
        yield batch


def _ingest_batch(source: Source, records: list[TicketRecord], sync_run: SyncRun | None) -> IngestCounts:
    counts = IngestCounts()
    with transaction.atomic():
        organization_ids = _upsert_organizations(source, [r.organization for r in records if r.organization])
        customer_ids = _upsert_customers(source, records, organization_ids)
        existing = {
            external_id: (ticket_id, content_hash)
            for external_id, ticket_id, content_hash in Ticket.objects.filter(
                source=source, external_id__in=[r.external_id for r in records]
            ).values_list("external_id", "id", "content_hash")
        }
        new_tickets: list[tuple[Ticket, TicketRecord]] = []
        changed_tickets: list[tuple[Ticket, TicketRecord]] = []
        for record in records:
            content_hash = record.content_hash()
            ticket_id, stored_hash = existing.get(record.external_id, (None, None))
            if stored_hash == content_hash:
                counts.unchanged += 1
                continue
            ticket = _ticket_from_record(source, record, content_hash, organization_ids, customer_ids)
            if ticket_id is None:
                new_tickets.append((ticket, record))
            else:
                ticket.pk = ticket_id
                changed_tickets.append((ticket, record))

        Ticket.objects.bulk_create([ticket for ticket, _ in new_tickets])
        now = timezone.now()
        for ticket, _ in changed_tickets:
            ticket.changed_at = now
        Ticket.objects.bulk_update([ticket for ticket, _ in changed_tickets], [*_TICKET_FIELDS, "changed_at"])
        Message.objects.bulk_create(_messages_of(new_tickets))
        Message.objects.bulk_create(
            _messages_of(changed_tickets),
            update_conflicts=True,
            unique_fields=["ticket", "external_id"],
            update_fields=_MESSAGE_FIELDS,
        )
        counts.created = len(new_tickets)
        counts.updated = len(changed_tickets)
        counts.changed_ticket_ids = [t.pk for t, _ in new_tickets] + [t.pk for t, _ in changed_tickets]
        if counts.changed_ticket_ids:
            _hand_over_batch(source, sync_run, counts.changed_ticket_ids)
    return counts


def _hand_over_batch(source: Source, sync_run: SyncRun | None, ticket_ids: list[int]) -> None:
    from insights.tasks import process_ingest_batch

    batch = IngestBatch.objects.create(source=source, sync_run=sync_run, ticket_ids=ticket_ids)
    transaction.on_commit(lambda: process_ingest_batch.delay(batch.pk))


def _ticket_from_record(
    source: Source,
    record: TicketRecord,
    content_hash: str,
    organization_ids: dict[str, int],
    customer_ids: dict[str, int],
) -> Ticket:
    return Ticket(
        source=source,
        external_id=record.external_id,
        channel=record.channel,
        subject=record.subject,
        status=record.status,
        priority=record.priority,
        requester_id=customer_ids.get(record.requester.external_id) if record.requester else None,
        organization_id=organization_ids.get(record.organization.external_id) if record.organization else None,
        created_at=record.created_at,
        updated_at=record.updated_at,
        solved_at=record.solved_at,
        reopen_count=record.reopen_count,
        tags=list(record.tags),
        csat=record.csat,
        language=record.language,
        url=record.url,
        content_hash=content_hash,
    )


def _messages_of(tickets: list[tuple[Ticket, TicketRecord]]) -> list[Message]:
    return [
        Message(
            ticket_id=ticket.pk,
            external_id=message.external_id,
            author_role=message.author_role,
            author_name=message.author_name,
            body=message.body,
            created_at=message.created_at,
            is_public=message.is_public,
        )
        for ticket, record in tickets
        for message in record.messages
    ]


def _upsert_organizations(source: Source, records: list[OrganizationRecord]) -> dict[str, int]:
    """Create missing organizations, fill in what the records add; return ids by external id.

    An empty field in a record never erases a stored value: a ticket that names only the
    organization must not wipe the plan another ticket gave it.
    """
    latest = {record.external_id: record for record in records}
    return _upsert_people(
        Organization,
        source,
        latest,
        lambda record: {"name": record.name, "plan": record.plan, "arr": record.arr},
    )


def _upsert_customers(
    source: Source, records: list[TicketRecord], organization_ids: dict[str, int]
) -> dict[str, int]:
    latest: dict[str, CustomerRecord] = {}
    organization_of: dict[str, int | None] = {}
    for record in records:
        if record.requester:
            latest[record.requester.external_id] = record.requester
            organization_of[record.requester.external_id] = (
                organization_ids.get(record.organization.external_id) if record.organization else None
            )
    return _upsert_people(
        Customer,
        source,
        latest,
        lambda customer: {
            "name": customer.name,
            "email": customer.email,
            "organization_id": organization_of[customer.external_id],
        },
    )


def _upsert_people(
    model: type[Organization] | type[Customer],
    source: Source,
    latest: dict[str, Any],
    values_of: Any,
) -> dict[str, int]:
    if not latest:
        return {}
    stored = {row.external_id: row for row in model.objects.filter(source=source, external_id__in=latest)}
    missing = [
        model(source=source, external_id=key, **{k: v for k, v in values_of(record).items() if v is not None})
        for key, record in latest.items()
        if key not in stored
    ]
    # ignore_conflicts: a concurrent sync of the same source may have created the row meanwhile.
    model.objects.bulk_create(missing, ignore_conflicts=True)
    changed, changed_fields = [], set()
    for key, row in stored.items():
        for name, value in values_of(latest[key]).items():
            if value not in (None, "") and getattr(row, name) != value:
                setattr(row, name, value)
                changed_fields.add(name)
                changed.append(row)
    if changed:
        model.objects.bulk_update(list({row.pk: row for row in changed}.values()), sorted(changed_fields))
    if missing:
        stored.update(
            {row.external_id: row for row in model.objects.filter(source=source, external_id__in=latest)}
        )
    return {key: row.pk for key, row in stored.items()}


def sync_run_start(*, source: Source, trigger: str, started_by: Any = None, **fields: Any) -> SyncRun:
    return SyncRun.objects.create(
        source=source,
        trigger=trigger,
        started_by=started_by if started_by and started_by.is_authenticated else None,
        status=SyncRunStatus.RUNNING,
        started_at=timezone.now(),
        **fields,
    )


def sync_run_record_progress(
    *, sync_run: SyncRun, counts: IngestCounts, rejected: list[dict[str, Any]], done: int, total: int | None
) -> None:
    """Store a running sync's counts so far; called between batches, outside their transactions."""
    sync_run.created, sync_run.updated, sync_run.unchanged = counts.created, counts.updated, counts.unchanged
    sync_run.rejected = len(rejected)
    sync_run.fetched = counts.total + len(rejected)
    sync_run.errors = rejected[: SyncRun.MAX_REPORTED_ERRORS]
    sync_run.progress_done, sync_run.progress_total = done, total
    sync_run.save(
        update_fields=[
            "created", "updated", "unchanged", "rejected", "fetched", "errors", "progress_done", "progress_total"
        ]
    )


def sync_run_finish(*, sync_run: SyncRun, failure: str = "") -> SyncRun:
    if failure:
        sync_run.status = SyncRunStatus.FAILED
    elif sync_run.rejected:
        sync_run.status = SyncRunStatus.PARTIAL
    else:
        sync_run.status = SyncRunStatus.SUCCEEDED
    sync_run.failure = failure
    sync_run.finished_at = timezone.now()
    if sync_run.progress_total is not None and not failure:
        sync_run.progress_done = sync_run.progress_total
    sync_run.save(update_fields=["status", "failure", "finished_at", "progress_done"])
    return sync_run


__all__ = [
    "IngestCounts",
    "SyncTrigger",
    "ingest_records",
    "source_get_or_create",
    "user_create",
    "sync_run_finish",
    "sync_run_record_progress",
    "sync_run_start",
]
