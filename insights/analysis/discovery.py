"""Theme discovery: vectors (+ texts) → themes without labels, and stable ids across runs.

The method, chosen by measurement (see ``docs/quality.md``) and tuned to no dataset:

1. **Sample.** At most ``max_sample`` texts (15,000 by default; deterministic for the seed) are
   clustered; the rest are assigned to the nearest theme afterwards, which keeps memory and time
   linear in ``n``. On 100,000 resampled BANKING77 vectors 15,000 scored as well as 20,000
   (NMI 0.802 against 0.792) in 35 s instead of 45 s (docs/quality.md).
2. **kNN graph and smoothing.** Each vector is replaced by the mean of itself and its
   ``smooth_neighbours`` nearest neighbours. Short texts are noisy points; averaging over a
   neighbourhood pulls each towards the dense core of its topic (a diffusion step, as in
   graph-based clustering of embeddings), which lifted NMI and accuracy on every backend tried.
3. **Ward tree under kNN connectivity.** One agglomerative tree gives every granularity at once;
   restricting merges to graph neighbours stops unrelated clusters from fusing.
4. **Number of themes.** Unless ``n_themes`` is given, the tree is cut where the partition has
   the highest *modularity* on the (unsmoothed) kNN graph: the classic, parameter-free measure of
   how much more densely themes link inside than chance would link them. Cuts of the same tree
   are nested, so the broad-area level (about √K areas) is a coarser cut of the very same tree.
   Known limit: where one problem is phrased in a few tight templates (the demo) it over-splits,
   and where problems overlap (HWU64 with MiniLM: 39 themes for 64 intents) it under-splits. No
   fixed resolution γ fits all: with MiniLM a count within 20% of the truth needs γ ≤ 0.6 on the
   demo, 0.8–2.2 on BANKING77 and 2.4–3.6 on HWU64. The alternatives measured on those three sets
   with both backends did worse: local tests on the graph (weak communities, local modularity,
   Surprise, significance, HDBSCAN's excess of mass) cut it into 185–1,400 themes, since any
   geometric cut of a kNN graph is sparse; a G-means-like test (leave-one-out projection on the
   axis between two children, against the 2/π a halved Gaussian explains) scores splits between
   problems and within one alike (≈ 0.8); sum-of-squares criteria (Calinski–Harabasz, BIC,
   Krzanowski–Lai, Hartigan) and the silhouette pick an end of the range; resampling stability
   and the longest plateau over γ find the demo's count with MiniLM and miss BANKING77's.
5. **Assignment.** Every text goes to its most similar theme centroid (cosine); texts below the
   acceptance floor of the theme (a robust lower bound of its own members' similarity) are left
   unthemed (``-1``) for triage, and themes smaller than ``min_theme_size`` are dissolved.
6. **Names.** Class-based TF-IDF over each theme's texts: keywords are the terms most specific
   to the theme; the name is its most specific phrase of 2–5 words.

Stability: :func:`discover` accepts the centroids of the themes that already exist
(``existing``). Texts an existing theme explains well keep it; discovery runs only over the rest
and its themes are proposed as new. :func:`match_to_existing` maps any new run to existing theme
ids and suggests merges and splits; :func:`changed_share` measures churn between two runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import fcluster
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.neighbors import NearestNeighbors

from insights.analysis.naming import STOP_WORDS, WORD, Encoder, name_themes, numbered, topical
from insights.analysis.representation import l2_normalise

__all__ = [
    "DiscoveredTheme",
    "Discovery",
    "MatchReport",
    "changed_share",
    "discover",
    "match_to_existing",
]

_CHUNK = 2048
_FENCE_MADS = 4.0  # robust outlier fence: only clear outliers are left unthemed


@dataclass(frozen=True)
class DiscoveredTheme:
    """One theme. ``index`` is its position in ``Discovery.themes`` and its value in ``labels``.

    ``parent`` is the index of its broad area in ``Discovery.areas`` (-1 when there are none);
    ``existing_id`` is set when the theme is an existing one kept from an earlier run.
    """

    index: int
    name: str
    keywords: tuple[str, ...]
    examples: tuple[int, ...]
    size: int
    centroid: np.ndarray
    description: str = ""
    parent: int = -1
    existing_id: str | None = None


@dataclass(frozen=True)
class Discovery:
    """The result of one run: a theme index per text (-1 = unthemed) and the themes."""

    labels: np.ndarray
    themes: list[DiscoveredTheme]
    n_themes: int
    areas: list[DiscoveredTheme] = field(default_factory=list)

    def centroids(self) -> np.ndarray:
        """``(n_themes, dim)`` unit-norm centroids in theme-index order."""
        return np.vstack([t.centroid for t in self.themes]) if self.themes else np.zeros((0, 0), np.float32)


@dataclass(frozen=True)
class MatchReport:
    """How a new run relates to the existing themes.

    ``mapping``: new theme index → existing id it continues (same id, same name kept).
    ``new``: new theme indices that match nothing and are proposed for review.
    ``merges``: groups of existing ids that the new run sees as one theme (new index, ids).
    ``splits``: existing id → new theme indices it appears to split into.
    ``vanished``: existing ids no new theme continues.
    """

    mapping: dict[int, str]
    new: list[int]
    merges: list[tuple[int, tuple[str, ...]]]
    splits: dict[str, tuple[int, ...]]
    vanished: list[str]


# --------------------------------------------------------------------------- public API


def discover(
    vectors: np.ndarray,
    texts: Sequence[str],
    *,
    seed: int = 0,
    n_themes: int | None = None,
    min_theme_size: int = 5,
    max_sample: int = 15_000,
    neighbours: int = 5,
    graph_neighbours: int = 5,
    smooth_neighbours: int = 10,
    existing: Mapping[str, np.ndarray] | None = None,
    merge_duplicates: bool = False,
    encode: Encoder | None = None,
) -> Discovery:
    """Find themes in ``vectors`` (one unit-norm row per text in ``texts``).

    Deterministic for the same input and seed. ``n_themes`` fixes the number of new themes;
    otherwise it is chosen by modularity (module docstring). With ``existing`` (id → centroid),
    existing themes come first in ``themes`` (``existing_id`` set) and keep the texts they explain;
    only the remaining texts are clustered into new themes. ``merge_duplicates`` merges new themes
    that are one problem in different words (``_merge_duplicates``); pass the representation's
    ``splits_paraphrases``. ``encode`` (the representation's ``transform``) lets naming check that
    a name means its own theme (``naming.name_themes``).
    """
    x = l2_normalise(vectors)
    if len(x) != len(texts):
        raise ValueError(f"{len(x)} vectors for {len(texts)} texts")
    kept_ids, kept_centroids = _existing_arrays(existing, x.shape[1])
    # One neighbour search over the sample serves the smoothing and, when the whole input is the
    # pool (no existing themes), the tree's graphs too: the sample is then the same rows.
    k_search = max(smooth_neighbours, neighbours, graph_neighbours)
    smoothed, sample_knn = _smoothed(
        x, seed=seed, max_sample=max_sample, smooth_neighbours=smooth_neighbours, search_neighbours=k_search
    )
    pool = _unexplained(x, smoothed, kept_centroids)
    whole = len(pool) == len(x)
    new_centroids = _cluster_pool(
        x if whole else x[pool], smoothed if whole else smoothed[pool], seed=seed, n_themes=n_themes,
        min_theme_size=min_theme_size, max_sample=max_sample, neighbours=neighbours,
        graph_neighbours=graph_neighbours, sample_knn=sample_knn if whole else None,
    )
    centroids = np.vstack([kept_centroids, new_centroids]) if len(new_centroids) else kept_centroids
    explained = np.ones(len(x), dtype=bool)
    explained[pool] = False
    labels, centroids, kept_ids = _assign_and_prune(x, smoothed, centroids, kept_ids, min_theme_size, explained)
    for _ in range(_DUPLICATE_ROUNDS if merge_duplicates and n_themes is None else 0):
        merged = _merge_duplicates(x, texts, labels, centroids, len(kept_ids))
        if len(merged) == len(centroids):
            break
        labels, centroids, kept_ids = _assign_and_prune(x, smoothed, merged, kept_ids, min_theme_size, explained)
    themes = _describe(x, texts, labels, centroids, kept_ids, encode=encode)
    themes, areas = _with_areas(x, texts, labels, themes)
    return Discovery(labels=labels, themes=themes, n_themes=len(themes), areas=areas)


def match_to_existing(
    new: Discovery, existing_centroids: Mapping[str, np.ndarray], *, min_similarity: float = 0.8
) -> MatchReport:
    """Map ``new``'s themes to existing theme ids by centroid similarity.

    One-to-one (Hungarian) pairs at cosine ≥ ``min_similarity`` keep the existing id; a new theme
    that is the best match of two or more existing themes suggests a merge; an existing theme that
    is the best match of two or more new themes suggests a split.
    """
    ids = list(existing_centroids)
    if not ids or not new.themes:
        return MatchReport({}, [t.index for t in new.themes], [], {}, ids)
    sim = new.centroids() @ l2_normalise(np.vstack([existing_centroids[i] for i in ids])).T
    rows, cols = linear_sum_assignment(sim, maximize=True)
    mapping = {int(r): ids[c] for r, c in zip(rows, cols, strict=True) if sim[r, c] >= min_similarity}
    merges = [
        (int(r), tuple(ids[c] for c in np.flatnonzero(sim.argmax(0) == r)))
        for r in range(len(new.themes))
        if np.count_nonzero((sim.argmax(0) == r) & (sim.max(0) >= min_similarity)) > 1
    ]
    splits = {
        ids[c]: tuple(int(r) for r in np.flatnonzero((sim.argmax(1) == c) & (sim.max(1) >= min_similarity)))
        for c in range(len(ids))
    }
    return MatchReport(
        mapping=mapping,
        new=[t.index for t in new.themes if t.index not in mapping],
        merges=merges,
        splits={k: v for k, v in splits.items() if len(v) > 1},
        vanished=[i for i in ids if i not in mapping.values()],
    )


def changed_share(before: Discovery, after: Discovery, shared: np.ndarray) -> float:
    """Share of the shared texts whose theme changed from ``before`` to ``after``.

    ``shared[i]`` is the row in ``after`` of ``before``'s text ``i``. Themes are identified by
    ``existing_id`` (``before``'s theme index as a string) when ``after`` was run with ``before``'s
    themes as existing ones, otherwise by the best one-to-one centroid match; a
    text that becomes or stops being unthemed counts as changed.
    """
    if len(shared) == 0:
        return 0.0
    kept = {t.index: int(t.existing_id) for t in after.themes if t.existing_id is not None}
    if kept:
        old_of_new = kept  # ``after`` continued ``before``'s themes: ids say which is which
    else:
        report = match_to_existing(after, {str(t.index): t.centroid for t in before.themes}, min_similarity=-1.0)
        old_of_new = {i: int(v) for i, v in report.mapping.items()}
    after_labels = after.labels[np.asarray(shared)]
    translated = np.array([old_of_new.get(int(a), -2) if a >= 0 else -1 for a in after_labels])
    return float(np.mean(translated != before.labels))


# --------------------------------------------------------------------------- clustering


def _existing_arrays(existing: Mapping[str, np.ndarray] | None, dim: int) -> tuple[list[str], np.ndarray]:
    if not existing:
        return [], np.zeros((0, dim), np.float32)
    ids = list(existing)
    return ids, l2_normalise(np.vstack([existing[i] for i in ids]))


def _sample(n: int, seed: int, max_sample: int) -> np.ndarray:
    """The rows that are clustered: all of them, or ``max_sample`` of them chosen by ``seed``."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, max_sample, replace=False)) if n > max_sample else np.arange(n)


def _smoothed(
    x: np.ndarray, *, seed: int, max_sample: int, smooth_neighbours: int, search_neighbours: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Every row replaced by the unit mean of itself and its nearest rows of the sample.

    This is the view both the tree and the final assignment work in: assigning the raw vectors
    to centroids of a tree built on smoothed ones reassigned ~5% of texts across theme borders
    and cost 1.5 NMI points (docs/quality.md). Rows outside the sample are smoothed with their
    neighbours inside it, so the cost stays linear in ``n``.

    Also returns the sample's own neighbour lists (``_knn`` with ``search_neighbours``, at least
    ``smooth_neighbours``) for reuse, or ``None`` when there was no search.
    """
    sample = _sample(len(x), seed, max_sample)
    k = min(smooth_neighbours, len(sample) - 1)
    if k < 1:
        return x.copy(), None
    xs = x[sample]
    idx = _knn(xs, min(max(search_neighbours, k), len(sample) - 1))
    out = np.empty_like(x)
    out[sample] = l2_normalise(xs[idx[:, : k + 1]].mean(axis=1))
    rest = np.setdiff1d(np.arange(len(x)), sample, assume_unique=True)
    if len(rest):
        near = _knn_search(xs).kneighbors(x[rest], n_neighbors=k, return_distance=False)
        for start in range(0, len(rest), _CHUNK * 8):
            rows = rest[start : start + _CHUNK * 8]
            out[rows] = l2_normalise(x[rows] + xs[near[start : start + _CHUNK * 8]].sum(axis=1))
    return out, idx


def _unexplained(x: np.ndarray, smoothed: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Indices of texts no existing theme explains (all texts when there are none)."""
    if len(centroids) == 0:
        return np.arange(len(x))
    labels = _nearest(x, smoothed, centroids)
    return np.flatnonzero(labels < 0)


def _cluster_pool(
    x: np.ndarray, smoothed: np.ndarray, *, seed: int, n_themes: int | None, min_theme_size: int,
    max_sample: int, neighbours: int, graph_neighbours: int, sample_knn: np.ndarray | None = None,
) -> np.ndarray:
    """Centroids of the new themes found in ``x`` (``(0, dim)`` when there are too few texts).

    ``sample_knn``: the neighbour lists of this very sample from ``_smoothed``, reused when they
    are long enough instead of searching again.
    """
    if len(x) < 2 * min_theme_size or n_themes == 0:
        return np.zeros((0, x.shape[1]), np.float32)
    sample = _sample(len(x), seed, max_sample)
    xs = x[sample]
    k = min(max(neighbours, graph_neighbours), len(xs) - 1)
    idx = sample_knn if sample_knn is not None and sample_knn.shape[1] > k else _knn(xs, k)
    graph = _knn_graph(idx, min(graph_neighbours, k))
    tree = _ward_tree(smoothed[sample], _knn_graph(idx, min(neighbours, k)))
    max_k = max(2, len(xs) // min_theme_size)
    k_new = min(n_themes, len(xs)) if n_themes else _best_cut(tree, graph, max_k)
    labels = fcluster(tree, k_new, criterion="maxclust") - 1
    return _centroids(xs, labels)


def _knn_search(x: np.ndarray) -> NearestNeighbors:
    """Exact brute-force neighbour search over the rows of ``x``.

    scikit-learn's chunked, multi-threaded top-k (no ``n × n`` matrix, no full argsort). On unit
    rows the Euclidean order is the cosine order.
    """
    return NearestNeighbors(algorithm="brute", metric="euclidean").fit(x)


def _knn(x: np.ndarray, k: int) -> np.ndarray:
    """``(n, k+1)`` indices of each row's k nearest rows by cosine, the row itself first."""
    near = _knn_search(x).kneighbors(n_neighbors=k, return_distance=False)  # excludes the row itself
    return np.column_stack([np.arange(len(x)), near]).astype(np.int64, copy=False)


def _knn_graph(idx: np.ndarray, k: int) -> sp.csr_matrix:
    """Symmetric unweighted kNN adjacency without self-loops."""
    n = len(idx)
    rows, cols = np.repeat(np.arange(n), k), idx[:, 1 : k + 1].ravel()
    adjacency = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return ((adjacency + adjacency.T) > 0).astype(np.float64).tocsr()


def _connected(x: np.ndarray, connectivity: sp.csr_matrix) -> sp.csr_matrix:
    """``connectivity`` plus, for every pair of its connected components, an edge between their
    two closest rows (Euclidean): the completion scikit-learn's Ward applies to a disconnected
    graph, done with one matrix product per chunk of rows instead of one float64 distance matrix
    per pair of components (20 s of 26 for the tree of a 20,000-row sample with 48 components)."""
    n_components, component = connected_components(connectivity, directed=False)
    if n_components <= 1:
        return connectivity
    order = np.argsort(component, kind="stable")
    starts = np.searchsorted(component[order], np.arange(n_components))
    stops = np.append(starts[1:], len(x))
    xo = np.asarray(x[order], dtype=np.float32)
    norms = np.einsum("ij,ij->i", xo, xo)
    pairs_i, pairs_j = np.tril_indices(n_components, -1)  # row component i > column component j
    best = np.full(len(pairs_i), -np.inf, dtype=np.float32)  # −squared distance of the closest pair
    best_row = np.zeros(len(pairs_i), dtype=np.int64)
    best_col = np.zeros(len(pairs_i), dtype=np.int64)
    pair_of = {(int(i), int(j)): p for p, (i, j) in enumerate(zip(pairs_i, pairs_j, strict=True))}
    for start in range(starts[1], len(xo), _CHUNK):
        stop = min(start + _CHUNK, len(xo))
        last = component[order[stop - 1]]
        # −|a−b|² = 2a·b − |b|² − |a|²; |a|² is added per row after the column-wise argmax.
        score = xo[start:stop] @ xo[: starts[last]].T
        score *= 2
        score -= norms[None, : starts[last]]
        first = component[order[start]]
        for i in range(first, last + 1):
            lo, hi = max(starts[i], start) - start, min(stops[i], stop) - start
            for j in range(i):
                block = score[lo:hi, starts[j] : stops[j]]
                flat = int(block.argmax())
                r, c = divmod(flat, block.shape[1])
                value = block[r, c] - norms[start + lo + r]
                p = pair_of[(i, j)]
                if value > best[p]:
                    best[p], best_row[p], best_col[p] = value, start + lo + r, starts[j] + c
    rows, cols = order[best_row], order[best_col]
    extra = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=connectivity.shape)
    return ((connectivity + extra + extra.T) > 0).astype(np.float64).tocsr()


def _ward_tree(x: np.ndarray, connectivity: sp.csr_matrix) -> np.ndarray:
    """A SciPy linkage matrix of Ward's method restricted to graph neighbours."""
    n = len(x)
    connectivity = _connected(x, connectivity)
    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=0.0, linkage="ward", connectivity=connectivity, compute_full_tree=True
    )
    with warnings.catch_warnings():
        # A disconnected graph is completed by scikit-learn; that is the behaviour we want.
        warnings.simplefilter("ignore", UserWarning)
        model.fit(x)
    children, heights = model.children_, model.distances_
    sizes = np.zeros(len(children))
    for i, (a, b) in enumerate(children):
        sizes[i] = (1 if a < n else sizes[a - n]) + (1 if b < n else sizes[b - n])
    # Merges across completed components can come out of order; fcluster needs monotone heights.
    return np.column_stack([children, np.maximum.accumulate(heights), sizes]).astype(np.float64)


def _modularity(graph: sp.csr_matrix, labels: np.ndarray) -> float:
    degrees = np.asarray(graph.sum(axis=1)).ravel()
    total = degrees.sum()
    k = labels.max() + 1
    member = sp.csr_matrix((np.ones(len(labels)), (np.arange(len(labels)), labels)), shape=(len(labels), k))
    inside = (member.T @ graph @ member).diagonal().sum() / total
    return float(inside - ((np.bincount(labels, weights=degrees, minlength=k) / total) ** 2).sum())


def _best_cut(tree: np.ndarray, graph: sp.csr_matrix, max_k: int) -> int:
    """The number of clusters whose cut of ``tree`` has the highest modularity on ``graph``."""
    # Every K up to 60, then steps of ~3%: modularity varies smoothly at large K.
    candidates = sorted({*range(2, min(max_k, 60) + 1), *np.unique(np.geomspace(60, max(max_k, 60), 100).astype(int))})
    candidates = [c for c in candidates if c <= max_k]
    scores = [_modularity(graph, fcluster(tree, c, criterion="maxclust") - 1) for c in candidates]
    return int(candidates[int(np.argmax(scores))])


def _centroids(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    k = labels.max() + 1
    member = sp.csr_matrix((np.ones(len(labels)), (np.arange(len(labels)), labels)), shape=(len(labels), k))
    return l2_normalise(np.asarray(member.T @ x))


def _nearest(
    x: np.ndarray, smoothed: np.ndarray, centroids: np.ndarray, explained: np.ndarray | None = None, n_kept: int = 0
) -> np.ndarray:
    """Nearest-centroid labels of the smoothed vectors, -1 where a text is an outlier of its theme.

    Rows marked ``explained`` (an existing theme explained them before this run) choose only among
    the first ``n_kept`` (existing) centroids: a new theme never takes texts from an existing one.

    The theme is chosen in the smoothed view (the one the tree was cut in); whether a text belongs
    at all is judged on its own vector: below a robust lower fence of the theme's members' raw
    similarity (median − ``_FENCE_MADS`` scaled MADs) it stays unthemed for triage.
    """
    labels = np.empty(len(x), dtype=np.int64)
    raw = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), _CHUNK * 8):
        stop = min(start + _CHUNK * 8, len(x))
        sim = smoothed[start:stop] @ centroids.T
        if explained is not None and n_kept < len(centroids):
            sim[explained[start:stop], n_kept:] = -np.inf
        chosen = sim.argmax(axis=1)
        labels[start:stop] = chosen
        raw[start:stop] = np.einsum("ij,ij->i", x[start:stop], centroids[chosen])
    floors = np.full(len(centroids), -1.0, dtype=np.float32)
    for c in range(len(centroids)):
        sims = raw[labels == c]
        if len(sims) >= 2:
            median = np.median(sims)
            floors[c] = median - _FENCE_MADS * 1.4826 * np.median(np.abs(sims - median))
    labels[raw < floors[labels]] = -1
    return labels


def _assign_and_prune(
    x: np.ndarray, smoothed: np.ndarray, centroids: np.ndarray, kept_ids: list[str], min_theme_size: int,
    explained: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Assign every text; dissolve new themes below ``min_theme_size``; re-centre the new themes.

    Kept (existing) themes are never dissolved and keep their centroid, so their meaning cannot
    drift from run to run; a new theme's centroid is the mean of the texts finally assigned to it.
    """
    n_kept = len(kept_ids)
    if len(centroids) == 0:
        return np.full(len(x), -1, dtype=np.int64), centroids, kept_ids
    labels = _nearest(x, smoothed, centroids, explained, n_kept)
    for _ in range(3):
        sizes = np.bincount(labels[labels >= 0], minlength=len(centroids))
        keep = (sizes >= min_theme_size) | (np.arange(len(centroids)) < n_kept)
        if not keep.any():
            return np.full(len(x), -1, dtype=np.int64), centroids[:0], kept_ids
        if not keep.all():
            centroids = centroids[keep]
        elif n_kept < len(centroids):
            # One Lloyd step: the centroids now describe the texts the themes actually hold.
            members = labels >= n_kept
            fresh = _centroids(x[members], labels[members] - n_kept)
            centroids = np.vstack([centroids[:n_kept], fresh[: len(centroids) - n_kept]])
        else:
            break
        labels = _nearest(x, smoothed, centroids, explained, n_kept)
    return labels, centroids, kept_ids


def _merge_duplicates(
    x: np.ndarray, texts: Sequence[str], labels: np.ndarray, centroids: np.ndarray, n_kept: int
) -> np.ndarray:
    """Centroids with each pair of new themes that are one problem in different words merged.

    Customers describe one problem in several phrasings ("the reset email never came", "nothing in
    spam either"), and a bag-of-words view can cut each phrasing into a theme of its own. Two new
    themes are merged when each is the other's most similar theme (mutual nearest centroids) *and*
    their vocabularies overlap (class-based TF-IDF cosine ≥ ``_DUPLICATE_VOCABULARY``). On the demo
    data the rule merged 31 such pairs with the scikit-learn backend and none of different problems
    (docs/quality.md). Existing themes are never merged here; that is a person's decision.
    """
    n_new = len(centroids) - n_kept
    if n_new < 2:
        return centroids
    new = centroids[n_kept:]
    similarity = new @ new.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    groups = [_closest_members(x, labels, centroids, n_kept + c, _MAX_NAMING_TEXTS) for c in range(n_new)]
    vocabulary = _vocabulary_similarity([[texts[i] for i in g] for g in groups])
    merged = [
        (a, int(b)) for a, b in enumerate(nearest)
        if a < b and nearest[b] == a and vocabulary[a, b] >= _DUPLICATE_VOCABULARY
    ]
    if not merged:
        return centroids
    keep = np.ones(n_new, dtype=bool)
    fresh = new.copy()
    sizes = np.bincount(labels[labels >= n_kept] - n_kept, minlength=n_new).astype(np.float32)
    for a, b in merged:
        fresh[a] = sizes[a] * new[a] + sizes[b] * new[b]
        keep[b] = False
    return np.vstack([centroids[:n_kept], l2_normalise(fresh[keep])])


_DUPLICATE_VOCABULARY = 0.3
_DUPLICATE_ROUNDS = 3


def _vocabulary_similarity(groups: list[list[str]]) -> np.ndarray:
    """Cosine between the themes' class-based TF-IDF word vectors (stop words left out)."""
    counts = CountVectorizer(stop_words=sorted(STOP_WORDS), token_pattern=WORD.pattern).fit_transform(
        ["\n".join(g) for g in groups]
    ).astype(np.float64)
    tf = sp.diags(1.0 / np.maximum(np.asarray(counts.sum(axis=1)).ravel(), 1.0)) @ counts
    idf = np.log(1.0 + counts.sum() / np.maximum(np.asarray(counts.sum(axis=0)).ravel(), 1.0))
    weights = l2_normalise((tf @ sp.diags(idf)).toarray())
    return weights @ weights.T


# --------------------------------------------------------------------------- naming and hierarchy

_MAX_NAMING_TEXTS = 200  # per theme: enough for stable term statistics, bounded cost on 100k texts
_N_EXAMPLES = 5


def _describe(
    x: np.ndarray, texts: Sequence[str], labels: np.ndarray, centroids: np.ndarray, kept_ids: list[str],
    encode: Encoder | None = None,
) -> list[DiscoveredTheme]:
    """Name, description, keywords, examples and size for each theme (kept themes carry their
    existing id); the words come from each theme's most central texts (``naming``)."""
    groups = [_closest_members(x, labels, centroids, c, _MAX_NAMING_TEXTS) for c in range(len(centroids))]
    words = name_themes([[texts[i] for i in g] for g in groups], centroids=centroids, encode=encode)
    sizes = np.bincount(labels[labels >= 0], minlength=len(centroids))
    return [
        DiscoveredTheme(
            index=c,
            name=words[c].name,
            description=words[c].description,
            keywords=words[c].keywords,
            examples=tuple(int(i) for i in groups[c][:_N_EXAMPLES]),
            size=int(sizes[c]),
            centroid=centroids[c],
            existing_id=kept_ids[c] if c < len(kept_ids) else None,
        )
        for c in range(len(centroids))
    ]


def _closest_members(x: np.ndarray, labels: np.ndarray, centroids: np.ndarray, c: int, limit: int) -> np.ndarray:
    """Indices of theme ``c``'s texts, most representative (closest to the centroid) first."""
    members = np.flatnonzero(labels == c)
    order = np.argsort(-(x[members] @ centroids[c]), kind="stable")
    return members[order[:limit]]


def _with_areas(
    x: np.ndarray, texts: Sequence[str], labels: np.ndarray, themes: list[DiscoveredTheme]
) -> tuple[list[DiscoveredTheme], list[DiscoveredTheme]]:
    """Group the themes into about √K broad areas: Ward on the theme centroids (it scored best
    against the demo catalog's areas of the alternatives tried, docs/quality.md).

    Ward always places every theme somewhere, and with sparse representations the themes that
    resemble nothing end up in one loose catch-all. An area whose themes are less than half as
    similar to each other as in the median area (mean pairwise centroid cosine) is therefore
    dissolved: its themes stay without an area rather than under a misleading one. No area holds
    more than a quarter of the themes (``_capped``). Areas are named by their two most specific
    keywords ("Password & login"), broader than any theme name.
    """
    if len(themes) < 4:
        return themes, []
    centroids = np.vstack([t.centroid for t in themes])
    parent = _capped(centroids, AgglomerativeClustering(n_clusters=round(np.sqrt(len(themes))),
                                                        linkage="ward").fit_predict(centroids))
    cohesion = np.array([_cohesion(centroids[parent == a]) for a in range(parent.max() + 1)])
    kept = np.flatnonzero(cohesion >= 0.5 * np.median(cohesion))
    renumber = np.full(len(cohesion), -1)
    renumber[kept] = np.arange(len(kept))
    parent = renumber[parent]
    themes = [DiscoveredTheme(**{**t.__dict__, "parent": int(parent[t.index])}) for t in themes]
    if len(kept) == 0:
        return themes, []
    area_labels = np.where(labels >= 0, parent[np.maximum(labels, 0)], -1)
    grouped = area_labels >= 0
    areas = _describe(x, texts, area_labels, _centroids(x[grouped], area_labels[grouped]), [])
    taken: set[str] = set()
    named = []
    for area in areas:
        words: list[str] = []
        for word in (w for w in area.keywords if topical(w)):
            if all(word.rstrip("s") != chosen.rstrip("s") for chosen in words):  # not "invoices & invoice"
                words.append(word)
        name = numbered(" & ".join(words[:2] or area.keywords[:2] or ("other",)).capitalize(), taken)
        taken.add(name)
        named.append(DiscoveredTheme(**{**area.__dict__, "name": name, "description": ""}))
    return themes, named


_MAX_AREA_SHARE = 0.25


def _capped(centroids: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """``parent`` with every area of more than a quarter of the themes split in two (Ward on its
    own themes), until none is: a catch-all area ("App & sign" over integrations, dark mode and
    invitations) tells a PM nothing. On HWU64 and the demo with tfidf this lifted area NMI
    0.42 → 0.48 and 0.43 → 0.61 and left MiniLM's unchanged (docs/quality.md)."""
    parent = parent.copy()
    cap = max(2, int(_MAX_AREA_SHARE * len(centroids)))
    while True:
        sizes = np.bincount(parent)
        biggest = int(sizes.argmax())
        if sizes[biggest] <= cap:
            return parent
        members = np.flatnonzero(parent == biggest)
        halves = AgglomerativeClustering(n_clusters=2, linkage="ward").fit_predict(centroids[members])
        parent[members[halves == 1]] = parent.max() + 1


def _cohesion(centroids: np.ndarray) -> float:
    """Mean pairwise cosine of unit ``centroids`` (1.0 for a single one)."""
    n = len(centroids)
    if n < 2:
        return 1.0
    similarity = centroids @ centroids.T
    return float((similarity.sum() - np.trace(similarity)) / (n * (n - 1)))
