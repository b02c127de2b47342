"""Ingestion: the one path every connector, upload and API call takes into the ticket store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import JSONField
from django.utils import timezone

from tickets.models import (
    Customer,
    IngestBatch,
    Message,
    Organization,
    Source,
    SourceKind,
    SyncRun,
    SyncRunStatus,
    Ticket,
)
from tickets.records import (
    OrganizationRecord,
    TicketRecord,
)

_MESSAGE_FIELDS = ["external_id", "author_role", "author_name", "body", "created_at", "is_public"]
_message_values = attrgetter(*_MESSAGE_FIELDS)


@dataclass
class IngestCounts:
    """What one ingestion did. Counts only: the ids of the tickets a batch created or changed go
    to processing with that batch, so memory stays constant however many records come in."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: IngestCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def source_get_or_create(*, name: str, kind: str = SourceKind.UPLOAD) -> Source:
    source, _ = Source.objects.get_or_create(name=name, defaults={"kind": kind})
    return source


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
        changed_ticket_ids = [row.stored_id for row in (*new_rows, *changed_rows)]
        if changed_ticket_ids:
            _hand_over_batch(source, sync_run, changed_ticket_ids)
    return counts


def _hand_over_batch(source: Source, sync_run: SyncRun | None, ticket_ids: list[int]) -> None:
    from config.dispatch import task_dispatch
    from insights.tasks import process_ingest_batch

    batch = IngestBatch.objects.create(source=source, sync_run=sync_run, ticket_ids=ticket_ids)
    transaction.on_commit(lambda: task_dispatch(process_ingest_batch, batch.pk))


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


def _upsert_customers(source: Source, records: list[TicketRecord], organization_ids: dict[str, int]) -> dict[str, int]:
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
            "created",
            "updated",
            "unchanged",
            "rejected",
            "fetched",
            "errors",
            "progress_done",
            "progress_total",
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


class SourceDisabled(Exception):
    """The source is switched off; nothing may be imported into it."""
