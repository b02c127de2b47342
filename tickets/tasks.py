"""Background jobs of the ticket store; all run on the ``ingest`` queue (see CELERY_TASK_ROUTES)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from tickets.models import Source, SyncTrigger
from tickets.services import (
    SourceDisabled,
    SyncAlreadyRunning,
    file_import_run,
    source_sync,
    sources_sync_due_queue,
)

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def import_file(sync_run_id: int) -> None:
    """Import the file of a queued SyncRun; a redelivered or repeated task finds it claimed or done."""
    file_import_run(sync_run_id=sync_run_id)


@shared_task(acks_late=True)
def sync_source(
    source_id: int, full: bool = False, trigger: str = SyncTrigger.SCHEDULE, started_by_id: int | None = None
) -> None:
    """Sync one help-desk source. A repeated task is harmless: the second finds the lock held or nothing new."""
    started_by = get_user_model().objects.filter(pk=started_by_id).first() if started_by_id else None
    try:
        source_sync(source_id=source_id, full=full, trigger=trigger, started_by=started_by)
    except (SyncAlreadyRunning, SourceDisabled, Source.DoesNotExist) as exc:
        logger.info("sync of source %s skipped: %s", source_id, exc)


@shared_task
def queue_due_syncs() -> None:
    """Beat, every minute: queue a sync of each source whose schedule says it is due."""
    sources_sync_due_queue()
