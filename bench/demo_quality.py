"""Theme quality on the product's own demo data, where the truth is known (no database).

    .venv/bin/python bench/demo_quality.py [--backend tfidf|minilm] [--tickets 3000] [--seed 7]
        [--today 2026-11-20] [--themes]

The demo generator (``tickets.demo``) knows which catalog problem each ticket raises
(``demo_truth``). This prepares every ticket's text as the services do (``prepare_ticket``), fits
the representation on those texts, runs discovery as the services would (duplicate merging when
the representation splits paraphrases) and prints one JSON object: NMI and Hungarian accuracy
against the first problem of each ticket (tickets without one are left out), the number of
themes and areas, the unthemed share and discovery seconds. ``--themes`` adds every theme's name,
size, area and purity (share of its tickets that raise its majority problem).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tfidf")
    parser.add_argument("--tickets", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 11, 20))
    parser.add_argument("--themes", action="store_true", help="list every theme with its purity")
    args = parser.parse_args()

    import django

    django.setup()
    import numpy as np

    from insights.analysis.discovery import discover
    from insights.analysis.evaluation import hungarian_accuracy, nmi
    from insights.analysis.representation import representation_create
    from insights.analysis.text import Turn, prepare_ticket
    from tickets.demo import demo_records, demo_truth

    truth = demo_truth(count=args.tickets, seed=args.seed, today=args.today)
    texts, problems = [], []
    for record in demo_records(count=args.tickets, seed=args.seed, today=args.today):
        prepared = prepare_ticket(record.subject, [Turn(m.author_role, m.body, m.is_public) for m in record.messages])
        if prepared.text:
            texts.append(prepared.text)
            problems.append(truth[record.external_id][0] if truth[record.external_id] else "")
    representation = representation_create(args.backend).fit(texts)
    vectors = representation.transform(texts)
    started = time.perf_counter()
    found = discover(vectors, texts, seed=0, merge_duplicates=representation.splits_paraphrases)
    seconds = time.perf_counter() - started

    labels = np.asarray(problems, dtype=object)
    raised = labels != ""
    result: dict[str, object] = {
        "backend": args.backend,
        "tickets": len(texts),
        "problems": len(set(problems) - {""}),
        "nmi": round(nmi(labels[raised], found.labels[raised]), 3),
        "acc": round(hungarian_accuracy(labels[raised], found.labels[raised]), 3),
        "themes": found.n_themes,
        "areas": [area.name for area in found.areas],
        "unthemed_share": round(float(np.mean(found.labels < 0)), 3),
        "discovery_seconds": round(seconds, 2),
    }
    if args.themes:
        listed = []
        for theme in sorted(found.themes, key=lambda t: -t.size):
            counts = Counter(problems[i] or "(no problem)" for i in np.flatnonzero(found.labels == theme.index))
            majority, count = counts.most_common(1)[0]
            area = found.areas[theme.parent].name if theme.parent >= 0 else ""
            listed.append({"name": theme.name, "size": theme.size, "area": area, "problem": majority,
                           "purity": round(count / theme.size, 2)})
        result["theme_list"] = listed
    print(json.dumps(result, indent=None))


if __name__ == "__main__":
    main()
