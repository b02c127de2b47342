"""Background jobs of the ticket store; all run on the ``ingest`` queue (see CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from tickets.services import file_import_run


@shared_task(acks_late=True)
def import_file(sync_run_id: int) -> None:
    """Import the file of a queued SyncRun; a redelivered or repeated task finds it claimed or done."""
    file_import_run(sync_run_id=sync_run_id)
