"""Help-desk sync throughput: the Zendesk connector against a local Zendesk-like server, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline_bench \\
        .venv/bin/python bench/sync.py [--tickets N] [--comments-per-ticket M]

The server is the fake Zendesk of the tests (tests/connectors/fake_zendesk.py): the incremental
cursor export in pages of 1,000 with users, organizations and metric sets sideloaded, and one comments
request per ticket, over real HTTP on 127.0.0.1 (a thread of this process). Each run migrates the
database, empties the ticket tables and measures, in the same run:

1. ``sync``: ``source_sync`` of an empty source, the whole path (HTTP, parsing, ingestion, cursor);
2. ``fetch_only``: the connector's pages without storing them (HTTP and parsing alone);
3. ``ingest_only``: ``ingest_records`` of the same records into another empty source (the database alone);
4. ``no_change``: a second ``source_sync`` when nothing changed (one export request).

It prints one JSON object; ``tickets_per_second`` is the sync's, ``overhead`` the sync's time over
fetch_only + ingest_only (1.0 means the sync adds nothing of its own).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

BASE_DIR = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=5_000)
    parser.add_argument("--comments-per-ticket", type=int, default=3)
    args = parser.parse_args(argv)
    if args.tickets < 1 or args.comments_per_ticket < 1:
        parser.error("--tickets and --comments-per-ticket must be at least 1")
    _setup_django()
    print(json.dumps(_run(args.tickets, args.comments_per_ticket)))
    return 0


def _setup_django() -> None:
    import dj_database_url

    url = os.environ.get("DATABASE_URL", "")
    if not url or not dj_database_url.parse(url)["ENGINE"].endswith("postgresql"):
        sys.exit(
            "bench/sync.py measures PostgreSQL: set DATABASE_URL to a database it may empty, e.g.\n"
            "  createdb -h 127.0.0.1 -U postgres threadline_bench\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline_bench .venv/bin/python bench/sync.py"
        )
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    # Processing of the ingested tickets is not what is measured here: leave it queued.
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(BASE_DIR))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    # A worker imports its task modules (scikit-learn among them) once at start, not during a sync.
    import insights.tasks  # noqa: F401


def _timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def _run(tickets: int, comments: int) -> dict[str, Any]:
    from unittest import mock

    from tests.connectors.fake_zendesk import EMAIL, TOKEN, FakeZendesk
    from tests.connectors.server import serving
    from tickets.connectors import zendesk
    from tickets.models import IngestBatch, Message, Source, Ticket
    from tickets.services import ingest_records, source_configure, source_sync

    Source.objects.filter(name__startswith="bench-sync").delete()
    fake = FakeZendesk(page_size=1000)
    fake.comments_page_size = 100
    for number in range(1, tickets + 1):
        thread = [
            (101 if turn % 2 == 0 else 9, f"Message {turn} of ticket {number}: the export is slow.", True)
            for turn in range(comments)
        ]
        fake.add_ticket(number, f"Ticket {number}", 101 + number % 2, thread, organization_id=500)
    with serving(fake), mock.patch("django.db.transaction.on_commit"):
        source, _ = source_configure(
            name="bench-sync",
            kind="zendesk",
            settings_update={"email": EMAIL, "base_url": fake.base_url},
            secrets_update={"api_token": TOKEN},
        )
        sync_seconds, run = _timed(lambda: source_sync(source_id=source.pk, sleep=lambda s: None))
        if run.created != tickets or Ticket.objects.filter(source=source).count() != tickets:
            raise SystemExit(f"the sync stored {run.created} tickets; expected {tickets}: {run.failure}")
        requests = len(fake.requests)

        def fetch_all() -> list[Any]:
            settings = {"email": EMAIL, "base_url": fake.base_url}
            pages = zendesk.fetch(settings, {"api_token": TOKEN}, {}, sleep=lambda s: None)
            return [record for page in pages for record in page.records]

        fetch_seconds, records = _timed(fetch_all)
        other = Source.objects.create(name="bench-sync-ingest", kind="demo")
        ingest_seconds, counts = _timed(lambda: ingest_records(source=other, records=records))
        assert counts.created == tickets
        fake.requests.clear()
        again_seconds, again = _timed(lambda: source_sync(source_id=source.pk, sleep=lambda s: None))
        assert (again.created, again.updated) == (0, 0)
    messages = Message.objects.filter(ticket__source=source).count()
    IngestBatch.objects.filter(source__name__startswith="bench-sync").delete()
    Source.objects.filter(name__startswith="bench-sync").delete()
    return {
        "tickets": tickets,
        "messages": messages,
        "http_requests": requests,
        "sync_seconds": round(sync_seconds, 3),
        "tickets_per_second": round(tickets / sync_seconds, 1),
        "fetch_only_seconds": round(fetch_seconds, 3),
        "ingest_only_seconds": round(ingest_seconds, 3),
        "overhead": round(sync_seconds / (fetch_seconds + ingest_seconds), 2),
        "no_change_sync_seconds": round(again_seconds, 3),
        "no_change_requests": len(fake.requests),
    }


if __name__ == "__main__":
    raise SystemExit(main())
