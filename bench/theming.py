"""Theming speed: discovery, assignment and processing against their bare library calls, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline_theming_bench \\
        .venv/bin/python bench/theming.py [--tickets N] [--backend tfidf|minilm] [--seed S] [--repeat R]
            [--phases all|discovery]

Each run migrates the database, empties the ticket and insights tables and then

1. imports N demo tickets (``tickets.demo.demo_records``, streamed) through
   ``tickets.services.ingest_records`` with the processing task inline: texts are prepared, and
   nothing is vectorised or assigned yet because no model exists;
2. times ``representation_fit`` (fit on a sample, vectorise and store every ticket) and then
   ``discovery_run`` on the stored vectors, each with its peak resident set size;
3. accepts every suggested theme (``theme_accept``) and trains the assignment model
   (``classifier_retrain``; the re-assignment it queues is not run there, step 4 measures it);
4. clears every analysis's classifier version and times ``tickets_assign`` over all tickets in the
   chunks ``tickets_reassign_all`` queues, database reads and writes included (the statistics
   refresh it queues is timed apart, as ``stats_refresh_seconds``); against the bare library on the
   same texts: the representation's ``transform`` + the classifier's ``predict_proba``
   (``bare``), and ``predict_proba`` on the stored vectors alone (``bare_predict``, the model
   work ``tickets_assign`` itself does);
5. marks every analysis stale and times ``tickets_analyse`` (prepare + encode + store, in ingest
   batches) against the bare ``transform`` of the same prepared texts (``processing``).

With ``--phases discovery`` the run stops after step 2 (ingest, representation fit, discovery):
the way to measure discovery at 100k without the classifier and assignment phases.

It prints one JSON object; ``ratio`` is ``tickets_assign``'s tickets/s over the bare
transform + predict's. With ``--repeat`` every figure is the median over the runs. Memory:
``peak_rss_mb`` of a phase is the highest RSS sampled every 50 ms during it; the top-level
``peak_rss_mb`` is the process's ru_maxrss. Model files go to a temporary data directory.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import _median_of, _setup_django, _timed

TODAY = date(2026, 6, 1)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    os.environ["THREADLINE_REPRESENTATION"] = args.backend
    data_dir = tempfile.TemporaryDirectory(prefix="theming-bench-")
    os.environ["THREADLINE_DATA_DIR"] = data_dir.name
    _setup_django()
    from django.db import connection

    runs = []
    for _ in range(args.repeat):
        runs.append(_run_once(args, connection))
        assign = runs[-1].get("assign", {}).get("tickets_per_second", "-")
        print(f"run {len(runs)}: discovery {runs[-1]['discovery']['seconds']} s, assign "
              f"{assign} t/s, ratio {runs[-1]['ratio']}", file=sys.stderr)
    result = _median_of(runs)
    result["runs"] = args.repeat
    result["phases"] = args.phases
    if args.phases == "all":
        result["ratios"] = [run["ratio"] for run in runs]
    else:
        result.pop("ratio", None)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    data_dir.cleanup()
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--backend", choices=("tfidf", "minilm"), default="tfidf")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="runs; figures are medians")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the tickets_assign phase")
    parser.add_argument("--phases", choices=("all", "discovery", "training"), default="all",
                        help="'discovery': stop after ingest, representation fit and discovery; "
                        "'training': after accepting the suggestions and training the classifier")
    parser.add_argument("--profile-discovery", metavar="FILE", help="write a cProfile of the discovery phase")
    parser.add_argument("--profile-training", metavar="FILE", help="write a cProfile of classifier_retrain")
    parser.add_argument("--profile-fit", metavar="FILE", help="write a cProfile of representation_fit")
    args = parser.parse_args(argv)
    if args.tickets < 100 or args.repeat < 1:
        parser.error("--tickets must be at least 100 and --repeat at least 1")
    return args


def _run_once(args: argparse.Namespace, connection: Any) -> dict[str, Any]:
    from insights import services
    from insights.models import TicketAnalysis
    from tickets.demo import demo_records
    from tickets.models import Source, SourceKind

    _empty_tables(connection)
    source = Source.objects.create(name="bench", kind=SourceKind.DEMO)
    ingest_seconds, counts = _timed(
        lambda: _ingest(source, demo_records(count=args.tickets, seed=args.seed, today=TODAY))
    )
    if counts.created != args.tickets or TicketAnalysis.objects.count() != args.tickets:
        raise SystemExit(f"ingest created {counts.created} tickets; expected {args.tickets} with analyses")

    vectorise: dict[str, float] = {}
    with _rss_peak() as fit_rss, _timing_into(services.representation, "analyses_vectorise", vectorise):
        fit_profiler = cProfile.Profile() if args.profile_fit else None
        fit_seconds, representation = _timed(
            lambda: services.representation_fit(backend=args.backend, seed=args.seed), fit_profiler
        )
    if fit_profiler:
        fit_profiler.dump_stats(args.profile_fit)
    profiler = cProfile.Profile() if args.profile_discovery else None
    phases: dict[str, float] = {}
    with _rss_peak() as discovery_rss, _phase_clock(services.discovery, phases):
        discovery_seconds, run = _timed(lambda: services.discovery_run(seed=args.seed), profiler)
    if profiler:
        profiler.dump_stats(args.profile_discovery)
    print(f"ingest {ingest_seconds:.1f} s, representation_fit {fit_seconds:.1f} s (peak {fit_rss['peak']} MB), "
          f"discovery {discovery_seconds:.1f} s (peak {discovery_rss['peak']} MB)", file=sys.stderr, flush=True)
    result = {
        "tickets": args.tickets,
        "backend": args.backend,
        "ingest": {"seconds": round(ingest_seconds, 2), "tickets_per_second": round(args.tickets / ingest_seconds)},
        "representation_fit": {
            "seconds": round(fit_seconds, 2), "fitted_on": representation.training_size,
            "vectorise_seconds": round(vectorise.get("seconds", 0.0), 2), "peak_rss_mb": fit_rss["peak"],
        },
        "discovery": {
            "seconds": round(discovery_seconds, 2), "pool": run.report.get("pool", 0),
            "themes": len(run.report.get("new", [])), "unthemed": run.report.get("unthemed", 0),
            "peak_rss_mb": discovery_rss["peak"],
            "phase_seconds": {phase: round(seconds, 2) for phase, seconds in phases.items()},
        },
    }
    if args.phases == "discovery":
        return {**result, "ratio": 0.0}
    accept_seconds, accepted = _timed(_accept_all)
    profiler = cProfile.Profile() if args.profile_training else None
    with _rss_peak() as train_rss:
        train_seconds, version = _timed(_train, profiler)
    if profiler:
        profiler.dump_stats(args.profile_training)
    classifier = {
        "seconds": round(train_seconds, 2), "accept_seconds": round(accept_seconds, 2), "themes_accepted": accepted,
        "training_size": version.training_size, "labelled_tickets": version.metrics.get("labelled_tickets"),
        "holdout_accuracy": round(version.metrics.get("holdout_accuracy", 0.0), 4), "peak_rss_mb": train_rss["peak"],
        **_left_out_accuracy(version),
    }
    if args.phases == "training":
        return {**result, "classifier": classifier, "ratio": 0.0}
    return {
        **result,
        "classifier": classifier,
        **_assignment(args, connection),
        "processing": _processing(args),
    }


def _ingest(source: Any, records: Iterator[Any]) -> Any:
    from tickets.services import ingest_records

    return ingest_records(source=source, records=records)


def _accept_all() -> int:
    """Accept every suggested theme that has tickets (a support lead's clicks); returns how many."""
    from insights import services
    from insights.models import Theme, ThemeStatus

    suggested = list(Theme.objects.filter(status=ThemeStatus.SUGGESTED, ticket_themes__isnull=False).distinct())
    for theme in suggested:
        services.theme_accept(theme=theme, user=None)
    return len(suggested)


def _train() -> Any:
    """``classifier_retrain`` on the accepted themes; returns the new version."""
    from insights import services

    # The re-assignment an activated model queues is what the assignment phase measures, on its own.
    with mock.patch.object(services.learning, "tickets_reassign_all", return_value=None):
        version = services.classifier_retrain(seed=0)
    if version is None:
        raise SystemExit("no classifier was trained: discovery found fewer than two themes")
    return version


def _left_out_accuracy(version: Any) -> dict[str, Any]:
    """Top-theme accuracy on the labelled tickets the per-theme cap left out of training (their
    discovery theme as truth): what capping costs on the rows it dropped."""
    from insights import services
    from insights.services import learning

    labels, manual = learning._training_labels(learning._training_label_rows())
    chosen = set(learning._training_sample(labels, manual, per_theme=learning.RETRAIN_PER_THEME, seed=0))
    left_out = sorted(set(labels) - chosen)
    if not left_out:
        return {"left_out": 0}
    representation = services.model_version_active("representation")
    assert representation is not None
    ticket_ids, texts, vectors = learning._analyses_vectors(left_out, representation)
    model = services.model_version_load(version)
    best = [top[0][0] if top else None for top in model.predict(vectors, texts, top=1, min_confidence=0.0)]
    correct = sum(theme in labels[t] for t, theme in zip(ticket_ids.tolist(), best, strict=True))
    return {"left_out": len(best), "left_out_accuracy": round(correct / max(len(best), 1), 4)}


@contextmanager
def _timing_into(module: Any, name: str, into: dict[str, float]) -> Iterator[None]:
    """Add the seconds spent in ``module.name`` (looked up at call time) to ``into["seconds"]``."""
    original = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        seconds, value = _timed(lambda: original(*args, **kwargs))
        into["seconds"] = into.get("seconds", 0.0) + seconds
        return value

    with mock.patch.object(module, name, timed):
        yield


@contextmanager
def _phase_clock(module: Any, into: dict[str, float]) -> Iterator[None]:
    """Seconds per ``DiscoveryRun.phase``: from the first progress report of a phase to the first
    of the next one (or the end of the block), by watching ``_run_progress``."""
    original = getattr(module, "_run_progress", None)
    if original is None:  # code from before progress reporting
        yield
        return
    marks: list[tuple[str, float]] = []

    def watched(run: Any, phase: str) -> Any:
        report = original(run, phase)

        def progress(done: int, total: int) -> None:
            if not marks or marks[-1][0] != phase:
                marks.append((phase, time.perf_counter()))
            report(done, total)

        return progress

    with mock.patch.object(module, "_run_progress", watched):
        yield
    end = time.perf_counter()
    for (phase, start), (_, following) in zip(marks, [*marks[1:], ("", end)], strict=True):
        into[phase] = into.get(phase, 0.0) + following - start


def _assignment(args: argparse.Namespace, connection: Any) -> dict[str, Any]:
    from insights import services
    from insights.models import ModelKind, TicketAnalysis

    TicketAnalysis.objects.update(classifier_version=None)
    ticket_ids = list(TicketAnalysis.objects.filter(vector__isnull=False).order_by("ticket_id")
                      .values_list("ticket_id", flat=True))
    chunks = [ticket_ids[i : i + services.REASSIGN_CHUNK] for i in range(0, len(ticket_ids), services.REASSIGN_CHUNK)]
    queued: list[Any] = []
    profiler = cProfile.Profile() if args.profile else None

    def assign_all() -> None:
        for chunk in chunks:
            services.tickets_assign(ticket_ids=chunk)

    # The statistics refresh is its own task on a worker; inline it would be counted as assignment.
    with mock.patch("insights.tasks.refresh_theme_stats.delay", side_effect=lambda: queued.append(1)):
        assign_seconds, _ = _timed(assign_all, profiler)
    if profiler:
        profiler.dump_stats(args.profile)
    stats_seconds, _ = _timed(lambda: [None for _ in iter(services.theme_stats_refresh, 0)])
    if TicketAnalysis.objects.filter(classifier_version__isnull=True).exists():
        raise SystemExit("tickets_assign left tickets unassigned")

    representation = services.model_version_load(services.model_version_active(ModelKind.REPRESENTATION))
    classifier = services.model_version_load(services.model_version_active(ModelKind.CLASSIFIER))
    bare_seconds = bare_predict_seconds = 0.0
    for chunk in chunks:
        analyses = list(TicketAnalysis.objects.filter(ticket_id__in=chunk).order_by("ticket_id"))
        texts, stored = [a.text for a in analyses], services.vectors_of(analyses)
        seconds, _ = _timed(lambda texts=texts: classifier.predict_proba(representation.transform(texts), texts))
        bare_seconds += seconds
        seconds, _ = _timed(lambda stored=stored, texts=texts: classifier.predict_proba(stored, texts))
        bare_predict_seconds += seconds
    n = len(ticket_ids)
    assign_rate, bare_rate = n / assign_seconds, n / bare_seconds
    return {
        "assign": {"seconds": round(assign_seconds, 2), "tickets_per_second": round(assign_rate),
                   "chunk": services.REASSIGN_CHUNK, "stats_refresh_seconds": round(stats_seconds, 2)},
        "bare": {"seconds": round(bare_seconds, 2), "tickets_per_second": round(bare_rate)},
        "bare_predict": {"seconds": round(bare_predict_seconds, 2),
                         "tickets_per_second": round(n / bare_predict_seconds)},
        "ratio": round(assign_rate / bare_rate, 3),
    }


def _processing(args: argparse.Namespace) -> dict[str, Any]:
    """``tickets_analyse`` on every ticket made stale, against the bare encoder on the same texts."""
    from django.conf import settings

    from insights import services
    from insights.models import ModelKind, TicketAnalysis

    TicketAnalysis.objects.update(content_hash="")
    ticket_ids = list(TicketAnalysis.objects.order_by("ticket_id").values_list("ticket_id", flat=True))
    size = settings.THREADLINE_INGEST_BATCH_SIZE
    chunks = [ticket_ids[i : i + size] for i in range(0, len(ticket_ids), size)]
    seconds, _ = _timed(lambda: [services.tickets_analyse(ticket_ids=chunk) for chunk in chunks])
    representation = services.model_version_load(services.model_version_active(ModelKind.REPRESENTATION))
    bare = 0.0
    for chunk in chunks:
        texts = list(TicketAnalysis.objects.filter(ticket_id__in=chunk).order_by("ticket_id")
                     .values_list("text", flat=True))
        elapsed, _ = _timed(lambda texts=texts: representation.transform(texts))
        bare += elapsed
    n = len(ticket_ids)
    return {
        "seconds": round(seconds, 2), "tickets_per_second": round(n / seconds),
        "bare_encoder": {"seconds": round(bare, 2), "tickets_per_second": round(n / bare)},
        "ratio": round(bare / seconds, 3),
    }


def _empty_tables(connection: Any) -> None:
    from django.apps import apps

    models = [m for label in ("tickets", "insights", "roadmap") for m in apps.get_app_config(label).get_models()]
    existing = set(connection.introspection.table_names())  # a model whose migration is not written yet has none
    tables = ", ".join(model._meta.db_table for model in models if model._meta.db_table in existing)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        cursor.execute("CHECKPOINT")
    from insights.services.versions import _artifact_load

    _artifact_load.cache_clear()


@contextmanager
def _rss_peak(every: float = 0.05) -> Iterator[dict[str, float]]:
    """Sample this process's RSS (MB) every ``every`` seconds; ``peak`` is set when the block ends."""
    page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
    result: dict[str, float] = {"peak": 0.0}
    done = threading.Event()

    def sample() -> None:
        while True:
            with open("/proc/self/statm") as statm:
                result["peak"] = max(result["peak"], round(int(statm.read().split()[1]) * page_mb, 1))
            if done.wait(every):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join()


if __name__ == "__main__":
    sys.exit(main())
