"""Clustering and classification metrics, with one documented convention for awkward labels.

Conventions, shared by every function here:

* Labels are any hashable values (ints or strings); predicted and true labels need not share a
  vocabulary, nor a count: a clustering may find more or fewer themes than the truth has.
* ``-1`` (or ``None``) in a *predicted* clustering means "left unthemed". For NMI and ARI the
  unthemed texts form one extra cluster of their own, so leaving texts out is never free. For
  Hungarian accuracy they are always counted as wrong.
* Every function scores all texts given; none silently drops any.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, f1_score, normalized_mutual_info_score

__all__ = ["ari", "hungarian_accuracy", "hungarian_mapping", "macro_f1", "nmi"]

UNTHEMED: tuple[Hashable, ...] = (-1, None)


def _codes(labels: Sequence[Hashable] | np.ndarray) -> np.ndarray:
    """Dense integer codes in first-seen order; every unthemed marker maps to the one code -1."""
    mapping: dict[Hashable, int] = {}
    out = np.empty(len(labels), dtype=np.int64)
    for i, label in enumerate(np.asarray(labels, dtype=object).tolist()):
        out[i] = -1 if label in UNTHEMED else mapping.setdefault(label, len(mapping))
    return out


def _check(true: Sequence[Hashable] | np.ndarray, pred: Sequence[Hashable] | np.ndarray) -> None:
    if len(true) != len(pred):
        raise ValueError(f"true and predicted labels differ in length: {len(true)} != {len(pred)}")
    if len(true) == 0:
        raise ValueError("cannot score an empty labelling")


def nmi(true: Sequence[Hashable] | np.ndarray, pred: Sequence[Hashable] | np.ndarray) -> float:
    """Normalised mutual information (arithmetic mean normalisation), in [0, 1]."""
    _check(true, pred)
    return float(normalized_mutual_info_score(_codes(true), _codes(pred)))


def ari(true: Sequence[Hashable] | np.ndarray, pred: Sequence[Hashable] | np.ndarray) -> float:
    """Adjusted Rand index: 0 for chance agreement, 1 for identical partitions."""
    _check(true, pred)
    return float(adjusted_rand_score(_codes(true), _codes(pred)))


def hungarian_mapping(
    true: Sequence[Hashable] | np.ndarray, pred: Sequence[Hashable] | np.ndarray
) -> dict[Hashable, Hashable]:
    """The one-to-one map predicted cluster → true label that maximises the texts they share.

    With more predicted clusters than true labels the surplus clusters stay unmapped (their texts
    count as wrong); with fewer, some true labels receive no cluster. Unthemed is never mapped.
    """
    _check(true, pred)
    true_values = np.asarray(true, dtype=object)
    pred_values = np.asarray(pred, dtype=object)
    true_codes, pred_codes = _codes(true_values), _codes(pred_values)
    themed = pred_codes >= 0
    if not themed.any():
        return {}
    counts = np.zeros((pred_codes.max() + 1, true_codes.max() + 1), dtype=np.int64)
    np.add.at(counts, (pred_codes[themed], true_codes[themed]), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    pred_label = {int(c): v for c, v in zip(pred_codes, pred_values.tolist(), strict=True) if c >= 0}
    true_label = {int(c): v for c, v in zip(true_codes, true_values.tolist(), strict=True) if c >= 0}
    return {pred_label[int(r)]: true_label[int(c)] for r, c in zip(rows, cols, strict=True) if counts[r, c] > 0}


def hungarian_accuracy(true: Sequence[Hashable] | np.ndarray, pred: Sequence[Hashable] | np.ndarray) -> float:
    """Clustering accuracy: the share of texts whose cluster maps to their true label.

    The map is the best one-to-one assignment (:func:`hungarian_mapping`), so a clustering cannot
    score by splitting a label into many clusters or by lumping labels together; unthemed texts
    and texts in unmapped surplus clusters are wrong.
    """
    mapping = hungarian_mapping(true, pred)
    hits = sum(
        1
        for t, p in zip(np.asarray(true, dtype=object).tolist(), np.asarray(pred, dtype=object).tolist(), strict=True)
        if p not in UNTHEMED and p in mapping and mapping[p] == t
    )
    return hits / len(true)


def macro_f1(true: Sequence[Hashable] | np.ndarray, pred: Sequence[Hashable] | np.ndarray) -> float:
    """F1 averaged over the true labels with equal weight; an unthemed prediction is a miss."""
    _check(true, pred)
    true_codes = [str(v) for v in np.asarray(true, dtype=object).tolist()]
    pred_codes = [
        "\x00unthemed" if v in UNTHEMED else str(v) for v in np.asarray(pred, dtype=object).tolist()
    ]
    return float(f1_score(true_codes, pred_codes, labels=sorted(set(true_codes)), average="macro", zero_division=0))
