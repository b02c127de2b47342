"""``manage.py seed_demo``: fill a demo source with generated support traffic (see ``tickets.demo``)."""

from __future__ import annotations

from argparse import ArgumentTypeError
from datetime import UTC, date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickets.demo import DEFAULT_SEED, DEFAULT_TICKETS, demo_records, demo_timeline
from tickets.models import Source, SourceKind, SyncTrigger
from tickets.services import (
    IngestCounts,
    ingest_records,
    source_get_or_create,
    sync_run_finish,
    sync_run_record_progress,
    sync_run_start,
)

DEMO_SOURCE_NAME = "Demo help desk"


class Command(BaseCommand):
    help = (
        "Generate realistic demo tickets and import them into a demo source. Deterministic: the same "
        "--tickets, --seed and day give the same records, so re-running changes nothing. Dates are "
        "anchored on today (UTC), so a run on a later day moves the whole timeline forward and updates "
        "every ticket; pass --today to reproduce an earlier run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tickets", type=int, default=DEFAULT_TICKETS, help="how many (default 3000)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 7)")
        parser.add_argument("--source", default=DEMO_SOURCE_NAME, help=f"default {DEMO_SOURCE_NAME!r}")
        parser.add_argument("--today", type=_iso_date, help="anchor date YYYY-MM-DD (default: today, UTC)")

    def handle(
        self, *args: Any, tickets: int, seed: int, source: str, today: date | None, **options: Any
    ) -> None:
        if tickets < 1:
            raise CommandError("--tickets must be at least 1")
        today = today or datetime.now(UTC).date()
        target = _demo_source(source)
        counts = _seed(target, tickets, seed, today)
        timeline = demo_timeline(today)
        self.stdout.write(
            f"{target.name}: {tickets} demo tickets from {timeline.start} to {today} (seed {seed}): "
            f"{counts.created} created, {counts.updated} updated, {counts.unchanged} unchanged."
        )


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not a date like 2026-03-01") from None


def _demo_source(name: str) -> Source:
    source = source_get_or_create(name=name, kind=SourceKind.DEMO)
    # Generated tickets mixed into a real help desk's source could never be told apart again.
    if source.kind != SourceKind.DEMO:
        raise CommandError(
            f"Source {name!r} is a {source.get_kind_display()} source; demo data only goes into demo sources"
        )
    return source


def _seed(source: Source, tickets: int, seed: int, today: date) -> IngestCounts:
    """Ingest the generated records under a sync run, so the seeding shows in the source's history."""
    run = sync_run_start(source=source, trigger=SyncTrigger.COMMAND, file_name=f"seed_demo seed={seed}")
    records = demo_records(count=tickets, seed=seed, today=today)
    try:
        counts = ingest_records(source=source, records=records, sync_run=run)
    except Exception as exc:
        sync_run_finish(sync_run=run, failure=str(exc))
        raise
    sync_run_record_progress(sync_run=run, counts=counts, rejected=[], done=tickets, total=tickets)
    sync_run_finish(sync_run=run)
    return counts
