"""``manage.py evaluate_theming``: score the product's own theming code on any labelled CSV.

Prints one JSON object with ``--json`` (a short text summary otherwise); the sections are those of
``insights.analysis.report.theming_report``::

    {"representation": {...}, "discovery": {"nmi", "ari", "acc", "n_themes", "true_labels", ...},
     "themes": [{"name", "keywords", "size", "label", "purity"}, ...],
     "areas": {"nmi", "n_areas", "largest_share", ...}          (with --area-column)
     "few_shot": {"accuracy", "macro_f1", "ece", "labels_per_theme", "seconds"},
     "abstention": {"none_unthemed_share", "in_scope_unthemed_share", "selective_accuracy"}
                                                                 (with --none-label)
     "two_problems": {"both_in_top2", "second_above_threshold"}  (with --pairs N)
     "stability": {"changed_share"},
     "anchors": {"kmeans_true_k": {"nmi", "acc"}, "logistic_few_shot": {"accuracy"}}}

Discovery chooses its own number of themes unless ``--themes`` is given. ``--noise`` wraps every
text in a made-up support email (greetings, filler, signatures, quoted replies) and ``--prepare``
runs every text through the preparation an ingested customer message gets; together they measure
what real email noise costs. ``--demo`` evaluates the product's own demo tickets (prepared, truth
known) instead of a CSV. ``--out-of-scope N`` makes N labels out of scope on a set that has no
none label, to measure abstention anywhere.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from insights.analysis.noise import email_noise
from insights.analysis.report import ReportOptions, prepare_texts, theming_report
from insights.analysis.text import Turn, prepare_ticket

DEMO_NO_PROBLEM = "(no problem)"
DEMO_TODAY = date(2026, 11, 20)
OUT_OF_SCOPE = "(out of scope)"


class Command(BaseCommand):
    help = "Score theme discovery, few-shot assignment, calibration and stability on a labelled CSV."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--input", action="append", default=[],
                            help="CSV file; repeat the option or give a comma list to evaluate files together")
        parser.add_argument("--demo", type=int, nargs="?", const=3000, default=None, metavar="TICKETS",
                            help="evaluate the demo data's tickets (default 3000) instead of a CSV")
        parser.add_argument("--text-column", default="text")
        parser.add_argument("--label-column", default="label")
        parser.add_argument("--area-column", default=None, help="a coarser label to score the broad areas against")
        parser.add_argument("--none-label", default=None, help="label of out-of-scope rows (never trained on)")
        parser.add_argument("--out-of-scope", type=int, default=0, metavar="N",
                            help="treat N labels chosen by the seed as out of scope (a set with no none label)")
        parser.add_argument("--themes", type=int, default=None, help="fix the number of themes (default: chosen)")
        parser.add_argument("--labels-per-theme", type=int, default=10)
        parser.add_argument("--pairs", type=int, default=0, help="score N tickets that join two problems")
        parser.add_argument("--noise", action="store_true", help="wrap each text in a made-up support email")
        parser.add_argument("--prepare", action="store_true", help="prepare each text as an ingested message")
        parser.add_argument("--backend", default="tfidf")
        parser.add_argument("--anchor-backend", default=None, help="backend of the anchors (default: minilm if "
                            "the embeddings extra is installed, else tfidf; none: no anchors)")
        parser.add_argument("--threshold", type=float, default=None,
                            help="assignment threshold (default: THREADLINE_ASSIGNMENT_THRESHOLD)")
        parser.add_argument("--cache", default=None, metavar="DIR", help="keep the vectors of a set in DIR")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        areas: list[str] | None
        none_label = options["none_label"]
        if options["demo"]:
            texts, labels, areas = _demo(options["demo"])
            none_label = none_label or DEMO_NO_PROBLEM
        else:
            paths = [p for item in options["input"] for p in item.split(",") if p]
            if not paths:
                raise CommandError("give --input FILE.csv (or --demo)")
            texts, labels, areas = _load(paths, options["text_column"], options["label_column"],
                                         options["area_column"])
        if options["out_of_scope"]:
            none_label = none_label or OUT_OF_SCOPE
            labels = _out_of_scope(labels, options["out_of_scope"], none_label, seed=options["seed"])
        if options["noise"]:
            texts = email_noise(texts, seed=options["seed"])
        if options["prepare"]:
            texts = prepare_texts(texts)
        from insights.services.processing import assignment_threshold

        report = theming_report(texts, labels, areas=areas, options=ReportOptions(
            backend=options["backend"], seed=options["seed"], n_themes=options["themes"],
            labels_per_theme=options["labels_per_theme"], none_label=none_label, pairs=options["pairs"],
            threshold=options["threshold"] if options["threshold"] is not None else assignment_threshold(),
            anchor_backend=options["anchor_backend"], cache_dir=options["cache"],
        ))
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        for part, figures in report.items():
            if part == "themes":
                self.stdout.write("themes: " + "; ".join(f"{t['name']} ({t['size']})" for t in figures))
            else:
                self.stdout.write(f"{part}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def _load(
    paths: Sequence[str], text_column: str, label_column: str, area_column: str | None = None
) -> tuple[list[str], list[str], list[str] | None]:
    frames = []
    columns = [text_column, label_column, *([area_column] if area_column else [])]
    for path in paths:
        if not Path(path).is_file():
            raise CommandError(f"no such file: {path}")
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = set(columns) - set(frame.columns)
        if missing:
            raise CommandError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
        frames.append(frame[columns])
    data = pd.concat(frames, ignore_index=True)
    data = data[data[text_column].str.strip() != ""]
    if data[label_column].nunique() < 2:
        raise CommandError("evaluation needs at least two distinct labels")
    areas = data[area_column].tolist() if area_column else None
    return data[text_column].tolist(), data[label_column].tolist(), areas


def _out_of_scope(labels: list[str], count: int, none_label: str, *, seed: int) -> list[str]:
    """``labels`` with ``count`` of its labels (chosen by ``seed``) replaced by ``none_label``."""
    known = sorted(set(labels) - {none_label})
    if count >= len(known) - 1:
        raise CommandError(f"--out-of-scope {count} leaves fewer than two labels in scope")
    chosen = set(np.random.default_rng(seed).choice(known, count, replace=False).tolist())
    return [none_label if label in chosen else label for label in labels]


def _demo(count: int) -> tuple[list[str], list[str], list[str]]:
    """The demo tickets as the product prepares them; a ticket's truth is its first problem and that
    problem's area (``DEMO_NO_PROBLEM`` for a ticket that raises none). No-request tickets are left
    out: the product keeps them out of theming."""
    from tickets.demo import demo_records, demo_truth
    from tickets.demo_catalog import PROBLEMS_BY_KEY

    truth = demo_truth(count=count, today=DEMO_TODAY)
    texts, labels, areas = [], [], []
    for record in demo_records(count=count, today=DEMO_TODAY):
        prepared = prepare_ticket(record.subject, [Turn(m.author_role, m.body, m.is_public) for m in record.messages])
        if prepared.no_request:
            continue
        problems = truth[record.external_id]
        texts.append(prepared.text)
        labels.append(problems[0] if problems else DEMO_NO_PROBLEM)
        areas.append(PROBLEMS_BY_KEY[problems[0]].area if problems else DEMO_NO_PROBLEM)
    return texts, labels, areas
