"""``manage.py import_tickets PATH --source NAME``: import a CSV, JSON Lines or JSON file inline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.urls import reverse

from tickets.models import Source, SourceKind, SyncRun, SyncRunStatus, SyncTrigger
from tickets.services import SourceDisabled, file_import_create, file_import_run, source_get_or_create

MAX_PRINTED_REJECTIONS = 50


class Command(BaseCommand):
    help = (
        "Import tickets from a CSV, JSON Lines or JSON file into a source (created, kind upload, if "
        "missing). Prints the counts and every rejected row; exits non-zero only if the file as a whole "
        "cannot be imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="a .csv, .jsonl, .ndjson or .json file")
        parser.add_argument("--source", required=True, help="source name; created if there is none")
        parser.add_argument("--batch-size", type=int, default=None, help="records per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        if options["batch_size"] is not None and options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        sync_run = self._create_run(path, options["source"])
        meter = ProgressMeter(self.stderr)
        sync_run = file_import_run(sync_run_id=sync_run.pk, batch_size=options["batch_size"], on_progress=meter.show)
        meter.finish(sync_run)
        self._report(sync_run)
        if sync_run.status == SyncRunStatus.FAILED:
            raise CommandError(sync_run.failure)

    def _create_run(self, path: Path, source_name: str) -> SyncRun:
        name, limit = source_name.strip(), Source._meta.get_field("name").max_length or 100
        if not name or len(name) > limit:
            raise CommandError(f"--source must be a name of 1 to {limit} characters")
        source = source_get_or_create(name=name, kind=SourceKind.UPLOAD)
        try:
            return file_import_create(
                source=source, path=path.resolve(), file_name=path.name, trigger=SyncTrigger.COMMAND
            )
        except SourceDisabled as exc:
            raise CommandError(str(exc)) from None

    def _report(self, sync_run: SyncRun) -> None:
        self.stdout.write(
            f"{sync_run.file_name} into {sync_run.source.name!r} (run {sync_run.pk}): {sync_run.get_status_display()}"
        )
        self.stdout.write(
            f"created {sync_run.created:,}, updated {sync_run.updated:,}, "
            f"unchanged {sync_run.unchanged:,}, rejected {sync_run.rejected:,}"
        )
        shown = sync_run.errors[:MAX_PRINTED_REJECTIONS]
        for error in shown:
            self.stdout.write(f"line {error['line']}: {error['reason']}")
        if sync_run.rejected > len(shown):
            self.stdout.write(
                f"... and {sync_run.rejected - len(shown):,} more rejected rows; the first "
                f"{len(sync_run.errors):,} are listed on {reverse('import_run', args=[sync_run.pk])}"
            )


class ProgressMeter:
    """A status line on stderr: rewritten in place on a terminal, else a line at most every 5 s."""

    def __init__(self, stream: OutputWrapper) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.started = time.monotonic()
        # A log gets its first line after one interval, so a short import logs only the final line.
        self.shown_at = float("-inf") if self.interactive else self.started

    def show(self, sync_run: SyncRun) -> None:
        now = time.monotonic()
        if now - self.shown_at < (0.5 if self.interactive else 5):
            return
        self.shown_at = now
        self._write(sync_run, now)

    def finish(self, sync_run: SyncRun) -> None:
        self._write(sync_run, time.monotonic())
        if self.interactive:
            self.stream.write("")

    def _write(self, sync_run: SyncRun, now: float) -> None:
        percent = sync_run.progress_percent
        rate = sync_run.fetched / max(now - self.started, 1e-3)
        line = (
            f"{'?' if percent is None else percent:>3}% of {sync_run.progress_total or 0:,} bytes, "
            f"{sync_run.fetched:,} records, {rate:,.0f} records/s"
        )
        if self.interactive:
            self.stream.write(f"\r{line}", ending="")
            self.stream.flush()
        else:
            self.stream.write(line)
