"""Celery tasks of the insights app: thin, take ids, idempotent, on the ``ml`` queue."""

from __future__ import annotations

from celery import shared_task

from insights import services


@shared_task(acks_late=True)
def process_ingest_batch(batch_id: int) -> None:
    services.ingest_batch_process(batch_id=batch_id)


@shared_task(acks_late=True)
def refresh_theme_stats() -> None:
    while services.theme_stats_refresh():
        pass
