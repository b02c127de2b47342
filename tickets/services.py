"""Writes to the ticket store. Ingestion is the one path every connector, upload and API call takes."""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from operator import attrgetter
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import JSONField, Q
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tickets.access import Role, user_role_set
from tickets.connectors import webhook
from tickets.connectors.files import IMPORT_FILE_SUFFIXES, FileFormatError, Item, Rejection, TicketFile
from tickets.crypto import secrets_decrypt, secrets_encrypt
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
from tickets.records import (
    InvalidRecord,
    OrganizationRecord,
    TicketRecord,
    ticket_record_from_dict,
)
from tickets.selectors import WEBHOOK_SECRET_KEY, source_webhook_secret

logger = logging.getLogger(__name__)

# What ingestion stores of a message: each is both a ``MessageRecord`` attribute and a ``Message`` field.
_MESSAGE_FIELDS = ["external_id", "author_role", "author_name", "body", "created_at", "is_public"]
_message_values = attrgetter(*_MESSAGE_FIELDS)


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


@dataclass(slots=True)
class _TicketRow:
    """A ticket to write: its column values by attribute name, its record, its id once stored."""

    ticket_id: int | None
    record: TicketRecord
    values: dict[str, Any]

    @property
    def stored_id(self) -> int:
        assert self.ticket_id is not None, "the ticket is not stored yet"
        return self.ticket_id


def _ingest_batch(source: Source, records: list[TicketRecord], sync_run: SyncRun | None) -> IngestCounts:
    counts = IngestCounts()
    with transaction.atomic():
        organization_ids = _upsert_organizations(source, [r.organization for r in records if r.organization])
        customer_ids = _upsert_customers(source, records, organization_ids)
        stored = {
            external_id: (ticket_id, content_hash)
            for external_id, ticket_id, content_hash in Ticket.objects.filter(
                source=source, external_id__in=[r.external_id for r in records]
            ).values_list("external_id", "id", "content_hash")
        }
        new_rows: list[_TicketRow] = []
        changed_rows: list[_TicketRow] = []
        for record in records:
            content_hash = record.content_hash()
            ticket_id, stored_hash = stored.get(record.external_id, (None, None))
            if stored_hash == content_hash:
                counts.unchanged += 1
                continue
            values = _ticket_values(record, content_hash, organization_ids, customer_ids)
            (new_rows if ticket_id is None else changed_rows).append(_TicketRow(ticket_id, record, values))
        _insert_new_tickets(source, new_rows)
        _update_changed_tickets(source, changed_rows)
        counts.created, counts.updated = len(new_rows), len(changed_rows)
        counts.changed_ticket_ids = [row.stored_id for row in (*new_rows, *changed_rows)]
        if counts.changed_ticket_ids:
            _hand_over_batch(source, sync_run, counts.changed_ticket_ids)
    return counts


def _hand_over_batch(source: Source, sync_run: SyncRun | None, ticket_ids: list[int]) -> None:
    from insights.tasks import process_ingest_batch

    batch = IngestBatch.objects.create(source=source, sync_run=sync_run, ticket_ids=ticket_ids)
    transaction.on_commit(lambda: process_ingest_batch.delay(batch.pk))


def _ticket_values(
    record: TicketRecord, content_hash: str, organization_ids: dict[str, int], customer_ids: dict[str, int]
) -> dict[str, Any]:
    """What is stored for ``record``, by ``Ticket`` attribute name (source, id and timestamps aside)."""
    return {
        "external_id": record.external_id,
        "channel": record.channel,
        "subject": record.subject,
        "status": record.status,
        "priority": record.priority,
        "requester_id": customer_ids.get(record.requester.external_id) if record.requester else None,
        "organization_id": organization_ids.get(record.organization.external_id) if record.organization else None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "solved_at": record.solved_at,
        "reopen_count": record.reopen_count,
        "tags": list(record.tags),
        "csat": record.csat,
        "language": record.language,
        "url": record.url,
        "content_hash": content_hash,
    }


def _insert_new_tickets(source: Source, rows: list[_TicketRow]) -> None:
    """Insert tickets not stored yet, with their messages, and set each row's ``ticket_id``.

    A ticket a concurrent import of the same source created meanwhile fails the unique
    constraint, which rolls the whole batch back; nothing is ever half-written.
    """
    if not rows:
        return
    # PostgreSQL gets its bulk-load protocol: bulk_create spends most of an import building a
    # model instance and SQL parameters per ticket and per message, COPY streams plain tuples.
    # Both write the same values (``_ticket_values``, ``_MESSAGE_FIELDS``) under the same
    # constraints; the Django path serves SQLite and any other database.
    if connection.vendor == "postgresql":
        _insert_new_tickets_by_copy(source, rows)
        return
    tickets = Ticket.objects.bulk_create([Ticket(source=source, **row.values) for row in rows])
    for row, ticket in zip(rows, tickets, strict=True):
        row.ticket_id = ticket.pk
    Message.objects.bulk_create(_messages_of(rows))


def _insert_new_tickets_by_copy(source: Source, rows: list[_TicketRow]) -> None:
    """PostgreSQL: draw ids from the ticket sequence, then COPY the tickets and their messages.

    Drawing the ids first lets the messages be written straight after their tickets without
    reading anything back. Runs inside the batch's transaction, like the Django path.
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Ticket._meta.db_table, len(rows)],
        )
        for row, (ticket_id,) in zip(rows, cursor.fetchall(), strict=True):
            row.ticket_id = ticket_id
        _copy_rows(
            cursor,
            Ticket,
            ["id", "source_id", "ingested_at", "changed_at", *rows[0].values],
            ((row.ticket_id, source.pk, now, now, *row.values.values()) for row in rows),
        )
        _copy_rows(
            cursor,
            Message,
            ["ticket_id", *_MESSAGE_FIELDS],
            ((row.ticket_id, *_message_values(message)) for row in rows for message in row.record.messages),
        )


def _copy_rows(
    cursor: Any, model: type[Ticket] | type[Message], names: list[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """COPY ``rows`` (values in the order of the attribute ``names``) into ``model``'s table."""
    from psycopg.types.json import Jsonb

    by_name = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_name[name] for name in names]
    # COPY adapts a Python list to a PostgreSQL array; a JSON column needs it wrapped as JSON.
    json_positions = [i for i, f in enumerate(fields) if isinstance(f, JSONField)]
    quote = connection.ops.quote_name
    statement = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(str(f.column)) for f in fields)}) FROM STDIN"
    with cursor.copy(statement) as copy:
        for row in rows:
            if json_positions:
                values = list(row)
                for i in json_positions:
                    values[i] = Jsonb(values[i])
                row = tuple(values)
            copy.write_row(row)


def _update_changed_tickets(source: Source, rows: list[_TicketRow]) -> None:
    """Rewrite stored tickets whose content changed and upsert their messages.

    One path for every database. An upsert rather than ``bulk_update``: its CASE WHEN per
    field grows with the batch, which made a batch of changed tickets ten times slower than
    creating them; INSERT ... ON CONFLICT DO UPDATE stays linear (and keeps ``ingested_at``).
    """
    if not rows:
        return
    tickets = [Ticket(pk=row.ticket_id, source=source, **row.values) for row in rows]
    Ticket.objects.bulk_create(
        tickets,
        update_conflicts=True,
        unique_fields=["source", "external_id"],
        update_fields=[*(name for name in rows[0].values if name != "external_id"), "changed_at"],
    )
    Message.objects.bulk_create(
        _messages_of(rows),
        update_conflicts=True,
        unique_fields=["ticket", "external_id"],
        update_fields=[name for name in _MESSAGE_FIELDS if name != "external_id"],
    )


def _messages_of(rows: list[_TicketRow]) -> list[Message]:
    return [
        Message(ticket_id=row.stored_id, **dict(zip(_MESSAGE_FIELDS, _message_values(message), strict=True)))
        for row in rows
        for message in row.record.messages
    ]


def _upsert_organizations(source: Source, records: list[OrganizationRecord]) -> dict[str, int]:
    """Create missing organizations, fill in what the records add; return ids by external id.

    An empty field in a record never erases a stored value: a ticket that names only the
    organization must not wipe the plan another ticket gave it.
    """
    return _upsert_people(
        Organization,
        source,
        {record.external_id: {"name": record.name, "plan": record.plan, "arr": record.arr} for record in records},
    )


def _upsert_customers(
    source: Source, records: list[TicketRecord], organization_ids: dict[str, int]
) -> dict[str, int]:
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.requester:
            latest[record.requester.external_id] = {
                "name": record.requester.name,
                "email": record.requester.email,
                "organization_id": (
                    organization_ids.get(record.organization.external_id) if record.organization else None
                ),
            }
    return _upsert_people(Customer, source, latest)


def _upsert_people(
    model: type[Organization] | type[Customer], source: Source, latest: dict[str, dict[str, Any]]
) -> dict[str, int]:
    """Upsert rows of ``model`` from ``latest`` (field values by external id); return ids by external id.

    Reads and compares plain values rather than model instances: a batch names up to a
    thousand people, and most of them are already stored and unchanged.
    """
    if not latest:
        return {}
    names = list(next(iter(latest.values())))
    stored = {
        external_id: (pk, dict(zip(names, values, strict=True)))
        for external_id, pk, *values in model.objects.filter(source=source, external_id__in=latest).values_list(
            "external_id", "pk", *names
        )
    }
    missing = [
        model(source=source, external_id=key, **{k: v for k, v in values.items() if v is not None})
        for key, values in latest.items()
        if key not in stored
    ]
    changed: list[Organization | Customer] = []
    changed_fields: set[str] = set()
    for key, (pk, current) in stored.items():
        update = {k: v for k, v in latest[key].items() if v not in (None, "") and current[k] != v}
        if update:
            changed.append(model(pk=pk, source=source, external_id=key, **{**current, **update}))
            changed_fields.update(update)
    if changed:
        model.objects.bulk_update(changed, sorted(changed_fields))  # type: ignore[arg-type]
    ids = {key: pk for key, (pk, _) in stored.items()}
    if missing:
        # ignore_conflicts: a concurrent sync of the same source may have created the row meanwhile.
        model.objects.bulk_create(missing, ignore_conflicts=True)  # type: ignore[arg-type]
        ids.update(
            model.objects.filter(source=source, external_id__in=[row.external_id for row in missing]).values_list(
                "external_id", "pk"
            )
        )
    return ids


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
    *,
    sync_run: SyncRun,
    counts: IngestCounts,
    rejected: list[dict[str, Any]],
    done: int,
    total: int | None,
    rejected_total: int | None = None,
) -> None:
    """Store a running sync's counts so far; called between batches, outside their transactions.

    ``rejected_total`` is how many were rejected in all when ``rejected`` holds only the first.
    """
    sync_run.created, sync_run.updated, sync_run.unchanged = counts.created, counts.updated, counts.unchanged
    sync_run.rejected = len(rejected) if rejected_total is None else rejected_total
    sync_run.fetched = counts.total + sync_run.rejected
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


# --- Tickets pushed through the REST API and signed webhooks ---------------------------------------
# Both validate each mapping with ticket_record_from_dict (the one validator) and go through
# ingest_records under a SyncRun, so API and webhook imports show up in the sync history.

MAX_TICKETS_PER_REQUEST = 1000


class SourceDisabled(Exception):
    """The source is switched off; nothing may be imported into it."""


class WebhookNotConfigured(Exception):
    """The source has no webhook secret, so no delivery to it can be authenticated."""


class InvalidDelivery(ValueError):
    """A webhook body that is not the documented JSON; the message says what is wrong."""


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
                    "external_id": str(external_id)[:255] if external_id not in (None, "") else None,
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
    stale signature) or ``InvalidDelivery``, in that order of checking; nothing is written
    unless the delivery is authentic. A replayed delivery changes nothing.
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
    return tickets_ingest_mappings(source=source, mappings=mappings, trigger=SyncTrigger.WEBHOOK)


def _webhook_mappings(body: bytes) -> list[Any]:
    """The tickets of a delivery: one mapping, or ``{"tickets": [mapping, ...]}``."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise InvalidDelivery("the body is not valid UTF-8 JSON") from None
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


def api_token_get_or_create(*, user: Any) -> str:
    """The user's REST API token key, created on first request; the same key until revoked."""
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


# --- File imports: CSV, JSON Lines and JSON arrays ----------------------------------------------
# The page and the API store the upload and queue a run; tickets.tasks.import_file runs it after
# the commit. The import_tickets command runs the same service inline on a file it names.

IMPORT_UPLOAD_DIR = "imports"


def file_import_create(
    *, source: Source, path: str | Path, file_name: str, trigger: str, started_by: Any = None
) -> SyncRun:
    """A queued run importing the ticket file at ``path``; ``file_name`` is for people only.

    Raises ``SourceDisabled`` like every other way into a source.
    """
    _file_import_require_enabled(source)
    return SyncRun.objects.create(
        source=source,
        trigger=trigger,
        started_by=started_by if started_by and started_by.is_authenticated else None,
        file_name=file_name[:255],
        file_path=str(path),
    )


def file_import_upload(*, source: Source, upload: UploadedFile, trigger: str, started_by: Any = None) -> SyncRun:
    """Store ``upload`` under MEDIA_ROOT/imports/ and queue its import once the run is committed.

    The stored name is random with a known suffix: the user's file name is kept for display and
    never becomes part of a path. Raises ``SourceDisabled`` before storing anything.
    """
    from tickets.tasks import import_file

    _file_import_require_enabled(source)
    path = _upload_store(upload)
    with transaction.atomic():
        sync_run = file_import_create(
            source=source, path=path, file_name=upload.name or path.name, trigger=trigger, started_by=started_by
        )
        transaction.on_commit(lambda: import_file.delay(sync_run.pk))
    return sync_run


def _file_import_require_enabled(source: Source) -> None:
    if not source.enabled:
        raise SourceDisabled(f"source {source.name!r} is disabled; an admin must enable it first")


def _upload_store(upload: UploadedFile) -> Path:
    suffix = PurePath(upload.name or "").suffix.lower()
    directory = Path(settings.MEDIA_ROOT) / IMPORT_UPLOAD_DIR
    directory.mkdir(parents=True, exist_ok=True)
    # Absolute, so a worker finds it whatever its working directory (MEDIA_ROOT is a shared volume).
    path = (directory / f"{uuid.uuid4().hex}{suffix if suffix in IMPORT_FILE_SUFFIXES else ''}").resolve()
    with path.open("xb") as stored:
        for chunk in upload.chunks():
            stored.write(chunk)
    return path


def file_import_run(
    *, sync_run_id: int, batch_size: int | None = None, on_progress: Callable[[SyncRun], None] | None = None
) -> SyncRun:
    """Import the ticket file of a queued run, finish the run and return it.

    Good records are ingested in batches of ``batch_size``; after each batch the counts, the
    rejected rows (line, external id, reason; the first ``SyncRun.MAX_REPORTED_ERRORS``) and the
    bytes read are saved for the run page to poll, and ``on_progress`` is called. The run ends
    partial when rows were rejected, failed with the reason when the file as a whole cannot be
    read (batches stored before that stand), and failed on any other error, which propagates.

    Safe to run twice: only the call that claims the run (queued, or running but abandoned for
    longer than the task time limit) works on it; any other call returns the run unchanged.
    An uploaded file is deleted when its run is over; a file named on the command line is not.
    """
    sync_run = _file_import_claim(sync_run_id)
    if sync_run is None:
        return SyncRun.objects.select_related("source").get(pk=sync_run_id)
    try:
        _file_import_feed(sync_run, batch_size or settings.THREADLINE_INGEST_BATCH_SIZE, on_progress)
    except FileFormatError as exc:
        return sync_run_finish(sync_run=sync_run, failure=f"The file cannot be imported: {exc}.")
    except OSError as exc:
        return sync_run_finish(sync_run=sync_run, failure=f"The file cannot be read: {exc.strerror or exc}.")
    except Exception as exc:
        sync_run_finish(
            sync_run=sync_run,
            failure=f"The import stopped on an unexpected error ({type(exc).__name__}); see the worker log.",
        )
        raise
    finally:
        _upload_discard(sync_run)
    return sync_run_finish(sync_run=sync_run)


def _file_import_claim(sync_run_id: int) -> SyncRun | None:
    """Mark the run running if it is ours to do; None when it is finished or another call has it."""
    now = timezone.now()
    # The hard time limit has killed any task still "running" after it: the run is abandoned.
    abandoned = Q(status=SyncRunStatus.RUNNING, started_at__lt=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT))
    claimed = SyncRun.objects.filter(Q(status=SyncRunStatus.QUEUED) | abandoned, pk=sync_run_id).update(
        status=SyncRunStatus.RUNNING, started_at=now
    )
    return SyncRun.objects.select_related("source").get(pk=sync_run_id) if claimed == 1 else None


def _file_import_feed(
    sync_run: SyncRun, batch_size: int, on_progress: Callable[[SyncRun], None] | None
) -> None:
    ticket_file = TicketFile(sync_run.file_path, name=sync_run.file_name)
    tally = _FileImportTally(sync_run, ticket_file)
    tally.save()
    for chunk in _item_chunks(iter(ticket_file), batch_size):
        records = [item for item in chunk if isinstance(item, TicketRecord)]
        tally.reject([item for item in chunk if isinstance(item, Rejection)])
        if records:
            tally.add(ingest_records(source=sync_run.source, records=records, sync_run=sync_run, batch_size=batch_size))
        tally.save()
        if on_progress:
            on_progress(sync_run)


def _item_chunks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    """Lists of up to ``size`` items; a ``FileFormatError`` comes after the items read before it."""
    chunk: list[Item] = []
    try:
        for item in items:
            chunk.append(item)
            if len(chunk) == size:
                yield chunk
                chunk = []
    except FileFormatError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


class _FileImportTally:
    """A file import's counts so far; memory stays constant however long the file is."""

    def __init__(self, sync_run: SyncRun, ticket_file: TicketFile) -> None:
        self.sync_run = sync_run
        self.ticket_file = ticket_file
        self.counts = IngestCounts()
        self.rejected: list[dict[str, Any]] = []
        self.rejected_total = 0

    def add(self, counts: IngestCounts) -> None:
        # Those tickets were handed to processing with their batch; keeping ids would grow with the file.
        counts.changed_ticket_ids.clear()
        self.counts.add(counts)

    def reject(self, rejections: list[Rejection]) -> None:
        self.rejected_total += len(rejections)
        room = SyncRun.MAX_REPORTED_ERRORS - len(self.rejected)
        self.rejected.extend(
            {"line": r.line, "external_id": r.external_id or None, "reason": r.reason} for r in rejections[:room]
        )

    def save(self) -> None:
        sync_run_record_progress(
            sync_run=self.sync_run,
            counts=self.counts,
            rejected=self.rejected,
            rejected_total=self.rejected_total,
            done=self.ticket_file.bytes_read,
            total=self.ticket_file.total_bytes,
        )


def _upload_discard(sync_run: SyncRun) -> None:
    """Delete a stored upload once its run is over: it holds customer data nothing needs any more.

    Only uploads (page or API) are ours to delete; the command imports a file the user owns.
    """
    if sync_run.file_path and sync_run.trigger in {SyncTrigger.UPLOAD, SyncTrigger.API}:
        Path(sync_run.file_path).unlink(missing_ok=True)


__all__ = [
    "IngestCounts",
    "InvalidDelivery",
    "MappingIngestResult",
    "SourceDisabled",
    "SyncTrigger",
    "WebhookNotConfigured",
    "api_token_get_or_create",
    "file_import_create",
    "file_import_run",
    "file_import_upload",
    "ingest_records",
    "source_get_or_create",
    "source_webhook_secret_rotate",
    "sync_run_finish",
    "sync_run_record_progress",
    "sync_run_start",
    "tickets_bulk_import",
    "tickets_ingest_mappings",
    "user_create",
    "webhook_delivery_ingest",
]
