"""The assignment model: labelled examples in, themes with calibrated confidence out.

The model works on whatever vectors the active representation produces (``tfidf`` LSA or
``minilm`` embeddings) *and* on the prepared texts, because the two views fail differently:
dense vectors capture paraphrase, word and character n-grams capture the exact product terms,
error codes and typos that a support lead reads as the signal.

How it trains (``classifier_train``)
1. Two multinomial logistic regressions: a *lexical* one on word (1–2) + character (3–5)
   n-gram TF-IDF of the texts, and a *dense* one on the vectors. Their log-probabilities are
   blended (``LEXICAL_WEIGHT``).
2. If an unlabelled pool is given (in the product every ticket is known at training time), the
   blended predictions are smoothed over a k-nearest-neighbour graph of all vectors (label
   spreading, Zhou et al. 2004): a ticket whose neighbours are confidently one theme inherits it.
   Both regressions are then refitted on the labelled rows plus the whole pool with its spread
   labels at a low weight. Prediction stays two linear models, so it is cheap per text.
3. Calibration by cross-fitting: the whole procedure (spreading included) is run ``folds``
   times, each time without one stratified fold of the labelled rows, so every labelled row gets
   an out-of-fold score made the way a new ticket's is. One logistic (Platt) map from a theme's
   log-odds and centroid support to "this theme applies" is fitted on them; the same scores give
   the held-out accuracy and calibration error recorded in ``metrics``.

Two problems: a theme's log-odds is the best over the whole text and each of its lines (a
prepared text holds one sentence per line), each line scored by its own words blended with the
ticket's one vector. A ticket raising two problems thus keeps both confident instead of sharing
one unit of probability between them; training rows may carry several labels (each weighted 1/n).

Explanations come from the lexical model even when the vectors are dense embeddings: it is
trained alongside on the same labels, and its coefficient × feature value contributions are
exact for that model and readable (an embedding dimension is not). For multi-sentence texts the
sentence the lexical model scores highest for the theme is named as well.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, logit, softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

__all__ = [
    "Assignment",
    "Explanation",
    "ThemeClassifier",
    "calibration_error",
    "classifier_train",
    "explain",
    "holdout_split",
    "model_evaluate",
    "should_activate",
]

Label = str | Sequence[str]

# Blend of the two views' log-probabilities. Dense vectors carry more of the signal with good
# embeddings, the lexical view more with LSA; 0.4 is within a point of the best of both on
# held-out data for either backend, so it is not tuned per dataset.
LEXICAL_WEIGHT = 0.4
# A line of a ticket leans more on its own words: the dense view only has the whole ticket's
# vector, which two problems share. Measured 0.4 / 0.6 / 0.8 on two sets × both backends: 0.6
# gives two-thirds of 0.8's gain in confident second problems (+0.08 to +0.22 of joined
# tickets) at half its false second themes on single-problem tickets of several lines.
SENTENCE_LEXICAL_WEIGHT = 0.6
# Inverse L2 strength: few examples per theme in high dimension want a light touch (measured
# flat between 10 and 100 for both views).
REGULARISATION_C = 30.0
# A manual label from a support lead counts as this many model-derived ones.
MANUAL_WEIGHT = 4.0
# Spread labels of unlabelled tickets are guesses; they steer but never outvote real labels.
PSEUDO_WEIGHT = 0.3
NEIGHBOURS = 10
SPREAD_ALPHA = 0.8
SPREAD_ITERATIONS = 20
# The kNN graph is quadratic in the pool; a sample this large already gives the full gain.
MAX_POOL = 20_000
# Cross-fitting: each round trains on 80 % of the labels, like the single 20 % holdout did; one
# fit per round is the cost. A thousand out-of-fold rows fit the three-parameter calibration
# and put the held-out accuracy's standard error near one point, so rounds stop there.
CROSS_FOLDS = 5
CALIBRATION_ROWS = 1000
MAX_THEMES_PER_TICKET = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# Prepared texts hold one sentence per line (``insights.analysis.text``): a line is the unit a
# second problem is looked for in, so a sentence is never cut again at an abbreviation's dot.
_LINE = re.compile(r"\n+")


@dataclass(frozen=True)
class Assignment:
    """Themes kept for one ticket (confidence ≥ threshold, best first; empty = unthemed) and the
    best candidate even when it is below the threshold (for the triage queue)."""

    themes: tuple[tuple[str, float], ...]
    best: tuple[str, float]


@dataclass(frozen=True)
class Explanation:
    """Why ``theme`` fits a text: the terms with their contribution to the theme's log-odds
    (positive = for it, largest first) and, for multi-sentence texts, the deciding sentence."""

    theme: str
    confidence: float
    terms: tuple[tuple[str, float], ...]
    sentence: str | None


@dataclass
class _Views:
    """The fitted lexical vectorizers and the two linear models over one theme index."""

    words: TfidfVectorizer
    chars: TfidfVectorizer
    lexical: LogisticRegression
    dense: LogisticRegression
    n_themes: int
    centroids: np.ndarray  # (themes, dim) unit rows: where each theme's tickets lie

    def evidence(self, texts: Sequence[str]) -> np.ndarray:
        """Per text, a factor in [0.05, 1]: twice the share of its distinct words the model has
        seen, capped at 1. The softmax only compares known themes, so a text of unknown words
        (noise, another language, a problem no ticket has raised) would otherwise look sure."""
        tokenize = self.words.build_tokenizer()
        distinct = np.array([len({t.lower() for t in tokenize(text)}) for text in texts], dtype=float)
        unigrams = [j for term, j in self.words.vocabulary_.items() if " " not in term]
        known = self.words.transform(texts)[:, unigrams].getnnz(axis=1)
        return np.clip(2 * known / np.maximum(distinct, 1), 0.05, 1.0)

    def support(self, vectors: np.ndarray) -> np.ndarray:
        """Cosine of each vector to each theme's centroid, shape (n, themes)."""
        return np.asarray(vectors, dtype=np.float32) @ self.centroids.T

    def lexical_features(self, texts: Sequence[str]) -> sp.csr_matrix:
        stacked = sp.hstack([self.words.transform(texts), self.chars.transform(texts)]).tocsr()
        return _normalise_rows(stacked)

    def blend(self, lexical: sp.csr_matrix, vectors: np.ndarray) -> np.ndarray:
        # predict_log_proba, not log_softmax(decision_function): with two themes scikit-learn's
        # decision function is one column, its probabilities are still one per class.
        return self._mix(self.lexical.predict_log_proba(lexical), self.dense.predict_log_proba(vectors))

    def _mix(self, lex: np.ndarray, dense: np.ndarray, weight: float = LEXICAL_WEIGHT) -> np.ndarray:
        # A theme with no training row in this fit (only ever a secondary label) is never predicted.
        full = np.full((len(lex), self.n_themes), -50.0)
        full[:, self.lexical.classes_] = weight * lex + (1 - weight) * dense
        return full

    def log_odds(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Per text and theme, the best log-odds of the blended softmax over the whole text and
        each of its lines, shape (n, themes).

        A ticket raising two problems has one vector for both, which splits the dense view's
        probability between them; each line's own words, blended with that shared dense view,
        can still name its problem confidently. Lines need no vectors of their own: the cost is
        one lexical transform and one sparse product per line."""
        vectors = np.asarray(vectors, dtype=np.float32)
        dense = self.dense.predict_log_proba(vectors)
        lex = self.lexical.predict_log_proba(self.lexical_features(texts))
        best = _softmax_log_odds(self._mix(lex, dense))
        sentences, owners = _sentences(texts)
        if sentences:
            per_sentence = self.lexical.predict_log_proba(self.lexical_features(sentences))
            mixed = self._mix(per_sentence, dense[owners], SENTENCE_LEXICAL_WEIGHT)
            np.maximum.at(best, owners, _softmax_log_odds(mixed))
        return best


@dataclass
class ThemeClassifier:
    """A trained, picklable assignment model. ``themes`` are the keys it knows, in column order;
    ``metrics`` holds the training size and held-out figures so a model version can be compared."""

    themes: tuple[str, ...]
    views: _Views
    calibration: tuple[float, float, float]
    seed: int
    metrics: dict[str, float] = field(default_factory=dict)

    def predict_proba(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Calibrated per-theme "applies" probabilities, shape (n, themes), batch-vectorised."""
        texts = list(texts)
        odds = self.views.log_odds(vectors, texts)
        proba = _calibrate(odds, self.views.support(vectors), self.calibration)
        return proba * self.views.evidence(texts)[:, None]

    def predict(self, vectors: np.ndarray, texts: Sequence[str], *, top: int = 3,
                min_confidence: float = 0.01) -> list[list[tuple[str, float]]]:
        """Per text, up to ``top`` candidate themes with calibrated confidence, best first."""
        proba = self.predict_proba(vectors, texts)
        order = np.argsort(-proba, axis=1)[:, :top]
        return [[(self.themes[j], float(row[j])) for j in ranked if row[j] >= min_confidence]
                for row, ranked in zip(proba, order, strict=True)]

    def assign(self, vectors: np.ndarray, texts: Sequence[str], *, threshold: float = 0.5,
               max_themes: int = MAX_THEMES_PER_TICKET) -> list[Assignment]:
        """Themes at or above ``threshold`` per text; none kept means the ticket stays unthemed."""
        proba = self.predict_proba(vectors, texts)
        order = np.argsort(-proba, axis=1)[:, :max_themes]
        out = []
        for row, ranked in zip(proba, order, strict=True):
            kept = tuple((self.themes[j], float(row[j])) for j in ranked if row[j] >= threshold)
            out.append(Assignment(themes=kept, best=(self.themes[ranked[0]], float(row[ranked[0]]))))
        return out


def classifier_train(
    vectors: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[Label],
    *,
    seed: int = 0,
    manual: Sequence[bool] | None = None,
    pool_vectors: np.ndarray | None = None,
    pool_texts: Sequence[str] | None = None,
    folds: int = CROSS_FOLDS,
) -> ThemeClassifier:
    """Train the assignment model; deterministic for a given input and ``seed``.

    ``labels[i]`` is a theme key or several; ``manual[i]`` marks a support lead's decision,
    weighted ``MANUAL_WEIGHT`` times a model-derived label. ``pool_*`` are unlabelled tickets
    (vectors from the same representation) used for label spreading; they may include the
    labelled texts' neighbours but must not repeat the labelled rows. At least two themes.
    ``folds`` is the number of cross-fitting rounds behind the calibration (0: none).
    """
    label_sets = [_as_tuple(label) for label in labels]
    themes = tuple(sorted({t for ls in label_sets for t in ls}))
    if len(themes) < 2:
        raise ValueError("the assignment model needs at least two themes")
    if not len(texts) == len(label_sets) == len(vectors):
        raise ValueError("vectors, texts and labels must have the same length")
    weights = np.where(np.asarray(manual, dtype=bool), MANUAL_WEIGHT, 1.0) if manual is not None \
        else np.ones(len(texts))
    pool_v, pool_t = _pool(pool_vectors, pool_texts, seed, np.asarray(vectors).shape[1])
    all_vectors = np.vstack([np.asarray(vectors, dtype=np.float32), pool_v])
    all_texts = [*texts, *pool_t]
    words, chars, lexical = _vectorizers(all_texts)
    data = _Data(all_vectors, list(texts), lexical, _targets(label_sets, themes), weights,
                 _knn_graph(all_vectors) if len(pool_t) else None, seed)
    calibration, metrics, probe = _cross_fit(data, label_sets, words, chars, folds)
    # The final fit starts from the last probe's solution (most of the same labels): lbfgs then
    # needs a few iterations instead of a dozen, and the probe was fitted to the same tolerance.
    views = _fit_views(data, np.arange(len(texts)), words, chars, start=probe)
    metrics |= {"train_size": float(len(texts)), "pool_size": float(len(pool_t)), "themes": float(len(themes))}
    return ThemeClassifier(themes=themes, views=views, calibration=calibration, seed=seed, metrics=metrics)


def _cross_fit(data: _Data, label_sets: Sequence[tuple[str, ...]], words: TfidfVectorizer, chars: TfidfVectorizer,
               folds: int) -> tuple[tuple[float, float, float], dict[str, float], _Views | None]:
    """Out-of-fold log-odds for the labelled rows, the calibration fitted on them, and the
    held-out figures they give.

    Each round runs the whole training procedure (spreading included: a held-out row is then
    guessed like any pool ticket, as a new ticket will be) without one fold of the labelled
    rows. With ten labels per theme a single 20 % holdout is two rows per theme; rounds go on
    until ``CALIBRATION_ROWS`` rows are scored or every fold is, so a large training set pays
    for one round, as before, and a small one gets every row scored."""
    fold_of = _fold_ids(label_sets, folds, data.seed)
    odds = np.zeros_like(data.targets)
    support = np.zeros_like(data.targets)
    scored = np.zeros(len(fold_of), dtype=bool)
    probe: _Views | None = None
    for fold in range(folds):
        if scored.sum() >= CALIBRATION_ROWS:
            break
        held = np.flatnonzero(fold_of == fold)
        if not len(held):
            continue
        # Cold: a round started from the previous one would inherit the labels it held out.
        probe = _fit_views(data, np.flatnonzero(fold_of != fold), words, chars)
        odds[held] = probe.log_odds(data.vectors[held], [data.texts[i] for i in held])
        support[held] = probe.support(data.vectors[held])
        scored[held] = True
    if not scored.any():
        return (1.0, 0.0, 0.0), {"holdout_size": 0.0}, None
    calibration = _fit_calibration(odds[scored], support[scored], data.targets[scored])
    proba = _calibrate(odds[scored], support[scored], calibration)
    metrics = _holdout_metrics(proba, data.targets[scored])
    return calibration, metrics, probe


def _fold_ids(label_sets: Sequence[tuple[str, ...]], folds: int, seed: int) -> np.ndarray:
    """Per labelled row, its cross-fitting fold, stratified by first theme; −1 for a row that is
    never held out (its theme has a single row, or ``folds`` < 2)."""
    fold_of = np.full(len(label_sets), -1)
    if folds < 2:
        return fold_of
    primary = np.array([ls[0] for ls in label_sets])
    rng = np.random.default_rng(seed)
    offset = 0
    for theme in sorted(set(primary.tolist())):
        members = rng.permutation(np.flatnonzero(primary == theme))
        if len(members) >= 2:
            # Dealt round-robin from a rotating start, so the folds stay the same size.
            fold_of[members] = (offset + np.arange(len(members))) % folds
            offset += len(members)
    return fold_of


@dataclass
class _Data:
    """Everything one training run needs, indexed as labelled rows first, then the pool."""

    vectors: np.ndarray
    texts: list[str]  # the labelled rows' texts
    lexical: sp.csr_matrix
    targets: np.ndarray  # (labelled, themes), each row sums to 1
    weights: np.ndarray  # (labelled,)
    graph: sp.csr_matrix | None
    seed: int


def _fit_views(data: _Data, rows: np.ndarray, words: TfidfVectorizer, chars: TfidfVectorizer,
               start: _Views | None = None) -> _Views:
    """Fit both views on labelled ``rows``; with a graph, spread and refit on the pool as well.
    ``start`` (a fit on a subset of the same data) is where lbfgs begins."""
    x_rows, y_rows, w_rows = _expand(rows, data.targets[rows], data.weights[rows])
    n_themes = data.targets.shape[1]
    views = _Views(words, chars, _logistic(data.lexical[x_rows], y_rows, w_rows, data.seed,
                                           start.lexical if start else None),
                   _logistic(data.vectors[x_rows], y_rows, w_rows, data.seed, start.dense if start else None),
                   n_themes, _centroids(data.vectors[x_rows], y_rows, w_rows, n_themes))
    if data.graph is None:
        return views
    prior = softmax(views.blend(data.lexical, data.vectors), axis=1)
    prior[rows] = data.targets[rows]  # known labels are clamped, the rest (holdout included) is guessed
    spread = _spread(data.graph, prior)
    others = np.setdiff1d(np.arange(len(data.vectors)), rows)
    x_all = np.concatenate([x_rows, others])
    y_all = np.concatenate([y_rows, spread[others].argmax(axis=1)])
    w_all = np.concatenate([w_rows, np.full(len(others), PSEUDO_WEIGHT)])
    # The refit starts from the labelled-only solution: the labelled rows weigh most, so it is close.
    return _Views(words, chars, _logistic(data.lexical[x_all], y_all, w_all, data.seed, views.lexical),
                  _logistic(data.vectors[x_all], y_all, w_all, data.seed, views.dense), n_themes,
                  _centroids(data.vectors[x_all], y_all, w_all, n_themes))


def _centroids(vectors: np.ndarray, y: np.ndarray, w: np.ndarray, n_themes: int) -> np.ndarray:
    onehot = sp.csr_matrix((w, (y, np.arange(len(y)))), shape=(n_themes, len(y)))
    sums = np.asarray(onehot @ vectors, dtype=np.float32)
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def _logistic(x: Any, y: np.ndarray, w: np.ndarray, seed: int,
              start: LogisticRegression | None = None) -> LogisticRegression:
    """Weighted multinomial logistic regression; ``start``, a model over the same classes and
    features, is the point lbfgs starts from (a cold start otherwise)."""
    # tol=1e-3: the argmax is stable long before lbfgs' default tolerance, at a third of the time.
    model = LogisticRegression(C=REGULARISATION_C, max_iter=300, tol=1e-3, random_state=seed)
    if start is not None and np.array_equal(np.unique(y), start.classes_):
        model.set_params(warm_start=True)
        model.coef_, model.intercept_ = start.coef_.copy(), start.intercept_.copy()
    model.fit(x, y, sample_weight=w)
    model.set_params(warm_start=False)
    return model


def _expand(rows: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training row per (text, label), weight split across a text's labels."""
    r, c = np.nonzero(targets)
    return rows[r], c, weights[r] * targets[r, c]


def _spread(graph: sp.csr_matrix, prior: np.ndarray) -> np.ndarray:
    labels = prior.copy()
    for _ in range(SPREAD_ITERATIONS):
        labels = SPREAD_ALPHA * (graph @ labels) + (1 - SPREAD_ALPHA) * prior
    return labels


def _knn_graph(vectors: np.ndarray, chunk: int = 2048) -> sp.csr_matrix:
    """Symmetric, degree-normalised cosine kNN graph (vectors are unit rows)."""
    n, k = len(vectors), min(NEIGHBOURS, len(vectors) - 1)
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk):
        sims = vectors[start:start + chunk] @ vectors.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        rows.append(np.repeat(np.arange(start, start + len(sims)), k))
        cols.append(nearest.ravel())
        vals.append(np.maximum(np.take_along_axis(sims, nearest, axis=1).ravel(), 0.0))
    graph = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    graph = graph.maximum(graph.T)
    degree = np.asarray(graph.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(np.maximum(degree, 1e-12)))
    return (scale @ graph @ scale).tocsr()


def _vectorizers(texts: Sequence[str]) -> tuple[TfidfVectorizer, TfidfVectorizer, sp.csr_matrix]:
    """The fitted word and character vectorizers and the texts' lexical matrix (one pass each)."""
    # One-off n-grams are noise in a large pool but the whole vocabulary of a tiny one.
    min_df = 2 if len(texts) >= 1000 else 1
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=min_df)
    stacked = sp.hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
    return words, chars, _normalise_rows(stacked)


def _normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix)


def _targets(label_sets: Sequence[tuple[str, ...]], themes: tuple[str, ...]) -> np.ndarray:
    index = {t: j for j, t in enumerate(themes)}
    targets = np.zeros((len(label_sets), len(themes)))
    for i, ls in enumerate(label_sets):
        targets[i, [index[t] for t in ls]] = 1.0 / len(ls)
    return targets


def _pool(vectors: np.ndarray | None, texts: Sequence[str] | None, seed: int,
          dim: int) -> tuple[np.ndarray, list[str]]:
    """The unlabelled pool, capped at ``MAX_POOL`` by a seeded sample."""
    if vectors is None or texts is None or len(texts) == 0:
        return np.zeros((0, dim), dtype=np.float32), []
    keep = np.arange(len(texts))
    if len(keep) > MAX_POOL:
        keep = np.sort(np.random.default_rng(seed).choice(keep, MAX_POOL, replace=False))
    return np.asarray(vectors, dtype=np.float32)[keep], [texts[i] for i in keep.tolist()]


def _as_tuple(label: Label) -> tuple[str, ...]:
    out = (label,) if isinstance(label, str) else tuple(dict.fromkeys(label))
    if not out:
        raise ValueError("every labelled text needs at least one theme")
    return out


# --- calibration --------------------------------------------------------------------------------

def _softmax_log_odds(scores: np.ndarray) -> np.ndarray:
    """Blended log-probabilities → log-odds of each theme's softmax share."""
    p = softmax(scores, axis=1)
    return logit(np.clip(p, 1e-9, 1 - 1e-9))


def _sentences(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The sentences of the texts that have more than one, and the index of each one's text."""
    sentences: list[str] = []
    owners: list[int] = []
    for i, text in enumerate(texts):
        parts = [s.strip() for s in _LINE.split(text) if s.strip()]
        if len(parts) > 1:
            sentences.extend(parts)
            owners.extend([i] * len(parts))
    return sentences, np.array(owners, dtype=int)


def _calibrate(odds: np.ndarray, support: np.ndarray, calibration: tuple[float, float, float]) -> np.ndarray:
    """Log-odds and centroid support → per-theme "applies" probability (fitted Platt map).

    The support term is what lets a ticket unlike anything seen (a new problem, noise) stay
    below threshold even when the softmax, which only compares known themes, is peaked."""
    slope, intercept, support_slope = calibration
    return expit(slope * odds + support_slope * support + intercept)


def _fit_calibration(odds: np.ndarray, support: np.ndarray, targets: np.ndarray) -> tuple[float, float, float]:
    """Fit one map for all themes over (log-odds, support): per theme there are far too few
    held-out rows. Returns (slope, intercept, support slope)."""
    x = np.column_stack([odds.ravel(), support.ravel()])
    y = (targets > 0).ravel().astype(int)
    if y.min() == y.max():
        return 1.0, 0.0, 0.0
    # Weak regularisation only guards against a separable toy holdout.
    model = LogisticRegression(C=10.0).fit(x, y)
    return float(model.coef_[0, 0]), float(model.intercept_[0]), float(model.coef_[0, 1])


def calibration_error(confidence: np.ndarray, correct: np.ndarray, *, bins: int = 10) -> float:
    """Expected calibration error: the bin-weighted gap between confidence and accuracy."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    edges = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = edges == b
        if inside.any():
            error += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(error)


def _holdout_metrics(proba: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    best = proba.argmax(axis=1)
    correct = targets[np.arange(len(best)), best] > 0
    return {"holdout_size": float(len(best)), "holdout_accuracy": float(correct.mean()),
            "holdout_ece": calibration_error(proba.max(axis=1), correct)}


# --- learning -----------------------------------------------------------------------------------

def holdout_split(labels: Sequence[Label], *, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, holdout) index arrays, stratified by each text's first theme.

    A theme with n ≥ 3 texts holds out round(fraction·n) of them, at least 1 and at most
    n − 1; a theme with fewer than 3 stays wholly in training so that every
    theme is learnt. Indices come back sorted.
    """
    primary = np.array([_as_tuple(label)[0] for label in labels])
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for theme in sorted(set(primary)):
        members = np.flatnonzero(primary == theme)
        if len(members) >= 3:
            take = min(len(members) - 1, max(1, round(fraction * len(members))))
            held.extend(rng.permutation(members)[:take])
    holdout = np.sort(np.array(held, dtype=int))
    return np.setdiff1d(np.arange(len(primary)), holdout), holdout


def model_evaluate(model: ThemeClassifier, vectors: np.ndarray, texts: Sequence[str],
                   labels: Sequence[Label]) -> dict[str, float]:
    """Top-1 accuracy (the best theme is one of the text's labels), macro-F1 over the text's
    first label, and ECE of the top confidence, on labelled data the model did not train on."""
    proba = model.predict_proba(vectors, texts)
    best = proba.argmax(axis=1).tolist()
    label_sets = [_as_tuple(label) for label in labels]
    correct = np.array([model.themes[b] in ls for b, ls in zip(best, label_sets, strict=True)])
    return {"accuracy": float(correct.mean()) if len(correct) else 0.0,
            "macro_f1": _macro_f1([ls[0] for ls in label_sets], [model.themes[b] for b in best]),
            "ece": calibration_error(proba.max(axis=1), correct), "n": float(len(correct))}


def _macro_f1(true: Sequence[str], pred: Sequence[str]) -> float:
    scores = []
    for theme in sorted(set(true)):
        tp = sum(t == theme and p == theme for t, p in zip(true, pred, strict=True))
        positives, actual = sum(p == theme for p in pred), sum(t == theme for t in true)
        scores.append(2 * tp / (positives + actual) if positives + actual else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def should_activate(new_accuracy: float, active_accuracy: float | None, *, tolerance: float = 0.0) -> bool:
    """A retrained model replaces the active one only if its held-out accuracy is not worse
    (within ``tolerance``, for noise on a small holdout); with no active model it always does."""
    return active_accuracy is None or new_accuracy >= active_accuracy - tolerance


# --- explanation --------------------------------------------------------------------------------

def explain(model: ThemeClassifier, vector: np.ndarray, text: str, theme: str, *, top: int = 5) -> Explanation:
    """Why ``theme`` fits ``text``: lexical contributions (coefficient × feature value, against
    the average theme, char n-grams folded into the words they come from) and the sentence the
    lexical model scores highest for the theme when the text has more than one."""
    j = model.themes.index(theme)
    views = model.views
    confidence = float(model.predict_proba(np.asarray(vector).reshape(1, -1), [text])[0, j])
    column = int(np.searchsorted(views.lexical.classes_, j))
    if column >= len(views.lexical.classes_) or views.lexical.classes_[column] != j:
        return Explanation(theme, confidence, (), None)
    coef = _per_class_coef(views.lexical)[column]
    terms = _term_contributions(views, coef, text)
    ranked = tuple(sorted(((t, round(v, 4)) for t, v in terms.items() if v > 0), key=lambda tv: -tv[1])[:top])
    return Explanation(theme, confidence, ranked, _deciding_sentence(views, column, text))


def _per_class_coef(model: LogisticRegression) -> np.ndarray:
    """One coefficient row per class, centred on the average class. With two classes
    scikit-learn keeps a single row (class 1 against class 0): split it symmetrically."""
    coef = model.coef_
    if coef.shape[0] == 1:
        return np.vstack([-coef[0] / 2, coef[0] / 2])
    return coef - coef.mean(axis=0)


def _term_contributions(views: _Views, coef: np.ndarray, text: str) -> dict[str, float]:
    features = views.lexical_features([text])
    contribution = features.multiply(coef.reshape(1, -1)).tocsr()
    values = dict(zip(contribution.indices, contribution.data, strict=True))
    n_words = len(views.words.vocabulary_)
    terms: dict[str, float] = {}
    for term, col in views.words.vocabulary_.items():
        if col in values:
            terms[term] = terms.get(term, 0.0) + float(values[col])
    char_analyzer = views.chars.build_analyzer()
    for token in set(views.words.build_analyzer()(text)):
        if " " in token:
            continue
        grams = {views.chars.vocabulary_.get(g) for g in char_analyzer(token)} - {None}
        terms[token] = terms.get(token, 0.0) + sum(float(values.get(n_words + g, 0.0)) for g in grams if g is not None)
    return terms


def _deciding_sentence(views: _Views, column: int, text: str) -> str | None:
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    if len(sentences) < 2:
        return None
    scores = views.lexical.predict_log_proba(views.lexical_features(sentences))
    return sentences[int(scores[:, column].argmax())]
