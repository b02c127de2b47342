"""Help-desk syncs: a connector's pages stored with their cursor, one sync per source at a time."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from config.locks import advisory_lock
from tickets.connectors.base import ConnectorError, settings_merged
from tickets.connectors.registry import MODULES as CONNECTOR_MODULES
from tickets.connectors.registry import connector_for
from tickets.crypto import SecretsUnreadable, secrets_decrypt, secrets_encrypt
from tickets.models import (
    Source,
    SourceKind,
    SyncRun,
    SyncRunStatus,
    SyncTrigger,
    Ticket,
)
from tickets.services.ingest import (
    IngestCounts,
    SourceDisabled,
    ingest_records,
    sync_run_finish,
    sync_run_start,
)

logger = logging.getLogger(__name__)

# A connector (tickets.connectors.<kind>) yields pages of records, each with the cursor that is true
# once they are stored; source_sync stores a page and its cursor in one transaction, so a sync that
# stops anywhere resumes from the last committed page: nothing lost, nothing doubled.

# Runs of these triggers without a file are connector syncs (file imports, API and webhook runs are not).
SYNC_TRIGGERS = (SyncTrigger.MANUAL, SyncTrigger.SCHEDULE, SyncTrigger.COMMAND)
# First key of the PostgreSQL advisory lock a sync holds; the second is the source id.
SYNC_LOCK_NAMESPACE = 0x7468_7264  # "thrd"


class SyncAlreadyRunning(Exception):
    """Another sync of the same source holds the lock; this one did nothing."""


def source_sync(
    *,
    source_id: int,
    full: bool = False,
    trigger: str = SyncTrigger.MANUAL,
    started_by: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> SyncRun:
    """Pull what changed in the source's help desk since its cursor (everything with ``full``).

    Returns the finished run: succeeded, partial (some tickets could not be read; see its errors)
    or failed with a message for the admin (rejected credentials, unreachable service). Counts and
    progress are saved after every page, and ``on_progress`` is called. Raises ``SourceDisabled``,
    ``SyncAlreadyRunning`` when another sync of the source holds the lock, and any unexpected error
    after recording the run as failed.
    """
    source = Source.objects.get(pk=source_id)
    if not source.enabled:
        raise SourceDisabled(f"source {source.name!r} is disabled; an admin must enable it first")
    with _source_sync_lock(source.pk) as locked:
        sync_run = _sync_run_claim(source, trigger, started_by) if locked else None
        if sync_run is None:
            raise SyncAlreadyRunning(f"a sync of {source.name!r} is already running")
        try:
            _sync_feed(sync_run, full=full, sleep=sleep, on_progress=on_progress)
        except ConnectorError as exc:
            return sync_run_finish(sync_run=sync_run, failure=str(exc))
        except SoftTimeLimitExceeded:
            minutes = settings.CELERY_TASK_SOFT_TIME_LIMIT // 60
            return sync_run_finish(
                sync_run=sync_run,
                failure=f"The sync ran into the {minutes}-minute task time limit and stopped; "
                "the next sync resumes from the last saved page.",
            )
        except SecretsUnreadable:
            return sync_run_finish(
                sync_run=sync_run,
                failure="The stored credentials cannot be decrypted with the configured keys; enter them again.",
            )
        except Exception as exc:
            sync_run_finish(sync_run=sync_run, failure=_unexpected_failure(exc))
            raise
        return sync_run_finish(sync_run=sync_run)


def _unexpected_failure(exc: Exception) -> str:
    """What the admin reads when the sync stopped on an error it does not expect.

    When the database ended the sync's session (a restart, a failover, ``pg_terminate_backend``) a
    dead connection is dropped here, so the run's failure is written through a new one; the pages
    committed before it stay, with their cursor.
    """
    if not _database_session_lost(exc):
        return f"The sync stopped on an unexpected error ({type(exc).__name__}); see the worker log."
    if connection.connection is not None and not connection.is_usable():
        connection.close()
    return "The database connection was lost during the sync; the next sync resumes from the last saved page."


# SQLSTATE classes of a session the server ended: connection exceptions, and operator intervention
# (admin shutdown, crash shutdown, cannot connect now). An error without a SQLSTATE came from the client
# finding its socket closed.
_SESSION_LOST_SQLSTATES = ("08", "57P")


def _database_session_lost(exc: Exception) -> bool:
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or str(sqlstate).startswith(_SESSION_LOST_SQLSTATES)


def _source_sync_lock(source_id: int) -> AbstractContextManager[bool]:
    """Whether this process may sync the source (``config.locks.advisory_lock``)."""
    return advisory_lock(SYNC_LOCK_NAMESPACE, source_id)


def _connector_runs(source: Source) -> Any:
    return SyncRun.objects.filter(source=source, trigger__in=SYNC_TRIGGERS, file_path="")


def _sync_run_claim(source: Source, trigger: str, started_by: Any) -> SyncRun | None:
    """Create the running run, or None when another live sync of the source has one.

    Under the advisory lock (PostgreSQL) a run still marked running belongs to a worker that died:
    it is closed as failed. Without it, a running run is live until the task time limit passed.
    """
    now = timezone.now()
    with transaction.atomic():
        Source.objects.select_for_update().get(pk=source.pk)
        running = _connector_runs(source).filter(status=SyncRunStatus.RUNNING)
        if connection.vendor == "postgresql":
            running.update(
                status=SyncRunStatus.FAILED,
                finished_at=now,
                failure="The worker stopped before the sync finished; the next sync resumed from the last saved page.",
            )
        elif running.filter(started_at__gte=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)).exists():
            return None
        return sync_run_start(source=source, trigger=trigger, started_by=started_by)


def _sync_feed(
    sync_run: SyncRun, *, full: bool, sleep: Callable[[float], None], on_progress: Callable[[SyncRun], None] | None
) -> None:
    source = sync_run.source
    connector = connector_for(source.kind)
    credentials = secrets_decrypt(source.credentials_encrypted)
    tally = _SyncTally(sync_run)
    for page in connector.fetch(source.settings, credentials, {} if full else dict(source.cursor), sleep=sleep):
        with transaction.atomic():
            counts = ingest_records(source=source, records=page.records, sync_run=sync_run)
            deleted = _tickets_delete(source, page.deleted)
            Source.objects.filter(pk=source.pk).update(cursor=page.cursor)
        source.cursor = page.cursor
        tally.add(counts, deleted=deleted, rejected=page.rejected, total=page.total)
        if on_progress:
            on_progress(sync_run)


def _tickets_delete(source: Source, external_ids: list[str]) -> int:
    """Remove the tickets the help desk deleted or marked spam (their messages and themes go with them)."""
    if not external_ids:
        return 0
    _, per_model = Ticket.objects.filter(source=source, external_id__in=external_ids).delete()
    return per_model.get(Ticket._meta.label, 0)


class _SyncTally:
    """A sync's counts so far, saved on its run after every page."""

    def __init__(self, sync_run: SyncRun) -> None:
        self.sync_run = sync_run

    def add(self, counts: IngestCounts, *, deleted: int, rejected: list[dict[str, Any]], total: int | None) -> None:
        run = self.sync_run
        run.created += counts.created
        run.updated += counts.updated
        run.unchanged += counts.unchanged
        run.deleted += deleted
        run.rejected += len(rejected)
        run.fetched += counts.total + len(rejected) + deleted
        room = SyncRun.MAX_REPORTED_ERRORS - len(run.errors)
        run.errors = [*run.errors, *rejected[: max(room, 0)]]
        run.progress_done = run.fetched
        if total is not None:
            run.progress_total = max(total, run.fetched)
        elif run.progress_total is not None:
            run.progress_total = max(run.progress_total, run.fetched)
        run.save(
            update_fields=[
                "created",
                "updated",
                "unchanged",
                "deleted",
                "rejected",
                "fetched",
                "errors",
                "progress_done",
                "progress_total",
            ]
        )


def source_sync_queue(
    *, source: Source, full: bool = False, trigger: str = SyncTrigger.MANUAL, started_by: Any = None
) -> None:
    """Queue a sync of ``source`` on the ``ingest`` queue once the current transaction commits.

    Raises ``SourceDisabled`` and ``ConfigurationError`` (a kind without a connector) at once, so a
    "Sync now" button can say so; a sync already running makes the queued one a no-op.
    """
    from config.dispatch import task_dispatch
    from tickets.tasks import sync_source

    if not source.enabled:
        raise SourceDisabled(f"source {source.name!r} is disabled; an admin must enable it first")
    connector_for(source.kind)
    user_id = started_by.pk if started_by is not None and started_by.is_authenticated else None
    transaction.on_commit(
        lambda: task_dispatch(sync_source, source.pk, full=full, trigger=trigger, started_by_id=user_id)
    )


def sources_due_for_sync(*, now: Any = None) -> list[Source]:
    """Enabled help-desk sources with a schedule whose last sync started at least an interval ago."""
    now = now or timezone.now()
    due: list[Source] = []
    candidates = Source.objects.filter(
        enabled=True, kind__in=list(CONNECTOR_MODULES), sync_interval_minutes__gt=0
    ).annotate(
        last_sync=Max(
            "sync_runs__created_at",
            filter=Q(sync_runs__trigger__in=SYNC_TRIGGERS, sync_runs__file_path=""),
        )
    )
    for source in candidates:
        assert source.sync_interval_minutes is not None
        if source.last_sync is None or source.last_sync <= now - timedelta(minutes=source.sync_interval_minutes):
            due.append(source)
    return due


def sources_sync_due_queue(*, now: Any = None) -> list[int]:
    """Queue a scheduled sync of every source that is due; returns their ids (beat calls this)."""
    queued = []
    for source in sources_due_for_sync(now=now):
        source_sync_queue(source=source, trigger=SyncTrigger.SCHEDULE)
        queued.append(source.pk)
    return queued


def source_test_connection(*, source: Source, sleep: Callable[[float], None] = time.sleep) -> str:
    """Check the source's credentials against its help desk; says what it found.

    Raises ``ConnectorError`` (its message is for the admin) or ``SecretsUnreadable``.
    """
    connector = connector_for(source.kind)
    return connector.test_connection(source.settings, secrets_decrypt(source.credentials_encrypted), sleep=sleep)


def source_configure(
    *,
    name: str,
    kind: str,
    settings_update: Mapping[str, Any],
    secrets_update: Mapping[str, Any],
    sync_interval_minutes: int | None = None,
    enabled: bool | None = None,
) -> tuple[Source, bool]:
    """Create the source ``name`` or update it: settings and secrets are merged into what is stored.

    Secrets are encrypted (``tickets.crypto``) and never stored in ``settings``; an empty value
    removes a key. Changing the kind of an existing source is refused (its tickets' ids would
    collide). Returns (source, created).
    """
    if kind not in SourceKind.values:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(SourceKind.values)}")
    with transaction.atomic():
        source, created = Source.objects.select_for_update().get_or_create(name=name, defaults={"kind": kind})
        if source.kind != kind:
            raise ValueError(f"source {name!r} is a {source.kind} source; its kind cannot change to {kind}")
        source.settings = settings_merged(source.settings, settings_update)
        source.credentials_encrypted = secrets_encrypt(
            settings_merged(secrets_decrypt(source.credentials_encrypted), secrets_update)
        )
        if sync_interval_minutes is not None:
            source.sync_interval_minutes = sync_interval_minutes or None
        if enabled is not None:
            source.enabled = enabled
        source.save()
    return source, created
