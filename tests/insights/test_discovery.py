from __future__ import annotations

import numpy as np
import pytest

from insights.analysis.discovery import changed_share, discover, match_to_existing

TOPICS = {
    "card declined abroad": "my card payment was declined abroad in {}",
    "password reset email": "the password reset email never arrives for {}",
    "csv export truncated": "csv export truncated at ten thousand rows for {}",
    "refund not received": "refund not received yet after returning {}",
}
PLACES = ["spain", "italy", "france", "japan", "peru", "chile", "kenya", "egypt", "nepal", "ghana",
          "cuba", "oman"]


def _toy(per_topic: int = 12, seed: int = 0, noise: float = 0.05) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Four well separated Gaussian blobs in 16 dimensions, with texts that say which is which."""
    rng = np.random.default_rng(seed)
    centres = np.eye(16)[:4] * 1.0
    labels = np.repeat(np.arange(4), per_topic)
    vectors = centres[labels] + rng.normal(0, noise, (len(labels), 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    templates = list(TOPICS.values())
    texts = [templates[label].format(PLACES[i % len(PLACES)]) for i, label in enumerate(labels)]
    return vectors.astype(np.float32), texts, labels


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_it_finds_obvious_clusters_and_chooses_their_number() -> None:
    vectors, texts, truth = _toy()
    found = discover(vectors, texts, min_theme_size=3, merge_duplicates=True)
    assert found.n_themes == 4
    assert (found.labels >= 0).mean() > 0.9
    themed = found.labels >= 0
    assert _same_partition(found.labels[themed], truth[themed])


def test_names_are_three_to_seven_words_a_customer_of_the_theme_wrote() -> None:
    vectors, texts, _ = _toy()
    found = discover(vectors, texts, min_theme_size=3, merge_duplicates=True)
    for theme in found.themes:
        words = theme.name.lower().split()
        assert 3 <= len(words) <= 7
        own = [texts[i] for i in np.flatnonzero(found.labels == theme.index)]
        assert any(t.startswith(" ".join(words)) for t in own)  # an opening of a clause, word for word
        assert not any(place in words for place in PLACES)  # one customer's detail never names a theme
        assert theme.keywords and theme.examples and theme.size > 0
        assert found.labels[theme.examples[0]] == theme.index
        assert theme.description.startswith("Typical request: “") and theme.description[18:-1] in own
    assert sorted(t.name for t in found.themes) == [
        "Csv export truncated at ten thousand rows", "My card payment was declined abroad",
        "Refund not received yet", "The password reset email never arrives",
    ]


def test_it_is_deterministic_for_a_seed() -> None:
    vectors, texts, _ = _toy()
    first, second = discover(vectors, texts, seed=7), discover(vectors, texts, seed=7)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert [t.name for t in first.themes] == [t.name for t in second.themes]


def test_a_fixed_number_of_themes_is_respected() -> None:
    vectors, texts, _ = _toy()
    assert discover(vectors, texts, n_themes=2, min_theme_size=3).n_themes == 2


def test_a_far_outlier_is_left_unthemed() -> None:
    vectors, texts, _ = _toy()
    outlier = np.zeros((1, 16), np.float32)
    outlier[0, 15] = 1.0
    found = discover(np.vstack([vectors, outlier]), [*texts, "completely unrelated question"], min_theme_size=3)
    assert found.labels[-1] == -1


def test_rerunning_with_more_data_keeps_existing_themes() -> None:
    vectors, texts, _ = _toy(per_topic=16)
    first_rows = np.arange(len(texts)) % 16 < 11
    before = discover(vectors[first_rows], [t for t, k in zip(texts, first_rows, strict=True) if k], min_theme_size=3)
    existing = {f"theme-{t.index}": t.centroid for t in before.themes}
    after = discover(vectors, texts, existing=existing, min_theme_size=3)
    assert [t.existing_id for t in after.themes] == list(existing)
    report = match_to_existing(after, existing)
    assert report.new == [] and report.vanished == []
    before_as_ids = {str(t.index): t.centroid for t in before.themes}
    again = discover(vectors, texts, existing=before_as_ids, min_theme_size=3)
    assert changed_share(before, again, np.flatnonzero(first_rows)) == pytest.approx(0.0)


def test_match_report_proposes_new_themes_and_suggests_merges() -> None:
    vectors, texts, _ = _toy()
    found = discover(vectors, texts, min_theme_size=3, merge_duplicates=True)
    first = found.themes[0].centroid
    existing = {"a": first, "b": first + np.float32(0.01), "other": -first}
    report = match_to_existing(found, existing)
    assert len(report.new) == found.n_themes - 1
    assert any(set(ids) == {"a", "b"} for _, ids in report.merges)
    assert "other" in report.vanished


def _phrasings(seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Five blobs; blobs 0 and 1 are one problem in two phrasings (a bag-of-words view sees two
    clusters, but their words overlap), 2–4 are other problems."""
    rng = np.random.default_rng(seed)
    templates = [
        "the password reset email never arrives, {} tried twice",
        "no password reset email in spam either, {} waited an hour",
        "csv export truncated at ten thousand rows for {}",
        "refund not received yet after returning {}",
        "my card payment was declined abroad in {}",
    ]
    centres = np.eye(16)[:5].copy()
    centres[1] = 0.75 * centres[0] + 0.66 * np.eye(16)[5]  # close to blob 0, closer than to any other
    labels = np.repeat(np.arange(5), 14)
    vectors = centres[labels] + rng.normal(0, 0.04, (len(labels), 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [templates[label].format(PLACES[i % len(PLACES)]) for i, label in enumerate(labels)]
    return vectors.astype(np.float32), texts, labels


def test_two_phrasings_of_one_problem_become_one_theme() -> None:
    vectors, texts, truth = _phrasings()
    apart = discover(vectors, texts, min_theme_size=3, merge_duplicates=False)
    merged = discover(vectors, texts, min_theme_size=3, merge_duplicates=True)
    assert apart.n_themes == 5
    assert merged.n_themes == 4
    assert len(set(merged.labels[truth <= 1].tolist())) == 1  # both phrasings in one theme
    assert len({merged.labels[truth == t][0] for t in (2, 3, 4)}) == 3  # the other problems stay apart


def test_a_fixed_number_of_themes_is_never_merged_below() -> None:
    vectors, texts, _ = _phrasings()
    assert discover(vectors, texts, min_theme_size=3, n_themes=5, merge_duplicates=True).n_themes == 5


def test_no_two_themes_share_a_name_and_names_stay_inside_a_clause() -> None:
    vectors, texts, _ = _phrasings()
    found = discover(vectors, texts, min_theme_size=3, merge_duplicates=False)
    names = [t.name for t in found.themes]
    assert len(set(names)) == len(names)
    for name in names:  # "never arrives tried" would join two clauses of the first template
        assert any(name.lower() in clause for t in texts for clause in t.split(", "))


def test_a_loose_catch_all_area_is_dissolved_instead_of_misnamed() -> None:
    """Eight tight pairs of themes and four loners that resemble nothing: the loners must not be
    grouped under an area named after one of them."""
    rng = np.random.default_rng(3)
    dim = 40
    centres = []
    for pair in range(8):
        base = np.eye(dim)[pair]
        centres += [base + 0.5 * np.eye(dim)[20 + 2 * pair], base + 0.5 * np.eye(dim)[21 + 2 * pair]]
    centres += [np.eye(dim)[8 + k] for k in range(4)]
    centres_arr = np.array(centres)
    labels = np.repeat(np.arange(len(centres_arr)), 8)
    vectors = centres_arr[labels] + rng.normal(0, 0.02, (len(labels), dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    def word(n: int) -> str:
        return "".join(chr(ord("a") + int(d)) for d in str(n + 100))

    texts = [f"{word(label // 2)} {word(200 + label)} {word(300 + label)} report" for label in labels]
    found = discover(vectors.astype(np.float32), texts, min_theme_size=3, merge_duplicates=False)
    loners = {int(found.labels[labels == k][0]) for k in range(16, 20)}
    parents = {found.themes[i].parent for i in loners}
    assert parents == {-1}
    assert found.areas and all(" & " in area.name for area in found.areas)


@pytest.mark.parametrize("n_blobs", [6, 25, 60])
def test_the_number_of_themes_follows_the_number_of_distinct_problems(n_blobs: int) -> None:
    """Few broad problems or many small ones: without being told, discovery finds each count
    (the 5-NN graph has no edge between these blobs, so every criterion that tracks separation
    must split them all and no further)."""
    rng = np.random.default_rng(n_blobs)
    dim = 64
    centres = rng.normal(0, 1, (n_blobs, dim))
    labels = np.repeat(np.arange(n_blobs), 20)
    vectors = centres[labels] / np.sqrt(dim) + rng.normal(0, 0.03, (len(labels), dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [f"problem {label} message {i}" for i, label in enumerate(labels)]
    found = discover(vectors.astype(np.float32), texts)
    assert found.n_themes == n_blobs
    themed = found.labels >= 0
    assert _same_partition(found.labels[themed], labels[themed])


def test_no_area_holds_more_than_a_quarter_of_the_themes() -> None:
    """Twelve themes in one tight family and four loners: Ward's four areas would put the family
    in one catch-all; it is split until no area has more than four of the sixteen themes."""
    from insights.analysis.discovery import _capped

    rng = np.random.default_rng(0)
    family = np.eye(8)[0] + rng.normal(0, 0.05, (12, 8))
    loners = np.eye(8)[4:8]
    centroids = np.vstack([family, loners])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    parent = np.array([0] * 12 + [1, 2, 3, 3])

    capped = _capped(centroids, parent)

    assert np.bincount(capped).max() <= 4
    assert len(set(capped[:12].tolist()) & set(capped[12:].tolist())) == 0  # the family is split, not mixed in
