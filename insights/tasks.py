"""Celery tasks of the insights app: thin, take ids, idempotent, on the ``ml`` queue."""

from __future__ import annotations

import httpx
from celery import shared_task

from insights import services


@shared_task(acks_late=True)
def process_ingest_batch(batch_id: int) -> None:
    services.ingest_batch_process(batch_id=batch_id)


@shared_task(acks_late=True)
def refresh_theme_stats() -> None:
    while services.theme_stats_refresh():
        pass


@shared_task
def check_spikes() -> None:
    services.spikes_check()


@shared_task(autoretry_for=(httpx.TransportError,), max_retries=5, retry_backoff=30, retry_jitter=True)
def notify_spike(alert_id: int) -> None:
    services.spike_alert_notify(alert_id=alert_id)


@shared_task(acks_late=True)
def assign_tickets(ticket_ids: list[int]) -> None:
    services.tickets_assign(ticket_ids=ticket_ids)


@shared_task(acks_late=True)
def retrain_classifier() -> None:
    services.classifier_retrain_if_needed()


@shared_task(acks_late=True)
def discover_themes(run_id: int | None = None) -> None:
    services.discovery_run(run_id=run_id)


@shared_task(queue="default")
def send_deferred_tasks() -> None:
    """Beat, every minute, on the light ``default`` queue: send the hand-offs deferred while the
    broker was down. That a worker ran it is also the workers' heartbeat that admins see."""
    from config.dispatch import deferred_tasks_send
    from config.health import worker_heartbeat_record

    worker_heartbeat_record()
    deferred_tasks_send()
