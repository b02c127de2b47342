"""Background jobs of the roadmap app: backlog syncs, on the ``ingest`` queue with the help-desk syncs."""

from __future__ import annotations

import logging

from celery import shared_task

from roadmap.models import BacklogSource
from roadmap.sync import (
    BacklogSourceDisabled,
    BacklogSyncAlreadyRunning,
    backlog_source_sync,
    backlog_sources_sync_due_queue,
)

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, queue="ingest")
def sync_backlog_source(backlog_source_id: int, full: bool = False, trigger: str = "schedule") -> None:
    """Sync one backlog source. A repeated task is harmless: it finds the lock held or nothing new."""
    try:
        backlog_source_sync(backlog_source_id=backlog_source_id, full=full, trigger=trigger)
    except (BacklogSyncAlreadyRunning, BacklogSourceDisabled, BacklogSource.DoesNotExist) as exc:
        logger.info("sync of backlog source %s skipped: %s", backlog_source_id, exc)


@shared_task(queue="ingest")
def queue_due_backlog_syncs() -> None:
    """Beat, every few minutes: queue a sync of each backlog source whose interval has passed."""
    backlog_sources_sync_due_queue()


@shared_task(queue="ingest")
def tag_back_shipped_item(item_id: int, tag: str, user_id: int | None = None) -> dict[str, int | str]:
    """Close the loop: tag a shipped item's affected tickets in their help desks (harmless to repeat)."""
    from django.contrib.auth import get_user_model

    from roadmap.models import BacklogItem
    from roadmap.services import BacklogError, shipped_item_tag_back

    try:
        item = BacklogItem.objects.get(pk=item_id)
    except BacklogItem.DoesNotExist:
        logger.info("tagging the tickets of backlog item %s skipped: it was deleted", item_id)
        return {}
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        return shipped_item_tag_back(item=item, tag=tag, user=user)
    except BacklogError as exc:  # moved out of shipped since it was queued
        logger.info("tagging the tickets of backlog item %s skipped: %s", item_id, exc)
        return {}
