"""Ingestion throughput: the production service against raw COPY of the same rows, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline_bench \\
        .venv/bin/python bench/ingest.py [--tickets N] [--messages-per-ticket M] [--seed S] [--repeat R]

Each run migrates the database, empties the ticket tables and then

1. imports N synthetic tickets (about M messages each) through ``tickets.services.ingest_records``,
   the path every connector takes, each committed batch handed to processing as in production: an
   ``IngestBatch`` row and a published ``process_ingest_batch`` task (to kombu's in-process memory
   broker here, so no worker runs it: processing is what bench/assignment.py measures, on workers);
2. imports the same records again (all unchanged: the idempotent re-import);
3. empties the tables and COPYs the same rows (organizations, customers, tickets, messages, same
   column values) with raw psycopg into the same tables, indexes and constraints.

Records are generated lazily from a seeded generator in every phase, so generating them costs the
same on both sides (``generate_seconds`` is that cost alone) and nothing holds all of them in memory.
The COPY side writes a placeholder of the same width for ``content_hash``: hashing is work the
service does for idempotency, and leaving it out keeps the baseline the database's bulk-load ceiling.

It prints one JSON object; ``rows`` counts tickets + messages and ``ratio`` is the service's rows/s
over COPY's rows/s. With
``--repeat`` every figure is the median over the runs. Memory: ``peak_rss_mb`` is the process's
ru_maxrss; ``service.rss_mb_by_tenth`` samples RSS after every tenth of the first run's service
phase, flat when memory does not grow with N.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import resource
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
ORGANIZATIONS = 500
COPY_CHUNK = 10_000
PLACEHOLDER_HASH = "0" * 64
PLANS = [("free", 0), ("starter", 1_200), ("pro", 12_000), ("business", 48_000), ("enterprise", 150_000)]
VOCABULARY = (
    "hi hello thanks please the a my our your account invoice card payment declined export csv report "
    "dashboard login password reset sso saml okta two-factor code email notification webhook api token "
    "rate limit error timeout slow page loading mobile app android ios crash update sync calendar "
    "integration slack salesforce billing refund plan upgrade downgrade seat user admin permission role "
    "team workspace project file upload attachment size limit search filter missing data broken link "
    "since yesterday again still not working urgent customer asked when will this be fixed regards"
)
WORDS = VOCABULARY.split()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    _setup_django(inline_tasks=False)
    from django.db import connection

    runs = []
    for _ in range(args.repeat):
        runs.append(_run_once(args, connection))
        print(f"run {len(runs)}: ratio {runs[-1]['ratio']}", file=sys.stderr)
    result = _median_of(runs)
    # Later runs reuse the memory the first one grew, so the first run's samples are the telling ones.
    result["service"]["rss_mb_by_tenth"] = runs[0]["service"]["rss_mb_by_tenth"]
    result["runs"] = args.repeat
    result["ratios"] = [run["ratio"] for run in runs]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages-per-ticket", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="runs; figures are medians")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the service phase")
    args = parser.parse_args(argv)
    if args.tickets < 1 or args.messages_per_ticket < 1 or args.repeat < 1:
        parser.error("--tickets, --messages-per-ticket and --repeat must be at least 1")
    return args


def _setup_django(*, inline_tasks: bool = True) -> None:
    import dj_database_url

    url = os.environ.get("DATABASE_URL", "")
    if not url or not dj_database_url.parse(url)["ENGINE"].endswith("postgresql"):
        sys.exit(
            "bench/ingest.py measures PostgreSQL: set DATABASE_URL to a database it may empty, e.g.\n"
            "  createdb -h 127.0.0.1 -U postgres threadline_bench\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline_bench .venv/bin/python bench/ingest.py"
        )
    # Production settings (no query log); tasks run inline in this process, or are only published.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true" if inline_tasks else "false"
    if not inline_tasks:
        os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(BASE_DIR))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def _run_once(args: argparse.Namespace, connection: Any) -> dict[str, Any]:
    from tickets.models import Message, Source, SourceKind, Ticket
    from tickets.services import ingest_records

    def records() -> Iterator[Any]:
        return synthetic_records(tickets=args.tickets, messages_per_ticket=args.messages_per_ticket, seed=args.seed)

    _empty_ticket_tables(connection)
    source = Source.objects.create(name="bench", kind=SourceKind.DEMO)
    rss: list[float] = []
    profiler = cProfile.Profile() if args.profile else None
    service_seconds, counts = _timed(
        lambda: ingest_records(source=source, records=_sampling_rss(records(), args.tickets // 10 or 1, rss)),
        profiler,
    )
    if profiler:
        profiler.dump_stats(args.profile)
    tickets, messages = Ticket.objects.count(), Message.objects.count()
    if (counts.created, tickets) != (args.tickets, args.tickets):
        raise SystemExit(f"service stored {tickets} tickets, created {counts.created}; expected {args.tickets}")
    rows = tickets + messages
    reimport_seconds, again = _timed(lambda: ingest_records(source=source, records=records()))
    if again.unchanged != args.tickets or Message.objects.count() != messages:
        raise SystemExit(f"re-import was not a no-op: {again}")

    _empty_ticket_tables(connection)
    source = Source.objects.create(name="bench", kind=SourceKind.DEMO)
    copy_seconds, copied = _timed(lambda: copy_records(records(), source_id=source.pk))
    if copied != rows:
        raise SystemExit(f"COPY wrote {copied} rows, the service {rows}")
    service_rate, copy_rate = rows / service_seconds, rows / copy_seconds
    generate_seconds, _ = _timed(lambda: sum(1 for _ in records()))
    return {
        "tickets": tickets,
        "messages": messages,
        "rows": rows,
        "service": {
            "seconds": round(service_seconds, 2),
            "rows_per_second": round(service_rate),
            "rss_mb_by_tenth": rss,
        },
        "copy": {"seconds": round(copy_seconds, 2), "rows_per_second": round(copy_rate)},
        "ratio": round(service_rate / copy_rate, 3),
        "generate_seconds": round(generate_seconds, 2),
        "reimport": {
            "seconds": round(reimport_seconds, 2),
            "tickets_per_second": round(args.tickets / reimport_seconds),
            "rows_per_second": round(rows / reimport_seconds),
            "unchanged": again.unchanged,
        },
    }


def _timed(work: Callable[[], Any], profiler: cProfile.Profile | None = None) -> tuple[float, Any]:
    started = time.perf_counter()
    result = profiler.runcall(work) if profiler else work()
    return time.perf_counter() - started, result


def _empty_ticket_tables(connection: Any) -> None:
    from tickets.models import Customer, IngestBatch, Message, Organization, Source, SyncRun, Ticket

    models = (Message, Ticket, Customer, Organization, IngestBatch, SyncRun, Source)
    tables = ", ".join(model._meta.db_table for model in models)
    with connection.cursor() as cursor:
        # CASCADE: the insights and roadmap tables that point at tickets go too; this database is the bench's.
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        cursor.execute("CHECKPOINT")


def _sampling_rss(records: Iterable[Any], every: int, samples: list[float]) -> Iterator[Any]:
    """Pass ``records`` through, noting the resident set size (MB) after every ``every`` of them."""
    page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
    for number, record in enumerate(records, 1):
        yield record
        if number % every == 0:
            with open("/proc/self/statm") as statm:
                samples.append(round(int(statm.read().split()[1]) * page_mb, 1))


def synthetic_records(*, tickets: int, messages_per_ticket: int, seed: int) -> Iterator[Any]:
    """A deterministic stream of ``tickets`` tickets with ``messages_per_ticket`` messages on average,
    from a fixed set of organizations and customers (one customer per four tickets)."""
    from tickets.records import CustomerRecord, MessageRecord, OrganizationRecord, TicketRecord

    rng = random.Random(seed)
    organizations = []
    for number in range(ORGANIZATIONS):
        plan, arr = rng.choice(PLANS)
        organizations.append(
            OrganizationRecord(external_id=f"org-{number}", name=f"Company {number}", plan=plan,
                               arr=Decimal(arr * rng.randint(1, 5)).quantize(Decimal("0.01")))
        )
    customers = max(1, tickets // 4)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(tickets):
        customer = rng.randrange(customers)
        organization = organizations[customer % ORGANIZATIONS]
        created_at = start + timedelta(seconds=rng.randrange(180 * 86_400))
        spread = rng.choice((-1, 0, 1)) if messages_per_ticket > 1 else 0
        messages = tuple(
            MessageRecord(
                external_id=str(index),
                body=" ".join(rng.choices(WORDS, k=rng.randint(15, 60))),
                created_at=created_at + timedelta(minutes=41 * index),
                author_role="agent" if index % 2 else "customer",
                author_name=f"Agent {index % 7}" if index % 2 else f"Customer {customer}",
            )
            for index in range(messages_per_ticket + spread)
        )
        yield TicketRecord(
            external_id=f"T-{number}",
            created_at=created_at,
            messages=messages,
            subject=" ".join(rng.choices(WORDS, k=rng.randint(3, 8))),
            channel=rng.choice(("email", "chat", "web")),
            status=rng.choice(("open", "pending", "solved", "closed")),
            requester=CustomerRecord(external_id=f"cust-{customer}", name=f"Customer {customer}",
                                     email=f"customer{customer}@org{customer % ORGANIZATIONS}.test"),
            organization=organization,
            tags=tuple(sorted(set(rng.choices(WORDS, k=2)))),
            csat=rng.choice((None, 1, 2, 3, 4, 5)),
            language="en",
        )


def copy_records(records: Iterable[Any], *, source_id: int) -> int:
    """COPY the rows the service would store for ``records`` with raw psycopg; return tickets + messages.

    Ids are assigned here, in chunks of ``COPY_CHUNK`` tickets, one transaction each.
    """
    import psycopg

    organization_ids: dict[str, int] = {}
    customer_ids: dict[str, int] = {}
    next_id = {"ticket": 1, "message": 1}
    written = 0
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        chunk: list[Any] = []
        for record in records:
            chunk.append(record)
            if len(chunk) == COPY_CHUNK:
                written += _copy_chunk(conn, chunk, source_id, organization_ids, customer_ids, next_id)
                chunk = []
        if chunk:
            written += _copy_chunk(conn, chunk, source_id, organization_ids, customer_ids, next_id)
        with conn.cursor() as cursor:
            for table in ("tickets_organization", "tickets_customer", "tickets_ticket", "tickets_message"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return written


def _copy_chunk(
    conn: Any,
    records: list[Any],
    source_id: int,
    organization_ids: dict[str, int],
    customer_ids: dict[str, int],
    next_id: dict[str, int],
) -> int:
    now = datetime.now(UTC)
    organizations, customers, tickets, messages = [], [], [], []
    for record in records:
        org, person = record.organization, record.requester
        if org.external_id not in organization_ids:
            organization_ids[org.external_id] = len(organization_ids) + 1
            organizations.append((organization_ids[org.external_id], source_id, org.external_id, org.name,
                                  org.plan, org.arr, "{}"))
        if person.external_id not in customer_ids:
            customer_ids[person.external_id] = len(customer_ids) + 1
            customers.append((customer_ids[person.external_id], source_id, person.external_id, person.name,
                              person.email, organization_ids[org.external_id]))
        ticket_id = next_id["ticket"]
        next_id["ticket"] += 1
        tickets.append((
            ticket_id, source_id, record.external_id, record.channel, record.subject, record.status,
            record.priority, customer_ids[person.external_id], organization_ids[org.external_id],
            record.created_at, record.updated_at, record.solved_at, record.reopen_count,
            json.dumps(list(record.tags)), record.csat, record.language, record.url, PLACEHOLDER_HASH,
            now, now,
        ))
        for message in record.messages:
            messages.append((next_id["message"], ticket_id, message.external_id, message.author_role,
                             message.author_name, message.body, message.created_at, message.is_public))
            next_id["message"] += 1
    with conn.cursor() as cursor:
        for statement, rows in (
            ("tickets_organization (id, source_id, external_id, name, plan, arr, attributes)", organizations),
            ("tickets_customer (id, source_id, external_id, name, email, organization_id)", customers),
            ("tickets_ticket (id, source_id, external_id, channel, subject, status, priority, requester_id, "
             "organization_id, created_at, updated_at, solved_at, reopen_count, tags, csat, language, url, "
             "content_hash, ingested_at, changed_at)", tickets),
            ("tickets_message (id, ticket_id, external_id, author_role, author_name, body, created_at, "
             "is_public)", messages),
        ):
            with cursor.copy(f"COPY {statement} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    conn.commit()
    return len(tickets) + len(messages)


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number the median over ``runs``; lists and other values from the median-ratio run."""
    middle = sorted(runs, key=lambda run: run["ratio"])[len(runs) // 2]

    def merge(values: list[Any], typical: Any) -> Any:
        if isinstance(typical, dict):
            return {key: merge([v[key] for v in values], typical[key]) for key in typical}
        if isinstance(typical, (int, float)) and not isinstance(typical, bool):
            median = statistics.median(values)
            return round(median, 3) if isinstance(median, float) else median
        return typical

    return merge(runs, middle)


if __name__ == "__main__":
    sys.exit(main())
