"""``make run``'s server: Django's development server plus the periodic jobs, in one process."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.embedded import PeriodicJobs


class Command(BaseCommand):
    help = (
        "Serve the embedded Threadline (no broker): the web server, and celery beat's periodic jobs "
        "(theme statistics, spikes, retraining, discovery) run inline in a background thread."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("a broker is configured: run `celery worker` and `celery beat` instead")
        jobs = PeriodicJobs(settings.CELERY_BEAT_SCHEDULE)
        every = ", ".join(f"{job.name} every {job.every / 60:g} min" for job in jobs.jobs)
        self.stdout.write(f"Periodic jobs run in this process: {every}.")
        jobs.start()
        try:
            # The autoreloader would restart the process (and the jobs) on every code change.
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            jobs.stop()
