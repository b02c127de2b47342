"""The one way work is handed to the workers: publish, or keep the hand-off in PostgreSQL.

``task_dispatch`` publishes with a short, bounded retry. When the broker (Redis) cannot be reached
it stores the hand-off as a ``DeferredTask`` row instead of raising, so the web request that
committed the work still answers at once and nothing is lost; ``deferred_tasks_send`` (beat, every
minute, and the embedded scheduler) publishes those rows once the broker is back. Every task is
idempotent, so a hand-off that reached the broker after all and is sent again by the sweep is harmless.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import Task
from celery.exceptions import NotRegistered
from celery.result import AsyncResult
from django.db import transaction
from django.db.models import Count, F, Min
from kombu.exceptions import OperationalError

from config.embedded import registered_task
from insights.models import DeferredTask

logger = logging.getLogger(__name__)

# Connection refused, reset, timed out: what a missing broker looks like once kombu is done retrying.
BROKER_ERRORS: tuple[type[Exception], ...] = (OperationalError, ConnectionError, TimeoutError)
# About half a second against a refused connection: the caller is usually a web request.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def task_dispatch(task: Task, *args: Any, **kwargs: Any) -> AsyncResult | None:
    """Queue ``task(*args, **kwargs)``; the task's result handle, or None when the hand-off was deferred.

    Call it from ``transaction.on_commit`` like ``delay``. Inline (eager) tasks run here as with
    ``delay`` and their errors propagate; only broker errors are caught.
    """
    try:
        return _publish(task, args, kwargs)
    except BROKER_ERRORS as exc:
        DeferredTask.objects.create(task_name=task.name, args=list(args), kwargs=kwargs, last_error=_describe(exc))
        logger.warning("broker unreachable (%s): %s deferred until it is back", _describe(exc), task.name)
        return None


def deferred_tasks_send(*, limit: int = 500) -> int:
    """Publish up to ``limit`` deferred hand-offs, oldest first; how many were sent.

    Rows are claimed with SKIP LOCKED, so two sweeps never send the same row. The first broker
    error stops the sweep: the rest stay for the next one, with the error and their attempt counted.
    """
    sent = 0
    with transaction.atomic():
        claimed = list(DeferredTask.objects.select_for_update(skip_locked=True).order_by("created_at", "pk")[:limit])
        for position, deferred in enumerate(claimed):
            try:
                _publish(registered_task(deferred.task_name), tuple(deferred.args), deferred.kwargs)
            except NotRegistered:
                # A task renamed or removed since: kept (and counted as waiting) for an admin to see.
                logger.error("deferred hand-off %s names no known task: %s", deferred.pk, deferred.task_name)
                DeferredTask.objects.filter(pk=deferred.pk).update(last_error="no such task")
                continue
            except BROKER_ERRORS as exc:
                waiting = DeferredTask.objects.filter(pk__in=[row.pk for row in claimed[position:]])
                count = waiting.update(attempts=F("attempts") + 1, last_error=_describe(exc))
                logger.warning("broker still unreachable (%s): %d hand-offs keep waiting", _describe(exc), count)
                break
            deferred.delete()
            sent += 1
    if sent:
        logger.info("sent %d deferred hand-offs to the broker", sent)
    return sent


def deferred_tasks_waiting() -> tuple[int, datetime | None]:
    """How many hand-offs wait for the broker, and since when the oldest has waited."""
    summary = DeferredTask.objects.aggregate(count=Count("pk"), oldest=Min("created_at"))
    return summary["count"], summary["oldest"]


def _publish(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncResult:
    return task.apply_async(args=args, kwargs=kwargs, retry=True, retry_policy=PUBLISH_RETRY_POLICY)


def _describe(exc: Exception) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:500]
