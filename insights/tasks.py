from __future__ import annotations

from celery import shared_task

from insights.services import ingest_batch_process


@shared_task(acks_late=True)
def process_ingest_batch(batch_id: int) -> None:
    ingest_batch_process(batch_id=batch_id)
