"""File imports (CSV, JSON Lines, JSON arrays): stored, queued, run with progress."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tickets.connectors.files import IMPORT_FILE_SUFFIXES, FileFormatError, Item, Rejection, TicketFile
from tickets.models import (
    Source,
    SyncRun,
    SyncRunStatus,
    SyncTrigger,
)
from tickets.records import (
    TicketRecord,
    storable_text,
)
from tickets.services.ingest import (
    IngestCounts,
    SourceDisabled,
    ingest_records,
    sync_run_finish,
    sync_run_record_progress,
)

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
    from config.dispatch import task_dispatch
    from tickets.tasks import import_file

    _file_import_require_enabled(source)
    path = _upload_store(upload)
    with transaction.atomic():
        sync_run = file_import_create(
            source=source, path=path, file_name=upload.name or path.name, trigger=trigger, started_by=started_by
        )
        transaction.on_commit(lambda: task_dispatch(import_file, sync_run.pk))
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


def _file_import_feed(sync_run: SyncRun, batch_size: int, on_progress: Callable[[SyncRun], None] | None) -> None:
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
        self.counts.add(counts)

    def reject(self, rejections: list[Rejection]) -> None:
        self.rejected_total += len(rejections)
        room = SyncRun.MAX_REPORTED_ERRORS - len(self.rejected)
        # What a bad row holds is stored too: it must be text the database takes (no NUL, no lone surrogate).
        self.rejected.extend(
            {"line": r.line, "external_id": storable_text(r.external_id) or None, "reason": storable_text(r.reason)}
            for r in rejections[:room]
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
