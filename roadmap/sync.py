"""Backlog syncs: issues from GitHub, Jira or Linear upserted into the backlog, page by page.

A tracker connector (``roadmap.connectors``) yields pages of records, each with the cursor that
is true once they are stored; ``backlog_source_sync`` stores a page and its cursor in one
transaction, so a sync that stops anywhere resumes from the last committed page without doubles
(an item is keyed by its source and tracker key). One sync per source runs at a time.

Items follow the rules of ``roadmap.services``: every change is a ``BacklogItemChange`` row (user
None, note "synced from GitHub"), moving to shipped sets ``shipped_at`` (the tracker's close or
resolution time), moving out of shipped clears it. The tracker wins for title, description,
address and status; the kind is guessed once, when the item is created, and then left to people.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from config.locks import advisory_lock
from roadmap.connectors import tracker_for
from roadmap.connectors.base import BacklogRecord, Tracker, status_for, status_mapping_valid
from roadmap.models import (
    BacklogItem,
    BacklogItemStatus,
    BacklogSource,
    BacklogSourceKind,
    BacklogSyncRun,
    BacklogSyncRunStatus,
)
from roadmap.services import _item_change
from tickets.connectors.base import ConnectorError, settings_merged
from tickets.crypto import SecretsUnreadable, secrets_decrypt, secrets_encrypt

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]
# First key of the PostgreSQL advisory lock a backlog sync holds; the second is the source id.
SYNC_LOCK_NAMESPACE = 0x626B_6C67  # "bklg"


class BacklogSyncAlreadyRunning(Exception):
    """Another sync of the same backlog source holds the lock; this one did nothing."""


class BacklogSourceDisabled(Exception):
    """The backlog source is switched off."""


@dataclass
class _Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def backlog_source_configure(
    *,
    name: str,
    kind: str,
    settings_update: Mapping[str, Any] | None = None,
    secrets_update: Mapping[str, Any] | None = None,
    status_mapping: Mapping[str, str] | None = None,
    sync_interval_minutes: int | None = None,
    enabled: bool | None = None,
) -> tuple[BacklogSource, bool]:
    """Create the backlog source ``name`` or update it; returns (source, created).

    Settings and secrets are merged into what is stored (an empty value removes a key); secrets
    are encrypted and never kept in ``settings``. ``status_mapping`` replaces the stored mapping
    (``ConfigurationError`` if it names a status we do not have). The kind cannot change.
    """
    if kind not in BacklogSourceKind.values:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(BacklogSourceKind.values)}")
    tracker = tracker_for(kind)
    misplaced = tracker.secret_keys & set(settings_update or {})
    if misplaced:
        raise ValueError(f"{', '.join(sorted(misplaced))} is a secret: pass it as a secret, not a setting")
    mapping = status_mapping_valid(status_mapping) if status_mapping is not None else None
    with transaction.atomic():
        source, created = BacklogSource.objects.select_for_update().get_or_create(name=name, defaults={"kind": kind})
        if source.kind != kind:
            raise ValueError(f"backlog source {name!r} is a {source.kind} source; its kind cannot change to {kind}")
        source.settings = settings_merged(source.settings, settings_update or {})
        source.credentials_encrypted = secrets_encrypt(
            settings_merged(secrets_decrypt(source.credentials_encrypted), secrets_update or {})
        )
        if mapping is not None:
            source.status_mapping = mapping
        if sync_interval_minutes is not None:
            source.sync_interval_minutes = sync_interval_minutes or None
        if enabled is not None:
            source.enabled = enabled
        source.save()
    return source, created


def backlog_source_test_connection(*, backlog_source: BacklogSource, sleep: Sleep = time.sleep) -> str:
    """Check the source's credentials against its tracker; says what it found.

    Raises ``ConnectorError`` (its message is for the admin) or ``SecretsUnreadable``.
    """
    tracker = tracker_for(backlog_source.kind)
    return tracker.test_connection(
        backlog_source.settings, secrets_decrypt(backlog_source.credentials_encrypted), sleep=sleep
    )


def backlog_source_sync(
    *, backlog_source_id: int, full: bool = False, trigger: str = "manual", sleep: Sleep = time.sleep
) -> BacklogSyncRun:
    """Pull what changed in the tracker since the source's cursor (everything with ``full``).

    Returns the finished run: succeeded, or failed with a message for the admin (rejected
    credentials, unreachable tracker); what was stored before a failure stays, and the next sync
    resumes from it. Raises ``BacklogSourceDisabled``, ``BacklogSyncAlreadyRunning``, and any
    unexpected error after recording the run as failed.
    """
    source = BacklogSource.objects.get(pk=backlog_source_id)
    if not source.enabled:
        raise BacklogSourceDisabled(f"backlog source {source.name!r} is disabled; enable it first")
    with _sync_lock(source.pk) as locked:
        run = _run_claim(source, trigger) if locked else None
        if run is None:
            raise BacklogSyncAlreadyRunning(f"a sync of {source.name!r} is already running")
        try:
            _sync_feed(run, source, full=full, sleep=sleep)
        except ConnectorError as exc:
            return _run_finish(run, failure=str(exc))
        except SecretsUnreadable:
            return _run_finish(
                run, failure="The stored credentials cannot be decrypted with the configured keys; enter them again."
            )
        except SoftTimeLimitExceeded:
            return _run_finish(
                run,
                failure=f"The sync ran into the {settings.CELERY_TASK_SOFT_TIME_LIMIT // 60}-minute task time "
                "limit and stopped; the next sync resumes from the last saved page.",
            )
        except Exception as exc:
            _run_finish(run, failure=f"The sync stopped on an unexpected error ({type(exc).__name__}); see the log.")
            raise
        return _run_finish(run)


def _sync_lock(source_id: int) -> AbstractContextManager[bool]:
    """Whether this process may sync the source (``config.locks.advisory_lock``)."""
    return advisory_lock(SYNC_LOCK_NAMESPACE, source_id)


def _run_claim(source: BacklogSource, trigger: str) -> BacklogSyncRun | None:
    """The new running run, or None when another live sync of the source has one.

    Under the advisory lock a run still marked running belongs to a worker that died: it is closed
    as failed. Without it (SQLite), a running run is live until the task time limit has passed.
    """
    now = timezone.now()
    with transaction.atomic():
        BacklogSource.objects.select_for_update().get(pk=source.pk)
        running = BacklogSyncRun.objects.filter(source=source, status=BacklogSyncRunStatus.RUNNING)
        if connection.vendor == "postgresql":
            running.update(
                status=BacklogSyncRunStatus.FAILED, finished_at=now,
                failure="The worker stopped before the sync finished; the next sync resumed from the last saved page.",
            )
        elif running.filter(started_at__gte=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)).exists():
            return None
        return BacklogSyncRun.objects.create(source=source, trigger=trigger)


def _run_finish(run: BacklogSyncRun, *, failure: str = "") -> BacklogSyncRun:
    run.status = BacklogSyncRunStatus.FAILED if failure else BacklogSyncRunStatus.SUCCEEDED
    run.failure = failure
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "failure", "finished_at"])
    return run


def _sync_feed(run: BacklogSyncRun, source: BacklogSource, *, full: bool, sleep: Sleep) -> None:
    tracker = tracker_for(source.kind)
    credentials = secrets_decrypt(source.credentials_encrypted)
    cursor = {} if full else dict(source.cursor)
    for page in tracker.fetch(source.settings, credentials, cursor, sleep=sleep):
        with transaction.atomic():
            counts = _records_store(source, tracker, page.records)
            BacklogSource.objects.filter(pk=source.pk).update(cursor=page.cursor)
        source.cursor = page.cursor
        run.fetched += len(page.records)
        run.created += counts.created
        run.updated += counts.updated
        run.unchanged += counts.unchanged
        run.save(update_fields=["fetched", "created", "updated", "unchanged"])


def _records_store(source: BacklogSource, tracker: Tracker, records: list[BacklogRecord]) -> _Counts:
    """Upsert one page's records: one query for the items already there, then a write per change."""
    counts = _Counts()
    latest = {record.external_key[:200]: record for record in records}  # the last word on a key wins
    if not latest:
        return counts
    existing: dict[str, BacklogItem] = {}
    # Items typed in by hand with the tracker's key before the source existed are adopted.
    for item in BacklogItem.objects.filter(
        Q(backlog_source=source) | Q(backlog_source__isnull=True), external_key__in=list(latest)
    ).order_by("backlog_source_id", "id"):
        if item.external_key not in existing or item.backlog_source_id == source.pk:
            existing[item.external_key] = item
    note = f"synced from {tracker.vendor}"
    for key, record in latest.items():
        status = status_for(record, tracker.default_status_mapping, source.status_mapping)
        found = existing.get(key)
        if found is None:
            _item_create(source, key, record, status, note)
            counts.created += 1
        elif _item_update(source, found, record, status, note):
            counts.updated += 1
        else:
            counts.unchanged += 1
    return counts


def _title(record: BacklogRecord) -> str:
    return (" ".join(record.title.split()) or record.external_key)[:300]


def _item_create(source: BacklogSource, key: str, record: BacklogRecord, status: str, note: str) -> BacklogItem:
    shipped_at = (record.closed_at or timezone.now()) if status == BacklogItemStatus.SHIPPED else None
    item = BacklogItem.objects.create(
        title=_title(record), description=record.description.strip(), kind=record.kind, status=status,
        external_key=key, external_url=record.url[:500], backlog_source=source, shipped_at=shipped_at,
    )
    _item_change(item, user=None, action="created", after=item.get_status_display(), note=note)
    return item


def _item_update(source: BacklogSource, item: BacklogItem, record: BacklogRecord, status: str, note: str) -> bool:
    """Bring the item in line with the tracker; True when anything changed."""
    wanted = {
        "title": _title(record),
        "description": record.description.strip(),
        "external_url": record.url[:500],
        "backlog_source": source,
    }
    edited = [field for field, value in wanted.items() if getattr(item, field) != value]
    for field in edited:
        setattr(item, field, wanted[field])
    fields = list(edited)
    if status != item.status:
        before = item.get_status_display()
        item.status = status
        item.shipped_at = (record.closed_at or timezone.now()) if status == BacklogItemStatus.SHIPPED else None
        fields += ["status", "shipped_at"]
        _item_change(item, user=None, action="status", before=before, after=item.get_status_display(), note=note)
    if edited:
        shown = ", ".join("tracker" if f == "backlog_source" else f.replace("_", " ") for f in edited)
        _item_change(item, user=None, action="edited", after=shown, note=note)
    if not fields:
        return False
    item.save(update_fields=[*fields, "updated_at"])
    return True


def backlog_sources_due_for_sync(*, now: Any = None) -> list[BacklogSource]:
    """Enabled sources with a schedule whose last sync started at least an interval ago."""
    now = now or timezone.now()
    due: list[BacklogSource] = []
    for source in BacklogSource.objects.filter(enabled=True, sync_interval_minutes__gt=0).annotate(
        last_sync=Max("sync_runs__started_at")
    ):
        assert source.sync_interval_minutes is not None
        if source.last_sync is None or source.last_sync <= now - timedelta(minutes=source.sync_interval_minutes):
            due.append(source)
    return due


def backlog_sources_sync_due_queue(*, now: Any = None) -> list[int]:
    """Queue a scheduled sync of every due backlog source once the transaction commits; returns their ids."""
    from config.dispatch import task_dispatch
    from roadmap.tasks import sync_backlog_source

    queued: list[int] = []
    for source in backlog_sources_due_for_sync(now=now):
        transaction.on_commit(partial(task_dispatch, sync_backlog_source, source.pk, trigger="schedule"))
        queued.append(source.pk)
    return queued
