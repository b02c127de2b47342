"""The theming report: every quality figure of the product's own code on one labelled set.

``theming_report(texts, labels, ...)`` is what ``manage.py evaluate_theming`` prints. It runs the
code the product runs — the representation, ``discover``, ``classifier_train`` and its
``assign`` threshold — and, in the same run, off-the-shelf anchors (KMeans given the true number
of labels; a plain logistic regression on the same few-shot examples) so that a figure is always
read beside what a standard method reaches on the same data. Pure: no ORM, no network.

Conventions: ``labels`` are the truth; ``areas`` (optional) a coarser truth for the broad areas
above the themes; rows labelled ``none_label`` are out of scope (never trained on, expected to stay
unthemed). Every section is a flat dict of rounded figures so the JSON reads as a table.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from insights.analysis import evaluation
from insights.analysis.classification import ThemeClassifier, calibration_error, classifier_train
from insights.analysis.discovery import Discovery, changed_share, discover
from insights.analysis.naming import nearest_own_share
from insights.analysis.representation import Representation, fitted_vectors, l2_normalise, representation_create
from insights.analysis.text import Turn, prepare_ticket

__all__ = ["ReportOptions", "anchor_backend_default", "prepare_texts", "theming_report"]

STABILITY_FIRST_SHARE = 0.7
_LISTED_THEMES = 400


@dataclass(frozen=True)
class ReportOptions:
    """What to measure. ``threshold`` is the product's assignment threshold (``assign``)."""

    backend: str = "tfidf"
    seed: int = 0
    n_themes: int | None = None
    labels_per_theme: int = 10
    none_label: str | None = None
    pairs: int = 0
    threshold: float = 0.5
    anchor_backend: str | None = None  # None: the default; "none": no anchors
    cache_dir: str | os.PathLike[str] | None = None


def prepare_texts(texts: Sequence[str]) -> list[str]:
    """Each text as the product reads an ingested ticket whose only customer message it is."""
    return [prepare_ticket("", [Turn("customer", text)]).text for text in texts]


def anchor_backend_default() -> str:
    """The anchors use sentence embeddings when the ``embeddings`` extra is installed."""
    return "minilm" if importlib.util.find_spec("sentence_transformers") is not None else "tfidf"


def theming_report(
    texts: Sequence[str], labels: Sequence[str], *, options: ReportOptions, areas: Sequence[str] | None = None
) -> dict[str, Any]:
    """Discovery, themes, areas, few-shot, abstention, two problems, stability and anchors."""
    texts, labels = list(texts), list(labels)
    started = time.perf_counter()
    vectors = fitted_vectors(options.backend, texts, cache_dir=options.cache_dir)
    represent = _lazy_representation(options.backend, texts)
    merge = representation_create(options.backend).splits_paraphrases
    report: dict[str, Any] = {
        "representation": {"backend": options.backend, "texts": len(texts),
                           "seconds": round(time.perf_counter() - started, 2),
                           "cached": options.cache_dir is not None},
    }
    started = time.perf_counter()
    found = discover(vectors, texts, seed=options.seed, n_themes=options.n_themes, merge_duplicates=merge,
                     encode=represent)
    report["discovery"] = {
        "nmi": _round(evaluation.nmi(labels, found.labels)),
        "ari": _round(evaluation.ari(labels, found.labels)),
        "acc": _round(evaluation.hungarian_accuracy(labels, found.labels)),
        "n_themes": found.n_themes,
        "true_labels": len(set(labels) - {options.none_label}),
        "unthemed_share": _round(float(np.mean(found.labels < 0))),
        "seconds": round(time.perf_counter() - started, 2),
    }
    report["themes"] = _themes(found, labels)
    report["names"] = _names(found, represent)
    if areas is not None:
        report["areas"] = _areas(found, list(areas))
    train, rest = _few_shot_split(labels, options)
    model, few_shot = _few_shot(vectors, texts, labels, train, rest, options)
    report["few_shot"] = few_shot
    if options.none_label is not None:
        report["abstention"] = _abstention(model, vectors, texts, labels, rest, options)
    if options.pairs:
        report["two_problems"] = _two_problems(model, represent, texts, labels, rest, options)
    report["stability"] = {"changed_share": _round(_stability(vectors, texts, options=options, merge=merge))}
    if options.anchor_backend != "none":
        report["anchors"] = _anchors(texts, labels, train, rest, vectors, found, options)
    return report


def _round(value: Any) -> float:
    return round(float(value), 4)


def _lazy_representation(backend: str, texts: list[str]) -> Callable[[Sequence[str]], np.ndarray]:
    """``transform`` of the backend fitted on ``texts``, fitted only if something needs it (the
    vectors of the set itself may come from the cache)."""
    fitted: list[Representation] = []

    def transform(new_texts: Sequence[str]) -> np.ndarray:
        if not fitted:
            fitted.append(representation_create(backend).fit(texts))
        return fitted[0].transform(new_texts)

    return transform


# --- discovery: what it found ---------------------------------------------------------------------


def _themes(found: Discovery, labels: list[str]) -> list[dict[str, Any]]:
    """Every theme, largest first: name, keywords, size, majority true label and its share."""
    truth = np.asarray(labels, dtype=object)
    listed = []
    for theme in sorted(found.themes, key=lambda t: -t.size)[:_LISTED_THEMES]:
        members = truth[found.labels == theme.index]
        if not len(members):
            continue
        label, count = Counter(members.tolist()).most_common(1)[0]
        listed.append({"name": theme.name, "keywords": list(theme.keywords[:5]), "size": len(members),
                       "label": label, "purity": _round(count / len(members))})
    return listed


def _names(found: Discovery, encode: Callable[[Sequence[str]], np.ndarray]) -> dict[str, Any]:
    """Whether the names mean their themes: nearer, encoded, to their own centroid than to any other
    (in the product's representation; ``anchors`` repeats it in the anchor's), all distinct, and
    how many are keywords for want of a clause ("Invoice, vat, address")."""
    names = [t.name for t in found.themes]
    return {
        "nearest_own_share": _round(nearest_own_share(names, found.centroids(), encode)),
        "distinct_share": _round(len({n.lower() for n in names}) / len(names)) if names else 0.0,
        "median_words": float(np.median([len(n.split()) for n in names])) if names else 0.0,
        "keyword_names_share": _round(np.mean([", " in n for n in names])) if names else 0.0,
    }


def _areas(found: Discovery, areas: list[str]) -> dict[str, Any]:
    """The broad areas above the themes against a coarser truth: a text's area is its theme's
    parent; unthemed texts and themes left without an area count as one extra group."""
    parent = np.array([t.parent for t in found.themes] + [-1], dtype=np.int64)
    predicted = np.where(found.labels >= 0, parent[found.labels], -1)
    sizes = np.bincount(predicted[predicted >= 0], minlength=max(len(found.areas), 1))
    themes_per_area = np.bincount(parent[parent >= 0], minlength=max(len(found.areas), 1))
    true_k = len(set(areas))
    anchor = None
    if len(found.themes) >= true_k:  # the anchor: KMeans on the same theme centroids, told the true count
        grouped = KMeans(n_clusters=true_k, n_init=10, random_state=0).fit_predict(found.centroids())
        anchor = _round(evaluation.nmi(areas, np.where(found.labels >= 0, np.append(grouped, -1)[found.labels], -1)))
    return {
        "nmi": _round(evaluation.nmi(areas, predicted)),
        "anchor_kmeans_true_k_nmi": anchor,
        "n_areas": len(found.areas),
        "true_areas": true_k,
        "largest_share": _round(sizes.max() / len(areas)) if len(areas) else 0.0,
        "largest_theme_share": _round(themes_per_area.max() / len(found.themes)) if found.themes else 0.0,
        "without_area_share": _round(float(np.mean(predicted < 0))),
        "names": [a.name for a in found.areas],
    }


# --- few-shot assignment ------------------------------------------------------------------------


def _few_shot_split(labels: list[str], options: ReportOptions) -> tuple[np.ndarray, np.ndarray]:
    """``labels_per_theme`` random rows of every in-scope label to train on; all others are scored."""
    rng = np.random.default_rng(options.seed)
    truth = np.asarray(labels, dtype=object)
    chosen = np.zeros(len(labels), dtype=bool)
    for label in sorted(set(labels) - {options.none_label}):
        rows = np.flatnonzero(truth == label)
        chosen[rng.choice(rows, min(options.labels_per_theme, len(rows) - 1), replace=False)] = True
    return np.flatnonzero(chosen), np.flatnonzero(~chosen)


def _few_shot(
    vectors: np.ndarray, texts: list[str], labels: list[str], train: np.ndarray, rest: np.ndarray,
    options: ReportOptions,
) -> tuple[ThemeClassifier, dict[str, Any]]:
    """Train as the product does (the scored rows are its unlabelled pool) and score the in-scope
    rest by top-1 theme; ``ece`` is the calibration error of the top-1 confidence (10 bins)."""
    started = time.perf_counter()
    model = classifier_train(vectors[train], [texts[i] for i in train], [labels[i] for i in train],
                             seed=options.seed, pool_vectors=vectors[rest], pool_texts=[texts[i] for i in rest])
    seconds = time.perf_counter() - started
    scored = np.array([i for i in rest if labels[i] != options.none_label], dtype=np.int64)
    proba = model.predict_proba(vectors[scored], [texts[i] for i in scored])
    best = proba.argmax(axis=1)
    predicted = [model.themes[b] for b in best]
    truth = [labels[i] for i in scored]
    correct = np.array([p == t for p, t in zip(predicted, truth, strict=True)])
    return model, {
        "accuracy": _round(correct.mean()),
        "macro_f1": _round(evaluation.macro_f1(truth, predicted)),
        "ece": _round(calibration_error(proba.max(axis=1), correct)),
        "median_confidence": _round(float(np.median(proba.max(axis=1)))),
        "labels_per_theme": options.labels_per_theme,
        "seconds": round(seconds, 2),
    }


def _abstention(
    model: ThemeClassifier, vectors: np.ndarray, texts: list[str], labels: list[str], rest: np.ndarray,
    options: ReportOptions,
) -> dict[str, Any]:
    """At the product's threshold: how many out-of-scope rows stay unthemed, how many in-scope
    rows do too, and the accuracy of the themes given to in-scope rows."""
    assigned = model.assign(vectors[rest], [texts[i] for i in rest], threshold=options.threshold)
    none = np.array([labels[i] == options.none_label for i in rest])
    unthemed = np.array([not a.themes for a in assigned])
    right = np.array([bool(a.themes) and a.themes[0][0] == labels[i] for a, i in zip(assigned, rest, strict=True)])
    themed_in_scope = ~none & ~unthemed
    return {
        "none_rows": int(none.sum()),
        "none_unthemed_share": _round(unthemed[none].mean()) if none.any() else None,
        "in_scope_unthemed_share": _round(unthemed[~none].mean()) if (~none).any() else None,
        "selective_accuracy": _round(right[themed_in_scope].mean()) if themed_in_scope.any() else None,
        "threshold": options.threshold,
    }


def _two_problems(
    model: ThemeClassifier, represent: Callable[[Sequence[str]], np.ndarray], texts: list[str],
    labels: list[str], rest: np.ndarray, options: ReportOptions,
) -> dict[str, Any]:
    """``pairs`` tickets made of two scored texts of different in-scope labels, one line each (as a
    prepared ticket reads), encoded as one text: are both problems found?"""
    known = set(model.themes)
    in_scope = np.array([i for i in rest if labels[i] in known], dtype=np.int64)
    rng = np.random.default_rng(options.seed + 1)
    firsts: list[int] = []
    seconds: list[int] = []
    while len(firsts) < options.pairs:
        a, b = rng.choice(in_scope, 2, replace=False)
        if labels[a] != labels[b]:
            firsts.append(int(a))
            seconds.append(int(b))
    joined = [f"{texts[a]}\n{texts[b]}" for a, b in zip(firsts, seconds, strict=True)]
    proba = model.predict_proba(represent(joined), joined)
    column = {theme: j for j, theme in enumerate(model.themes)}
    top2 = np.argsort(-proba, axis=1)[:, :2]
    both, second = [], []
    for row, (a, b) in enumerate(zip(firsts, seconds, strict=True)):
        ja, jb = column[labels[a]], column[labels[b]]
        both.append(ja in top2[row] and jb in top2[row])
        second.append(min(proba[row, ja], proba[row, jb]))
    return {
        "pairs": options.pairs,
        "both_in_top2": _round(np.mean(both)),
        "second_above_threshold": _round(np.mean(np.asarray(second) >= options.threshold)),
        "second_median_confidence": _round(float(np.median(second))),
    }


# --- stability and anchors ------------------------------------------------------------------------


def _stability(vectors: np.ndarray, texts: list[str], *, options: ReportOptions, merge: bool) -> float:
    """Churn between a run on the first 70% of rows and a run on all rows that keeps its themes."""
    first = int(len(texts) * STABILITY_FIRST_SHARE)
    before = discover(vectors[:first], texts[:first], seed=options.seed, n_themes=options.n_themes,
                      merge_duplicates=merge)
    existing = {str(t.index): t.centroid for t in before.themes}
    after = discover(vectors, texts, seed=options.seed, existing=existing, merge_duplicates=merge)
    return changed_share(before, after, np.arange(first))


def _anchors(
    texts: list[str], labels: list[str], train: np.ndarray, rest: np.ndarray, vectors: np.ndarray,
    found: Discovery, options: ReportOptions,
) -> dict[str, Any]:
    """Off-the-shelf methods on the same data, in the same run: KMeans told the true number of
    labels, and a plain logistic regression trained on exactly the few-shot examples. Also whether
    the product's theme names mean their themes in the anchor's representation (by meaning, with
    sentence embeddings, whatever the product's backend)."""
    backend = options.anchor_backend or anchor_backend_default()
    anchor = vectors if backend == options.backend else fitted_vectors(backend, texts, cache_dir=options.cache_dir)
    k = len(set(labels))
    clusters = KMeans(n_clusters=k, n_init=10, random_state=options.seed).fit_predict(anchor)
    scored = np.array([i for i in rest if labels[i] != options.none_label], dtype=np.int64)
    logistic = LogisticRegression(max_iter=1000).fit(anchor[train], [labels[i] for i in train])
    predicted = logistic.predict(anchor[scored])
    return {
        "backend": backend,
        "kmeans_true_k": {"k": k, "nmi": _round(evaluation.nmi(labels, clusters)),
                          "acc": _round(evaluation.hungarian_accuracy(labels, clusters))},
        "logistic_few_shot": {"accuracy": _round(np.mean(predicted == np.asarray([labels[i] for i in scored])))},
        "names_nearest_own_share": _round(_anchor_names(found, anchor, _lazy_representation(backend, texts))),
    }


def _anchor_names(found: Discovery, anchor: np.ndarray, encode: Callable[[Sequence[str]], np.ndarray]) -> float:
    """``nearest_own_share`` of the product's names against its themes' centroids in ``anchor``."""
    themed = found.labels >= 0
    if not found.themes or not themed.any():
        return 0.0
    sums = np.zeros((len(found.themes), anchor.shape[1]))
    np.add.at(sums, found.labels[themed], anchor[themed])
    return nearest_own_share([t.name for t in found.themes], l2_normalise(sums), encode)
