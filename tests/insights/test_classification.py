from __future__ import annotations

import io

import joblib
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from insights.analysis import classification
from insights.analysis.classification import (
    Assignment,
    ThemeClassifier,
    calibration_error,
    classifier_train,
    explain,
    holdout_split,
    model_evaluate,
    should_activate,
)

CARD = [
    "My card was declined at the shop", "Card payment declined abroad", "Why is my card declined",
    "The card keeps getting declined online", "Declined card payment in Spain", "My debit card is declined",
    "Card declined when paying for groceries", "Payment refused, card declined again", "My card got declined today",
    "Card declined at the hotel", "Is my card blocked? It is declined", "Declined card at the petrol station",
]
EXPORT = [
    "The CSV export stops at 10000 rows", "CSV export is cut off", "Export to CSV is missing columns",
    "I cannot export my report to CSV", "The export button does nothing", "CSV export file is empty",
    "Export of invoices to CSV fails", "Exported CSV has broken characters", "How do I export data as CSV",
    "The CSV export never finishes", "Export download link expired", "Report export to CSV times out",
]
LOGIN = [
    "SSO login sends me back to the login page", "Okta sign in loops", "I cannot log in with SSO",
    "Login fails with single sign-on", "Password reset link does not let me log in", "Stuck in a login loop",
    "SSO login error after update", "Cannot sign in, login page reloads", "Login with Google SSO fails",
    "My login is rejected", "Sign in keeps failing for our team", "SSO redirect loop on login",
]
REFUND = [
    "I want a refund for my order", "Refund not received yet", "How long does a refund take",
    "Please refund the duplicate charge", "Where is my refund", "Refund was promised but never arrived",
    "Can I get a refund for the subscription", "Refund request for cancelled plan", "My refund is pending",
    "Requesting a refund for a wrong purchase", "Refund status unknown", "Still waiting for the refund",
]
TEXTS = CARD + EXPORT + LOGIN + REFUND
LABELS = ["card"] * 12 + ["export"] * 12 + ["login"] * 12 + ["refund"] * 12
POOL = [
    "card declined in the supermarket", "my card was refused and declined", "export csv broken again",
    "csv export truncated", "login loop with sso", "cannot login at all", "refund still missing",
    "when will the refund arrive", "declined card payment at the airport", "export report csv error",
]


@pytest.fixture(scope="module")
def embed() -> TfidfVectorizer:
    """A stand-in dense representation: unit-norm TF-IDF rows as a float32 array."""
    return TfidfVectorizer(sublinear_tf=True).fit(TEXTS + POOL)


def vec(embed: TfidfVectorizer, texts: list[str]) -> np.ndarray:
    x = embed.transform(texts).toarray().astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@pytest.fixture(scope="module")
def model(embed: TfidfVectorizer) -> ThemeClassifier:
    return classifier_train(vec(embed, TEXTS), TEXTS, LABELS, seed=0, pool_vectors=vec(embed, POOL), pool_texts=POOL)


def test_it_learns_the_themes(model: ThemeClassifier, embed: TfidfVectorizer) -> None:
    new = ["my card was declined at the restaurant", "the csv export is incomplete", "sso login loop", "no refund yet"]
    best = [p[0][0] for p in model.predict(vec(embed, new), new)]
    assert best == ["card", "export", "login", "refund"]
    assert model.themes == ("card", "export", "login", "refund")


def test_confidences_are_probabilities_best_first(model: ThemeClassifier, embed: TfidfVectorizer) -> None:
    for candidates in model.predict(vec(embed, TEXTS), TEXTS):
        confidences = [c for _, c in candidates]
        assert all(0.0 <= c <= 1.0 for c in confidences)
        assert confidences == sorted(confidences, reverse=True)


def test_a_text_with_two_topics_gets_both_themes(model: ThemeClassifier, embed: TfidfVectorizer) -> None:
    text = ["My card was declined.\nAlso the CSV export stops halfway."]
    (assignment,) = model.assign(vec(embed, text), text, threshold=0.5)
    assert {t for t, _ in assignment.themes} == {"card", "export"}


def test_a_second_problem_needs_no_vector_of_its_own(model: ThemeClassifier, embed: TfidfVectorizer) -> None:
    # One vector for the whole ticket, as the services store it: the sentences' own words
    # carry each problem, so both stay confident rather than sharing one unit of probability.
    single = ["The CSV export stops halfway"]
    joined = ["The CSV export stops halfway.\nMy refund never arrived."]
    alone = model.predict_proba(vec(embed, single), single)[0]
    both = model.predict_proba(vec(embed, joined), joined)[0]
    export, refund = model.themes.index("export"), model.themes.index("refund")
    assert min(both[export], both[refund]) >= 0.5
    assert alone[refund] < 0.5


def test_every_labelled_text_is_scored_out_of_fold(model: ThemeClassifier) -> None:
    assert model.metrics["holdout_size"] == len(TEXTS)
    assert 0.0 <= model.metrics["holdout_ece"] <= 1.0
    assert model.metrics["holdout_accuracy"] >= 0.9


def test_cross_fitting_stops_once_enough_rows_are_scored(embed: TfidfVectorizer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classification, "CALIBRATION_ROWS", 5)
    model = classifier_train(vec(embed, TEXTS), TEXTS, LABELS, seed=0)
    assert model.metrics["holdout_size"] == 10  # one fold of 48 rows dealt over five


def test_a_theme_with_a_single_example_is_always_learnt(embed: TfidfVectorizer) -> None:
    texts = [*TEXTS, "the mobile app crashes on start"]
    model = classifier_train(vec(embed, texts), texts, [*LABELS, "crash"], seed=0)
    assert "crash" in model.themes
    assert model.metrics["holdout_size"] == len(TEXTS)  # its only row is never held out


def test_nonsense_stays_unthemed_but_keeps_a_best_candidate(model: ThemeClassifier, embed: TfidfVectorizer) -> None:
    text = ["zxq wubba lorem"]
    (assignment,) = model.assign(vec(embed, text), text, threshold=0.5)
    assert assignment == Assignment(themes=(), best=assignment.best)
    assert assignment.best[0] in model.themes
    assert assignment.best[1] < 0.5


def test_confidence_is_calibrated_on_a_toy_holdout(embed: TfidfVectorizer) -> None:
    train, held = holdout_split(LABELS, fraction=0.25, seed=1)
    model = classifier_train(vec(embed, [TEXTS[i] for i in train]), [TEXTS[i] for i in train],
                             [LABELS[i] for i in train], seed=0)
    texts = [TEXTS[i] for i in held]
    result = model_evaluate(model, vec(embed, texts), texts, [LABELS[i] for i in held])
    assert result["accuracy"] >= 0.75
    assert result["ece"] <= 0.3
    assert "holdout_accuracy" in model.metrics


def test_explanations_name_the_obvious_terms(model: ThemeClassifier, embed: TfidfVectorizer) -> None:
    text = "Hello team. My card was declined at the airport."
    why = explain(model, vec(embed, [text])[0], text, "card")
    terms = [t for t, _ in why.terms]
    assert {"card", "declined"} & set(terms[:3])
    assert why.sentence == "My card was declined at the airport."
    assert all(v > 0 for _, v in why.terms)


def test_manual_labels_outweigh_model_labels(embed: TfidfVectorizer) -> None:
    # The same texts are labelled "card" by the model and "refund" by a support lead.
    disputed = ["money back for a declined card charge"] * 3
    texts = TEXTS + disputed + disputed
    labels = LABELS + ["card"] * 3 + ["refund"] * 3
    manual = [False] * (len(TEXTS) + 3) + [True] * 3
    model = classifier_train(vec(embed, texts), texts, labels, seed=0, manual=manual)
    assert model.predict(vec(embed, disputed[:1]), disputed[:1])[0][0][0] == "refund"


def test_it_accepts_several_labels_per_text(embed: TfidfVectorizer) -> None:
    texts = [*TEXTS, "card declined and csv export broken"]
    labels: list[str | list[str]] = [*LABELS, ["card", "export"]]
    model = classifier_train(vec(embed, texts), texts, labels, seed=0)
    assert model.themes == ("card", "export", "login", "refund")


def test_it_is_deterministic_for_a_seed(embed: TfidfVectorizer) -> None:
    args = (vec(embed, TEXTS), TEXTS, LABELS)
    first = classifier_train(*args, seed=3).predict_proba(vec(embed, POOL), POOL)
    again = classifier_train(*args, seed=3).predict_proba(vec(embed, POOL), POOL)
    np.testing.assert_array_equal(first, again)


def test_it_round_trips_through_joblib(model: ThemeClassifier, embed: TfidfVectorizer) -> None:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    assert loaded.themes == model.themes and loaded.metrics == model.metrics
    np.testing.assert_array_equal(loaded.predict_proba(vec(embed, POOL), POOL), model.predict_proba(vec(embed, POOL), POOL))


def test_it_needs_two_themes(embed: TfidfVectorizer) -> None:
    with pytest.raises(ValueError, match="two themes"):
        classifier_train(vec(embed, CARD), CARD, ["card"] * len(CARD))


def test_holdout_split_is_stratified_deterministic_and_keeps_tiny_themes() -> None:
    labels = ["a"] * 10 + ["b"] * 3 + ["c"] * 2 + ["d"]
    train, held = holdout_split(labels, fraction=0.2, seed=7)
    again = holdout_split(labels, fraction=0.2, seed=7)
    np.testing.assert_array_equal(train, again[0])
    held_labels = sorted(labels[i] for i in held)
    assert held_labels == ["a", "a", "b"]
    assert {labels[i] for i in train} == {"a", "b", "c", "d"}
    assert sorted([*train, *held]) == list(range(len(labels)))


@pytest.mark.parametrize(("new", "active", "tolerance", "expected"), [
    (0.80, None, 0.0, True),
    (0.80, 0.80, 0.0, True),
    (0.79, 0.80, 0.0, False),
    (0.79, 0.80, 0.02, True),
    (0.85, 0.80, 0.0, True),
])
def test_a_retrained_model_is_activated_only_if_not_worse(new: float, active: float | None, tolerance: float,
                                                          expected: bool) -> None:
    assert should_activate(new, active, tolerance=tolerance) is expected


@pytest.mark.parametrize(("confidence", "correct", "expected"), [
    ([0.9, 0.9], [1, 1], 0.1),
    ([0.5, 0.5], [1, 0], 0.0),
    ([1.0, 0.0], [1, 0], 0.0),
])
def test_calibration_error(confidence: list[float], correct: list[int], expected: float) -> None:
    assert calibration_error(np.array(confidence), np.array(correct)) == pytest.approx(expected)
