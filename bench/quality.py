"""Every theming figure on every labelled set, both backends: the matrix behind docs/quality.md.

    .venv/bin/python bench/quality.py [--backends tfidf,minilm] [--sets banking77,hwu64,demo]
        [--variants clean,noisy,scope] [--out var/quality] [--cache var/eval-cache]

Runs ``manage.py evaluate_theming`` (the product's own code, nothing here) per set × backend ×
variant and writes each JSON report to ``--out``; then prints one JSON object with the headline
figures of every run beside its same-run anchors. Variants:

``clean``  the set as it is, ``--pairs 500`` (two problems per ticket) and ``--area-column`` where
           the set has areas;
``noisy``  ``--noise --prepare``: every text wrapped in a made-up support email, then prepared as
           an ingested message (compare with ``clean``: the cost of email noise);
``scope``  ``--out-of-scope 10``: ten labels never trained on, their rows expected to stay
           unthemed (the demo has its own out-of-scope rows: tickets raising no problem).

Labelled sets are read from ../shared/data (never copied into the repository).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SETS: dict[str, list[str]] = {
    "banking77": ["--input", f"{DATA}/banking77/train.csv,{DATA}/banking77/test.csv", "--label-column", "category"],
    "hwu64": ["--input", f"{DATA}/hwu64/hwu64.csv", "--label-column", "label", "--area-column", "area"],
    "demo": ["--demo", "--area-column", "area"],
}
VARIANTS: dict[str, list[str]] = {
    "clean": ["--pairs", "500"],
    "noisy": ["--noise", "--prepare", "--anchor-backend", "none"],  # the anchors are the clean run's
    "scope": ["--out-of-scope", "10"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tfidf,minilm")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default=str(ROOT / "var" / "quality"))
    parser.add_argument("--cache", default=str(ROOT / "var" / "eval-cache"))
    parser.add_argument("--markdown", action="store_true",
                        help="print the tables of docs/quality.md from the reports already in --out (runs nothing)")
    args = parser.parse_args()
    out = Path(args.out)
    if args.markdown:
        print(_markdown(out))
        return
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name in args.sets.split(","):
        for backend in args.backends.split(","):
            for variant in args.variants.split(","):
                if name == "demo" and variant in ("noisy", "scope"):
                    continue  # the demo's tickets are real-looking emails with out-of-scope rows already
                report = _run(name, backend, variant, args.cache)
                (out / f"{name}-{backend}-{variant}.json").write_text(json.dumps(report, indent=1))
                summary[f"{name}/{backend}/{variant}"] = _headline(report)
                print(json.dumps({f"{name}/{backend}/{variant}": summary[f"{name}/{backend}/{variant}"]}),
                      file=sys.stderr, flush=True)
    print(json.dumps(summary, indent=1))


def _run(name: str, backend: str, variant: str, cache: str) -> dict:
    command = [sys.executable, str(ROOT / "manage.py"), "evaluate_theming", *SETS[name], *VARIANTS[variant],
               "--backend", backend, "--cache", cache, "--json"]
    if name == "demo" and variant == "clean":
        command = [c for c in command if c not in ("--pairs", "500")] + ["--pairs", "300"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout)


def _headline(report: dict) -> dict:
    """The figures a reader compares, flattened."""
    line = {
        "themes": f"{report['discovery']['n_themes']} (true {report['discovery']['true_labels']})",
        "nmi": report["discovery"]["nmi"], "acc": report["discovery"]["acc"],
        "few_shot": report["few_shot"]["accuracy"], "ece": report["few_shot"]["ece"],
        "changed": report["stability"]["changed_share"],
    }
    if "anchors" in report:
        line["anchor_kmeans"] = [report["anchors"]["kmeans_true_k"]["nmi"], report["anchors"]["kmeans_true_k"]["acc"]]
        line["anchor_logistic"] = report["anchors"]["logistic_few_shot"]["accuracy"]
    if "two_problems" in report:
        pairs = report["two_problems"]
        line["two_problems"] = [pairs["both_in_top2"], pairs["second_above_threshold"]]
    if "abstention" in report:
        a = report["abstention"]
        line["abstention"] = [a["none_unthemed_share"], a["in_scope_unthemed_share"], a["selective_accuracy"]]
    if "areas" in report:
        line["areas"] = [report["areas"]["nmi"], report["areas"]["n_areas"], report["areas"]["largest_share"]]
    return line


def _markdown(out: Path) -> str:
    """The results tables and every theme name, from the JSON reports in ``out``."""
    reports = {path.stem: json.loads(path.read_text()) for path in sorted(out.glob("*-*-*.json"))}
    lines = [
        "| set | backend | themes (true) | NMI | ACC | anchor KMeans true K: NMI / ACC | few-shot | anchor LR "
        "| ECE | two problems: both in top 2 / second ≥ threshold | areas: NMI / count / largest | changed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stem, report in reports.items():
        name, backend, variant = stem.split("-")
        if variant != "clean":
            continue
        line = _headline(report)
        pairs = line.get("two_problems", ["—", "—"])
        line.setdefault("anchor_kmeans", ["—", "—"])
        line.setdefault("anchor_logistic", "—")
        areas = line.get("areas", ["—", "—", "—"])
        lines.append(
            f"| {name} | {backend} | {line['themes']} | {line['nmi']} | {line['acc']} | "
            f"{line['anchor_kmeans'][0]} / {line['anchor_kmeans'][1]} | {line['few_shot']} | {line['anchor_logistic']} "
            f"| {line['ece']} | {pairs[0]} / {pairs[1]} | {areas[0]} / {areas[1]} / {areas[2]} | {line['changed']} |"
        )
    lines += ["", "| set | backend | names nearer their own theme: product's representation / MiniLM anchor "
              "| distinct | median words | keyword names | areas: NMI / anchor KMeans at the true count "
              "| areas (true) | largest area's share of themes |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for stem, report in reports.items():
        name, backend, variant = stem.split("-")
        if variant != "clean" or "names" not in report:
            continue
        names, areas = report["names"], report.get("areas")
        anchor = report.get("anchors", {}).get("names_nearest_own_share", "—")
        area_cells = (f"{areas['nmi']} / {areas.get('anchor_kmeans_true_k_nmi', '—')} | {areas['n_areas']} "
                      f"({areas['true_areas']}) | {areas.get('largest_theme_share', '—')}") if areas else "— | — | —"
        lines.append(f"| {name} | {backend} | {names['nearest_own_share']} / {anchor} | {names['distinct_share']} | "
                     f"{names['median_words']} | {names['keyword_names_share']} | {area_cells} |")
    lines += ["", "| set | backend | clean NMI / few-shot | noisy, prepared NMI / few-shot | drop |",
              "| --- | --- | --- | --- | --- |"]
    for stem, report in reports.items():
        name, backend, variant = stem.split("-")
        clean = reports.get(f"{name}-{backend}-clean")
        if variant != "noisy" or clean is None:
            continue
        c, n = _headline(clean), _headline(report)
        lines.append(f"| {name} | {backend} | {c['nmi']} / {c['few_shot']} | {n['nmi']} / {n['few_shot']} | "
                     f"{round(c['nmi'] - n['nmi'], 4)} / {round(c['few_shot'] - n['few_shot'], 4)} |")
    lines += ["", "| set | backend | out-of-scope rows unthemed | in-scope rows unthemed | selective accuracy |",
              "| --- | --- | --- | --- | --- |"]
    for stem, report in reports.items():
        name, backend, _variant = stem.split("-")
        if "abstention" in report:
            a = report["abstention"]
            lines.append(f"| {name} ({stem.split('-')[2]}) | {backend} | {a['none_unthemed_share']} | "
                         f"{a['in_scope_unthemed_share']} | {a['selective_accuracy']} |")
    for stem, report in reports.items():
        if not stem.endswith("-clean"):
            continue
        lines += ["", f"**Themes, {stem.removesuffix('-clean').replace('-', ', ')}** (name — size, majority label, "
                  "purity):", ""]
        lines.append("; ".join(f"{t['name']} — {t['size']}, {t['label']}, {t['purity']:.2f}" for t in report["themes"]))
        if "areas" in report:
            lines += ["", "Areas: " + ", ".join(report["areas"]["names"])]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
