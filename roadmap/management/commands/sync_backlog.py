"""``manage.py sync_backlog NAME [--full]``: sync one backlog source inline and print the counts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from roadmap.models import BacklogSource, BacklogSyncRunStatus
from roadmap.sync import BacklogSourceDisabled, BacklogSyncAlreadyRunning, backlog_source_sync


class Command(BaseCommand):
    help = (
        "Pull what changed in a backlog source's tracker (GitHub, Jira, Linear) since its last sync "
        "(everything with --full) and print the counts. Exits non-zero when the sync fails, with the reason."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the backlog source's name")
        parser.add_argument("--full", action="store_true", help="ignore the saved cursor and read everything again")

    def handle(self, *args: Any, **options: Any) -> None:
        source = BacklogSource.objects.filter(name=options["name"]).first()
        if source is None:
            names = ", ".join(BacklogSource.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"There is no backlog source named {options['name']!r} (backlog sources: {names}).")
        try:
            run = backlog_source_sync(backlog_source_id=source.pk, full=options["full"], trigger="command")
        except (BacklogSourceDisabled, BacklogSyncAlreadyRunning) as exc:
            raise CommandError(str(exc)) from None
        duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0.0
        self.stdout.write(f"{source.name} (run {run.pk}): {run.get_status_display()} in {duration:.1f} s")
        self.stdout.write(
            f"fetched {run.fetched:,}, created {run.created:,}, updated {run.updated:,}, unchanged {run.unchanged:,}"
        )
        if run.status == BacklogSyncRunStatus.FAILED:
            raise CommandError(run.failure)
