"""``manage.py evaluate_theming``: score the product's own theming code on any labelled CSV.

Prints one JSON object (with ``--json``; a short text summary otherwise)::

    {"discovery": {"nmi", "ari", "acc", "n_themes", "seconds"},
     "few_shot": {"accuracy", "macro_f1", "labels_per_theme", "seconds"},
     "stability": {"changed_share"}}

Discovery chooses its own number of themes unless ``--themes`` is given. Few-shot trains the
assignment model on ``--labels-per-theme`` examples per true label and scores every other text.
Stability runs discovery on the first 70% of the rows, then again on all rows with the first
run's themes as existing themes, and reports the share of the shared rows whose theme changed.
"""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from insights.analysis import evaluation
from insights.analysis.classification import classifier_train
from insights.analysis.discovery import changed_share, discover
from insights.analysis.representation import representation_create

STABILITY_FIRST_SHARE = 0.7


class Command(BaseCommand):
    help = "Score theme discovery, few-shot assignment and stability on a labelled CSV."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--input", action="append", required=True,
                            help="CSV file; repeat the option or give a comma list to evaluate files together")
        parser.add_argument("--text-column", default="text")
        parser.add_argument("--label-column", default="label")
        parser.add_argument("--themes", type=int, default=None, help="fix the number of themes (default: chosen)")
        parser.add_argument("--labels-per-theme", type=int, default=10)
        parser.add_argument("--backend", default="tfidf")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        texts, labels = _load([p for item in options["input"] for p in item.split(",") if p],
                              options["text_column"], options["label_column"])
        report = evaluate(texts, labels, backend=options["backend"], seed=options["seed"],
                          n_themes=options["themes"], labels_per_theme=options["labels_per_theme"])
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            for part, figures in report.items():
                self.stdout.write(f"{part}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def _load(paths: Sequence[str], text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise CommandError(f"no such file: {path}")
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = {text_column, label_column} - set(frame.columns)
        if missing:
            raise CommandError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
        frames.append(frame[[text_column, label_column]])
    data = pd.concat(frames, ignore_index=True)
    data = data[data[text_column].str.strip() != ""]
    if data[label_column].nunique() < 2:
        raise CommandError("evaluation needs at least two distinct labels")
    return data[text_column].tolist(), data[label_column].tolist()


def evaluate(
    texts: list[str], labels: list[str], *, backend: str, seed: int, n_themes: int | None, labels_per_theme: int
) -> dict[str, dict[str, Any]]:
    """All three measurements on one labelled set, with the same fitted representation."""
    representation = representation_create(backend).fit(texts)
    vectors = representation.transform(texts)
    merge = representation.splits_paraphrases
    started = time.perf_counter()
    found = discover(vectors, texts, seed=seed, n_themes=n_themes, merge_duplicates=merge)
    discovery = {
        "nmi": round(evaluation.nmi(labels, found.labels), 4),
        "ari": round(evaluation.ari(labels, found.labels), 4),
        "acc": round(evaluation.hungarian_accuracy(labels, found.labels), 4),
        "n_themes": found.n_themes,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return {
        "discovery": discovery,
        "few_shot": _few_shot(vectors, texts, labels, labels_per_theme=labels_per_theme, seed=seed),
        "stability": {
            "changed_share": round(_stability(vectors, texts, seed=seed, n_themes=n_themes, merge=merge), 4)
        },
    }


def _few_shot(
    vectors: np.ndarray, texts: list[str], labels: list[str], *, labels_per_theme: int, seed: int
) -> dict[str, Any]:
    """Train on ``labels_per_theme`` random texts per label, score all the others."""
    rng = np.random.default_rng(seed)
    label_array = np.asarray(labels, dtype=object)
    chosen = np.zeros(len(labels), dtype=bool)
    for label in sorted(set(labels)):
        rows = np.flatnonzero(label_array == label)
        chosen[rng.choice(rows, min(labels_per_theme, len(rows) - 1), replace=False)] = True
    train, rest = np.flatnonzero(chosen), np.flatnonzero(~chosen)
    started = time.perf_counter()
    model = classifier_train(vectors[train], [texts[i] for i in train], [labels[i] for i in train], seed=seed,
                             pool_vectors=vectors[rest], pool_texts=[texts[i] for i in rest])
    ranked = model.predict(vectors[rest], [texts[i] for i in rest], top=1, min_confidence=0.0)
    predicted = [r[0][0] if r else None for r in ranked]
    truth = [labels[i] for i in rest]
    return {
        "accuracy": round(float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)])), 4),
        "macro_f1": round(evaluation.macro_f1(truth, predicted), 4),
        "labels_per_theme": labels_per_theme,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _stability(vectors: np.ndarray, texts: list[str], *, seed: int, n_themes: int | None, merge: bool) -> float:
    """Churn between a run on the first 70% of rows and a run on all rows that keeps its themes."""
    first = int(len(texts) * STABILITY_FIRST_SHARE)
    before = discover(vectors[:first], texts[:first], seed=seed, n_themes=n_themes, merge_duplicates=merge)
    existing = {str(t.index): t.centroid for t in before.themes}
    after = discover(vectors, texts, seed=seed, existing=existing, merge_duplicates=merge)
    return changed_share(before, after, np.arange(first))
