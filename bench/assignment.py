"""Theme assignment by real Celery workers against the bare scikit-learn calls, on PostgreSQL + Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline_bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/assignment.py [--tickets N] [--train T] [--workers W] [--seed S]

1. Setup, not timed: T demo tickets are imported with processing inline, the representation is
   fitted, discovery runs, every suggestion is accepted and the classifier trained: the model a
   running installation has.
2. N more demo tickets are imported through ``tickets.services.ingest_records`` with the broker on
   and no worker running, so their processing hand-offs (one ``process_ingest_batch`` per committed
   batch) wait in Redis, as after a large first sync.
3. ``celery worker -Q ml --concurrency W`` starts (W pool processes, default 2) and drains them:
   text preparation, vectors, theme assignment and the writes to PostgreSQL. ``service`` is timed
   from the worker's "ready" line to the last batch's ``processed_at``.
4. Re-assignment of all of them, as after a retraining (``tickets_reassign_all`` queues
   ``assign_tickets`` chunks on ``ml``; each reads the stored vectors, predicts and writes the
   themes): every analysis's classifier version is cleared, the chunks are queued, and a new
   worker with W processes assigns them (``reassign``, timed from its "ready" line until no ticket
   is left unassigned, polled every 2 s).
5. Baseline, same run, same texts, same W processes: the representation's ``transform`` + the
   classifier's ``predict_proba`` on the prepared texts in chunks of the ingest batch size
   (a ``multiprocessing`` pool of W, models loaded before the fork, no database).

It prints one JSON object; ``ratio`` is the re-assignment's tickets/s over the bare calls'
tickets/s, ``processing_ratio`` the same for step 3 (preparation, vectors, assignment and writes).
``worker_peak_rss_mb`` is the largest resident set of a worker pool process, sampled every second:
compare it between sizes of N to see that memory does not grow with the backlog.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import _setup_django, _timed
from theming import _accept_all, _empty_tables, _train

BASE_DIR = Path(__file__).resolve().parent.parent
TODAY = date(2026, 6, 1)
_bare_models: dict[str, Any] = {}


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench/assignment.py needs REDIS_URL (a Redis database it may empty), e.g. redis://127.0.0.1:6379/9")
    # Model files go to a temporary directory unless THREADLINE_DATA_DIR names one to keep.
    data_dir = None if os.environ.get("THREADLINE_DATA_DIR") else tempfile.TemporaryDirectory(prefix="assignment-")
    if data_dir:
        os.environ["THREADLINE_DATA_DIR"] = data_dir.name
    _setup_django()
    from celery import current_app
    from django.db import connection

    _empty_tables(connection)
    setup_seconds, _ = _timed(lambda: _train_model(args))
    print(f"model trained on {args.train} tickets in {setup_seconds:.0f} s", file=sys.stderr, flush=True)

    current_app.conf.task_always_eager = False
    with current_app.connection_for_write() as broker:
        broker.default_channel.client.flushdb()
    ingest_seconds, ticket_ids = _timed(lambda: _ingest_queued(args))
    print(f"{len(ticket_ids)} tickets ingested in {ingest_seconds:.0f} s, processing queued", file=sys.stderr,
          flush=True)
    service = _drain_with_workers(args, len(ticket_ids))
    reassign = _reassign_with_workers(args)
    bare = _bare_transform_predict(args, ticket_ids)
    n = len(ticket_ids)
    service_rate, bare_rate = n / service["seconds"], n / bare["seconds"]
    reassign_rate = reassign["tickets"] / reassign["seconds"]
    print(json.dumps({
        "tickets": n,
        "workers": args.workers,
        "trained_on": args.train,
        "ingest_queued": {"seconds": round(ingest_seconds, 1), "tickets_per_second": round(n / ingest_seconds)},
        "processing": {**service, "tickets_per_second": round(service_rate)},
        "reassign": {**reassign, "tickets_per_second": round(reassign_rate)},
        "bare": {**bare, "tickets_per_second": round(bare_rate)},
        "ratio": round(reassign_rate / bare_rate, 3),
        "processing_ratio": round(service_rate / bare_rate, 3),
    }))
    if data_dir:
        data_dir.cleanup()
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets the workers assign")
    parser.add_argument("--train", type=int, default=20_000, help="tickets the model is trained on first")
    parser.add_argument("--workers", type=int, default=2, help="worker pool processes (and bare processes)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.tickets < 1000 or args.train < 1000 or args.workers < 1:
        parser.error("--tickets and --train must be at least 1000, --workers at least 1")
    return args


def _train_model(args: argparse.Namespace) -> None:
    from celery import current_app

    from insights import services
    from tickets.demo import demo_records
    from tickets.models import Source, SourceKind
    from tickets.services import ingest_records

    current_app.conf.task_always_eager = True
    source = Source.objects.create(name="history", kind=SourceKind.DEMO)
    ingest_records(source=source, records=demo_records(count=args.train, seed=args.seed, today=TODAY))
    services.representation_fit(seed=args.seed)
    services.discovery_run(seed=args.seed)
    _accept_all()
    _train()


def _ingest_queued(args: argparse.Namespace) -> list[int]:
    from tickets.demo import demo_records
    from tickets.models import Source, SourceKind, Ticket
    from tickets.services import ingest_records

    source = Source.objects.create(name="backlog", kind=SourceKind.DEMO)
    counts = ingest_records(source=source, records=demo_records(count=args.tickets, seed=args.seed + 1, today=TODAY))
    if counts.created != args.tickets:
        raise SystemExit(f"ingest created {counts.created} tickets; expected {args.tickets}")
    return list(Ticket.objects.filter(source=source).order_by("pk").values_list("pk", flat=True))


def _drain_with_workers(args: argparse.Namespace, tickets: int) -> dict[str, Any]:
    from django.db.models import Max

    from insights.models import TicketAnalysis
    from tickets.models import IngestBatch, IngestBatchStatus

    waiting = IngestBatch.objects.exclude(status=IngestBatchStatus.PROCESSED)
    ready_at, peak_rss = _run_worker_until(args, waiting.exists, poll_seconds=1)
    finished_at = IngestBatch.objects.aggregate(last=Max("processed_at"))["last"].timestamp()
    assigned = TicketAnalysis.objects.filter(classifier_version__isnull=False).count()
    if assigned < tickets:
        raise SystemExit(f"workers assigned {assigned} of {tickets} tickets")
    return {"seconds": round(finished_at - ready_at, 1), "worker_peak_rss_mb": peak_rss}


def _reassign_with_workers(args: argparse.Namespace) -> dict[str, Any]:
    from insights import services
    from insights.models import TicketAnalysis

    unassigned = TicketAnalysis.objects.filter(classifier_version__isnull=True)
    tickets = TicketAnalysis.objects.update(classifier_version=None)
    services.tickets_reassign_all()
    ready_at, peak_rss = _run_worker_until(args, unassigned.exists, poll_seconds=2)
    return {"tickets": tickets, "seconds": round(time.time() - ready_at, 1), "worker_peak_rss_mb": peak_rss}


def _run_worker_until(args: argparse.Namespace, busy: Any, *, poll_seconds: float) -> tuple[float, float]:
    """Run ``celery worker -Q ml`` with ``args.workers`` processes while ``busy()``; returns when it
    logged "ready" and its pool processes' peak RSS (MB)."""
    log = tempfile.NamedTemporaryFile(prefix="assignment-worker-", suffix=".log", delete=False)  # noqa: SIM115
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "ml", "--concurrency",
               str(args.workers), "--pool", "prefork", "--without-gossip", "--without-mingle", "-l", "INFO"]
    # Tasks a task queues (the statistics refresh) go to their own queue, as in production, not inline.
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false"}
    worker = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    ready_at, peak_rss = None, 0.0
    try:
        while busy():
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited: {Path(log.name).read_text()[-3000:]}")
            if ready_at is None and re.search(r"celery@\S+ ready", Path(log.name).read_text(errors="replace")):
                ready_at = time.time()
            peak_rss = max(peak_rss, _pool_rss_mb(worker.pid))
            time.sleep(poll_seconds)
    finally:
        worker.terminate()
        worker.wait(60)
    if ready_at is None:
        raise SystemExit("the worker finished before its ready line was seen")
    return ready_at, peak_rss


def _pool_rss_mb(worker_pid: int) -> float:
    """The largest resident set (MB) among the worker's pool processes."""
    page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children")
    largest = 0.0
    for pid in children.read_text().split() if children.exists() else []:
        try:
            largest = max(largest, int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_mb)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return round(largest, 1)


def _bare_transform_predict(args: argparse.Namespace, ticket_ids: list[int]) -> dict[str, Any]:
    from django.conf import settings
    from django.db import connections

    from insights import services
    from insights.models import ModelKind, TicketAnalysis

    _bare_models["representation"] = services.model_version_load(
        services.model_version_active(ModelKind.REPRESENTATION))
    _bare_models["classifier"] = services.model_version_load(services.model_version_active(ModelKind.CLASSIFIER))
    size = settings.THREADLINE_INGEST_BATCH_SIZE
    chunks = []
    for start in range(0, len(ticket_ids), size):
        chunk = ticket_ids[start : start + size]
        chunks.append(list(TicketAnalysis.objects.filter(ticket_id__in=chunk).order_by("ticket_id")
                           .values_list("text", flat=True)))
    connections.close_all()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        seconds, predicted = _timed(lambda: sum(pool.imap_unordered(_predict_chunk, chunks)))
    if predicted != len(ticket_ids):
        raise SystemExit(f"the bare calls predicted {predicted} of {len(ticket_ids)} tickets")
    return {"seconds": round(seconds, 1)}


def _predict_chunk(texts: list[str]) -> int:
    vectors = _bare_models["representation"].transform(texts)
    return len(_bare_models["classifier"].predict_proba(vectors, texts))


if __name__ == "__main__":
    sys.exit(main())
