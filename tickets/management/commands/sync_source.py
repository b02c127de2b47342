"""``manage.py sync_source NAME [--full]``: sync one help-desk source inline and print the counts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickets.models import Source, SyncRun, SyncRunStatus, SyncTrigger
from tickets.services import SourceDisabled, SyncAlreadyRunning, source_sync

MAX_PRINTED_ERRORS = 50


class Command(BaseCommand):
    help = (
        "Pull what changed in a source's help desk since its last sync (everything with --full) and print "
        "the counts. Exits non-zero when the sync fails, with the reason."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the source's name")
        parser.add_argument("--full", action="store_true", help="ignore the saved cursor and read everything again")

    def handle(self, *args: Any, **options: Any) -> None:
        source = Source.objects.filter(name=options["name"]).first()
        if source is None:
            names = ", ".join(Source.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"There is no source named {options['name']!r} (sources: {names}).")
        try:
            sync_run = source_sync(
                source_id=source.pk, full=options["full"], trigger=SyncTrigger.COMMAND, on_progress=self._progress
            )
        except (SourceDisabled, SyncAlreadyRunning) as exc:
            raise CommandError(str(exc)) from None
        self._report(sync_run)
        if sync_run.status == SyncRunStatus.FAILED:
            raise CommandError(sync_run.failure)

    def _progress(self, sync_run: SyncRun) -> None:
        total = f" of {sync_run.progress_total:,}" if sync_run.progress_total else ""
        self.stderr.write(f"{sync_run.fetched:,}{total} fetched")

    def _report(self, sync_run: SyncRun) -> None:
        duration = (
            f" in {(sync_run.finished_at - sync_run.started_at).total_seconds():.1f} s"
            if sync_run.finished_at and sync_run.started_at
            else ""
        )
        self.stdout.write(f"{sync_run.source.name} (run {sync_run.pk}): {sync_run.get_status_display()}{duration}")
        self.stdout.write(
            f"fetched {sync_run.fetched:,}, created {sync_run.created:,}, updated {sync_run.updated:,}, "
            f"unchanged {sync_run.unchanged:,}, deleted {sync_run.deleted:,}, failed {sync_run.rejected:,}"
        )
        for error in sync_run.errors[:MAX_PRINTED_ERRORS]:
            self.stdout.write(f"{error.get('external_id') or '?'}: {error.get('reason')}")
        if sync_run.rejected > MAX_PRINTED_ERRORS:
            self.stdout.write(f"... and {sync_run.rejected - MAX_PRINTED_ERRORS:,} more")
