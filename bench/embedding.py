"""MiniLM encoding: float32 against int8, batch sizes, length-sorted batches, and processing through
the service against the bare encoder, with the quality of int8 on a labelled set. On PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline_embedding_bench \\
        .venv/bin/python bench/embedding.py [--tickets N] [--texts N] [--labelled N] [--rounds R]

One run migrates the database, empties the ticket and insights tables, imports ``--tickets`` demo
tickets (``tickets.demo.demo_records``) through ``tickets.services.ingest_records`` with processing
inline (texts prepared, no model yet) and activates a MiniLM representation version
(``model_version_save``, nothing encoded yet). Then ``--rounds`` rounds, each in a rotated order:

* ``encoder``: texts/s of the bare ``MiniLMRepresentation.transform`` on the first ``--texts``
  prepared ticket texts, per configuration: float32 at batch 32, 64 (the default) and 128; int8
  (``quantize=True``) at 64; ``unsorted_64``, float32 fed one batch per ``encode`` call in ticket
  order (sentence-transformers sorts the texts of one call by length before batching, so this is
  what batching would cost without that sort); ``presorted_64``, the texts sorted by their token
  count before the call (what sorting ourselves would add on top).
* ``processing``: every ticket made stale, ``tickets_analyse`` (prepare + encode + store) against
  the bare float32 ``transform`` of the same prepared texts, in pairs of ``--chunk`` tickets (the
  service, then the encoder on the same texts, or the other way round) so that both sides of a pair
  meet the same load; ``ratio`` is processing's tickets/s over the bare encoder's.

Quality, once, at equal settings (batch 64): ``--labelled`` BANKING77 texts
(/work/shared/data/banking77/train.csv, column ``category``) through float32 and int8; the cosine
between the two vectors of each text; few-shot accuracy (scikit-learn LogisticRegression trained on
8 texts per intent, tested on the rest, mean of 5 seeded draws) and k-means NMI (k = the number of
intents, mean of 3 seeds) with either set of vectors; and, per encoder, the cosine between a text's
vector from that pass and its vector when encoded again in other batches (int8 scales activations
per batch, so its vectors depend on the batch).

It prints one JSON object; every speed figure is the median over the rounds, with the per-round
values alongside.

Measured 2026-12-04 on the 2 shared cores (load average 9–15 from other work, so absolute rates are
low and noisy; the ratios are within-round): int8 encodes 1.94× and 2.07× float32's texts/s (two
runs, 5 and 3 rounds); batch 32 0.79× / 0.73×, batch 128 0.89× / 0.97× of batch 64; one encode call
per batch in ticket order 0.85× / 0.90× (the sort inside ``encode`` is worth 10–15 %, and it is
already there); sorting by token count ourselves 1.22× / 0.99× (noise); processing over the bare
encoder 1.02 (0.91–1.11, 5 paired rounds). Quality on 2,000 BANKING77 texts: cosine float32/int8
median 0.952 (p5 0.927); few-shot accuracy 0.815 float32, 0.809 int8; k-means NMI 0.784 / 0.778;
re-batched, a text's float32 vector is unchanged (cosine 1.0), its int8 one moves (median 0.971,
min 0.939). So int8 is an option (``MiniLMRepresentation(quantize=True)``), not the default.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import _setup_django, _timed
from theming import TODAY, _empty_tables, _ingest

BANKING77 = Path("/work/shared/data/banking77/train.csv")
CONFIGURATIONS = ("fp32_32", "fp32_64", "fp32_128", "int8_64", "unsorted_64", "presorted_64")


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    os.environ["THREADLINE_REPRESENTATION"] = "minilm"
    data_dir = tempfile.TemporaryDirectory(prefix="embedding-bench-")
    os.environ["THREADLINE_DATA_DIR"] = data_dir.name
    _setup_django()
    from django.db import connection

    from insights.analysis.representation import MiniLMRepresentation

    texts = _prepare_tickets(args, connection)
    fp32, int8 = MiniLMRepresentation(), MiniLMRepresentation(quantize=True)
    for encoder in (fp32, int8):  # load and warm both before anything is timed
        encoder.transform(texts[:32])
    speed_texts = texts[: args.texts]
    encoder_runs: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    processing_runs: list[dict[str, float]] = []
    for round_index in range(args.rounds):
        order = CONFIGURATIONS[round_index % len(CONFIGURATIONS):] + CONFIGURATIONS[: round_index % len(CONFIGURATIONS)]
        for name in order:
            seconds, _ = _timed(lambda name=name: _encode(name, speed_texts, fp32, int8))
            encoder_runs[name].append(len(speed_texts) / seconds)
        processing_runs.append(_processing(fp32, args.chunk, service_first=round_index % 2 == 0))
        print(f"round {round_index + 1}: " + ", ".join(f"{n} {v[-1]:.1f}/s" for n, v in encoder_runs.items())
              + f"; processing ratio {processing_runs[-1]['ratio']}", file=sys.stderr, flush=True)
    result = {
        "tickets": args.tickets, "texts": len(speed_texts), "rounds": args.rounds,
        "mean_text_chars": round(statistics.mean(len(t) for t in speed_texts)),
        "torch_threads": _torch_threads(),
        "encoder_texts_per_second": {name: _median_and_runs(values) for name, values in encoder_runs.items()},
        "encoder_ratios": _ratios(encoder_runs),
        "processing": {key: _median_and_runs([run[key] for run in processing_runs]) for key in processing_runs[0]},
        "quality": _quality(args, fp32, int8) if args.labelled else None,
    }
    print(json.dumps(result))
    data_dir.cleanup()
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1000, help="demo tickets processed through the service")
    parser.add_argument("--texts", type=int, default=500, help="of their texts, encoded per configuration")
    parser.add_argument("--labelled", type=int, default=2000, help="BANKING77 texts for the quality check (0: none)")
    parser.add_argument("--chunk", type=int, default=100, help="tickets per service/encoder pair")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.tickets < 100 or not 0 < args.texts <= args.tickets or args.rounds < 1:
        parser.error("--tickets must be at least 100, --texts at most --tickets, --rounds at least 1")
    return args


def _prepare_tickets(args: argparse.Namespace, connection: Any) -> list[str]:
    """Import the demo tickets and activate a MiniLM representation; their prepared texts."""
    from insights.analysis.representation import MiniLMRepresentation
    from insights.models import ModelKind, TicketAnalysis
    from insights.services.versions import model_version_save
    from tickets.demo import demo_records
    from tickets.models import Source, SourceKind

    _empty_tables(connection)
    source = Source.objects.create(name="bench", kind=SourceKind.DEMO)
    _ingest(source, demo_records(count=args.tickets, seed=args.seed, today=TODAY))
    model_version_save(kind=ModelKind.REPRESENTATION, backend="minilm", artifact=MiniLMRepresentation(),
                       metrics={}, activate=True)
    return list(TicketAnalysis.objects.order_by("ticket_id").values_list("text", flat=True))


def _encode(name: str, texts: list[str], fp32: Any, int8: Any) -> np.ndarray:
    kind, batch = name.rsplit("_", 1)
    size = int(batch)
    if kind == "unsorted":
        return np.vstack([_with_batch(fp32, size).transform(texts[i : i + size]) for i in range(0, len(texts), size)])
    if kind == "presorted":
        tokenizer = fp32._encoder().tokenizer
        lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=256)["input_ids"]]
        order = np.argsort(lengths, kind="stable")
        vectors = _with_batch(fp32, size).transform([texts[i] for i in order])
        return vectors[np.argsort(order, kind="stable")]
    return _with_batch(int8 if kind == "int8" else fp32, size).transform(texts)


def _with_batch(encoder: Any, size: int) -> Any:
    encoder.batch_size = size
    return encoder


def _processing(fp32: Any, chunk: int, *, service_first: bool) -> dict[str, float]:
    """``tickets_analyse`` over every ticket (made stale) against the bare float32 encoder on the
    same prepared texts, in pairs: chunk by chunk of ``chunk`` tickets, the service then the encoder
    (or the other way round, alternating by round), so that both sides of a pair meet the same
    load on a shared machine. Their sums give the ratio."""
    from insights.models import TicketAnalysis
    from insights.services import tickets_analyse

    ticket_ids = list(TicketAnalysis.objects.order_by("ticket_id").values_list("ticket_id", flat=True))
    chunks = [ticket_ids[i : i + chunk] for i in range(0, len(ticket_ids), chunk)]
    texts = [list(TicketAnalysis.objects.filter(ticket_id__in=ids).order_by("ticket_id")
                  .values_list("text", flat=True)) for ids in chunks]
    _with_batch(fp32, 64)
    TicketAnalysis.objects.update(content_hash="")
    tickets_analyse(ticket_ids=chunks[0][:8])  # the stored version's encoder loaded, as in a running worker
    TicketAnalysis.objects.update(content_hash="")
    service_seconds = bare_seconds = 0.0
    for ids, chunk_texts in zip(chunks, texts, strict=True):
        pair: list[Callable[[], float]] = [
            lambda ids=ids: _timed(lambda: tickets_analyse(ticket_ids=ids))[0],
            lambda chunk_texts=chunk_texts: _timed(lambda: fp32.transform(chunk_texts))[0],
        ]
        first, second = (step() for step in (pair if service_first else pair[::-1]))
        service, bare = (first, second) if service_first else (second, first)
        service_seconds, bare_seconds = service_seconds + service, bare_seconds + bare
    n = len(ticket_ids)
    return {"service_tickets_per_second": round(n / service_seconds, 2),
            "bare_tickets_per_second": round(n / bare_seconds, 2),
            "ratio": round(bare_seconds / service_seconds, 3)}


def _quality(args: argparse.Namespace, fp32: Any, int8: Any) -> dict[str, Any]:
    texts, labels = _banking77(args.labelled, args.seed)
    fp32.batch_size = int8.batch_size = 64
    started = time.perf_counter()
    a = fp32.transform(texts)
    fp32_seconds = time.perf_counter() - started
    started = time.perf_counter()
    b = int8.transform(texts)
    int8_seconds = time.perf_counter() - started
    cosine = np.sum(a * b, axis=1)
    return {
        "labelled_texts": len(texts), "intents": len(set(labels)),
        "texts_per_second": {"fp32_64": round(len(texts) / fp32_seconds, 1),
                             "int8_64": round(len(texts) / int8_seconds, 1)},
        "cosine_fp32_int8": {"median": round(float(np.median(cosine)), 4),
                             "p5": round(float(np.percentile(cosine, 5)), 4), "min": round(float(cosine.min()), 4)},
        "few_shot_accuracy": {"fp32": _few_shot(a, labels), "int8": _few_shot(b, labels)},
        "kmeans_nmi": {"fp32": _kmeans_nmi(a, labels), "int8": _kmeans_nmi(b, labels)},
        "same_nearest_neighbour": round(float(np.mean(_nearest(a) == _nearest(b))), 4),
        "same_text_other_batches": {
            "fp32": _rebatched_cosine(fp32, texts, a), "int8": _rebatched_cosine(int8, texts, b),
        },
    }


def _rebatched_cosine(encoder: Any, texts: list[str], vectors: np.ndarray, count: int = 256) -> dict[str, float]:
    """Cosine between each of ``count`` texts' vector from the batch-64 pass over all texts and its
    vector when encoded again in batches of 8 with other neighbours: how much a text's vector
    depends on the texts it is batched with."""
    encoder.batch_size = 8
    again = encoder.transform(texts[:count])
    encoder.batch_size = 64
    cosine = np.sum(again * vectors[:count], axis=1)
    return {"median": round(float(np.median(cosine)), 5), "min": round(float(cosine.min()), 5)}


def _banking77(count: int, seed: int) -> tuple[list[str], list[str]]:
    with BANKING77.open(newline="") as handle:
        rows = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows), size=min(count, len(rows)), replace=False))
    return [rows[i][0] for i in chosen], [rows[i][1] for i in chosen]


def _few_shot(vectors: np.ndarray, labels: list[str], per_intent: int = 8, draws: int = 5) -> float:
    from sklearn.linear_model import LogisticRegression

    y = np.array(labels)
    scores = []
    for draw in range(draws):
        rng = np.random.default_rng(draw)
        train = np.concatenate([rng.permutation(np.flatnonzero(y == intent))[:per_intent] for intent in np.unique(y)])
        test = np.setdiff1d(np.arange(len(y)), train)
        model = LogisticRegression(C=10.0, max_iter=2000).fit(vectors[train], y[train])
        scores.append(float(np.mean(model.predict(vectors[test]) == y[test])))
    return round(statistics.mean(scores), 4)


def _kmeans_nmi(vectors: np.ndarray, labels: list[str], seeds: int = 3) -> float:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    k = len(set(labels))
    return round(statistics.mean(
        normalized_mutual_info_score(labels, KMeans(n_clusters=k, n_init=1, random_state=s).fit_predict(vectors))
        for s in range(seeds)
    ), 4)


def _nearest(vectors: np.ndarray) -> np.ndarray:
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argmax(similarity, axis=1)


def _median_and_runs(values: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(values), 3), "runs": [round(v, 3) for v in values]}


def _ratios(runs: dict[str, list[float]]) -> dict[str, float]:
    """Each configuration's texts/s over float32 at 64 in the same round, median over rounds."""
    return {name: round(statistics.median(v / base for v, base in zip(values, runs["fp32_64"], strict=True)), 3)
            for name, values in runs.items() if name != "fp32_64"}


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


if __name__ == "__main__":
    sys.exit(main())
