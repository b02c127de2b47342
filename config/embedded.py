"""The periodic jobs of ``CELERY_BEAT_SCHEDULE``, run in-process for the embedded configuration.

With a broker, ``celery beat`` queues these jobs for the workers. The embedded run (``make run``:
SQLite, tasks inline, no broker) has no beat, so without this the model would never retrain on a
support lead's corrections, discovery would never propose new themes and spikes would never be
checked. ``PeriodicJobs`` runs the very same schedule in a background thread of the web process,
one job at a time, each through the task's own code (``apply``), like an eager ``delay``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    name: str
    task: str
    every: float  # seconds
    args: tuple[Any, ...]
    due: float


class PeriodicJobs:
    """Run each entry of a beat schedule every ``schedule`` seconds (a number or a timedelta).

    ``clock`` and ``wait`` are injectable so tests drive time; ``run_task(name, args)`` defaults to
    applying the registered Celery task inline.
    """

    def __init__(
        self,
        schedule: Mapping[str, Mapping[str, Any]],
        *,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
        run_task: Callable[[str, tuple[Any, ...]], Any] | None = None,
        first_after: float = 60.0,
    ) -> None:
        self._clock = clock
        self._stopped = threading.Event()
        self._wait = wait or self._stopped.wait
        self._run_task = run_task or _apply_task
        start = clock()
        self.jobs = [
            _Job(name, entry["task"], _seconds(entry["schedule"]), tuple(entry.get("args", ())), start + first_after)
            for name, entry in schedule.items()
        ]

    def run_due(self) -> list[str]:
        """Run every job that is due now (oldest first) and schedule its next run; their names."""
        ran = []
        for job in sorted(self.jobs, key=lambda j: j.due):
            if job.due > self._clock():
                continue
            try:
                self._run_task(job.task, job.args)
            except Exception:
                # A failing job must not stop the others (celery beat behaves the same); the
                # task itself records its failure where it has a state (DiscoveryRun, SyncRun).
                logger.exception("periodic job %s failed", job.name)
            finally:
                _close_database_connections()
            job.due = self._clock() + job.every
            ran.append(job.name)
        return ran

    def run_forever(self) -> None:
        while not self._stopped.is_set():
            self.run_due()
            pause = max(1.0, min(job.due for job in self.jobs) - self._clock()) if self.jobs else 3600.0
            if self._wait(pause):
                return

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="threadline-periodic-jobs", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stopped.set()


def _seconds(schedule: Any) -> float:
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    if isinstance(schedule, int | float):
        return float(schedule)
    raise ValueError(f"the embedded scheduler runs fixed intervals, not {schedule!r}")


def registered_task(name: str) -> Any:
    """The Celery task called ``name`` (the apps' task modules are imported on first use)."""
    from config.celery import app

    app.loader.import_default_modules()
    return app.tasks[name]


def _apply_task(name: str, args: tuple[Any, ...]) -> Any:
    return registered_task(name).apply(args=args).get(propagate=True)


def _close_database_connections() -> None:
    from django.db import connections

    connections.close_all()
