from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from insights.analysis.evaluation import ari, hungarian_accuracy, hungarian_mapping, macro_f1, nmi


def test_a_relabelled_perfect_clustering_scores_one() -> None:
    truth = ["a", "a", "b", "b", "c", "c"]
    pred = [2, 2, 0, 0, 1, 1]
    assert nmi(truth, pred) == pytest.approx(1.0)
    assert ari(truth, pred) == pytest.approx(1.0)
    assert hungarian_accuracy(truth, pred) == pytest.approx(1.0)


def test_surplus_clusters_are_unmapped_and_count_as_wrong() -> None:
    truth = ["a", "a", "a", "a", "b", "b"]
    pred = [0, 0, 1, 1, 2, 2]  # "a" split in two: only one half can map to it
    assert hungarian_accuracy(truth, pred) == pytest.approx(4 / 6)
    assert len(hungarian_mapping(truth, pred)) == 2


def test_too_few_clusters_leave_a_label_without_a_cluster() -> None:
    assert hungarian_accuracy(["a", "a", "b", "b", "c", "c"], [0, 0, 0, 0, 1, 1]) == pytest.approx(4 / 6)


def test_unthemed_texts_are_always_wrong_and_form_one_cluster_for_nmi() -> None:
    truth = ["a", "a", "b", "b"]
    assert hungarian_accuracy(truth, [0, -1, 1, 1]) == pytest.approx(3 / 4)
    assert nmi(truth, [0, -1, 1, -1]) < 1.0


def test_macro_f1_weights_labels_equally_and_counts_unthemed_as_a_miss() -> None:
    truth = ["a", "a", "a", "b"]
    assert macro_f1(truth, ["a", "a", "a", "b"]) == pytest.approx(1.0)
    assert macro_f1(truth, ["a", "a", "a", None]) == pytest.approx((1.0 + 0.0) / 2)


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="length"):
        nmi([1, 2], [1])


TOPICS = {
    "declined": ["my card was declined in {}", "card payment declined while in {}", "payment refused by card in {}"],
    "password": ["I forgot my password for {}", "password reset link for {} expired", "cannot reset password on {}"],
    "export": ["csv export from {} is cut off", "export of {} data truncated", "the {} csv export stops early"],
}
WORDS = ["spain", "italy", "the app", "my laptop", "the website", "france", "japan", "my phone", "peru", "chile",
         "kenya", "the portal", "nepal", "oman", "cuba", "ghana", "egypt", "iran"]


def _evaluate(directory, *extra: str) -> dict:
    rows = [(t.format(w), label, "access" if label == "password" else "cards")
            for label, templates in TOPICS.items() for t in templates for w in WORDS]
    with (directory / "a.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "intent", "area"])
        writer.writerows(rows[::2])
    with (directory / "b.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "intent", "area"])
        writer.writerows(rows[1::2])
    out = StringIO()
    call_command("evaluate_theming", "--input", f"{directory / 'a.csv'},{directory / 'b.csv'}",
                 "--label-column", "intent", "--labels-per-theme", "3", "--anchor-backend", "tfidf", "--json",
                 *extra, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    return _evaluate(tmp_path_factory.mktemp("evaluate"))


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> dict:
    return _evaluate(tmp_path_factory.mktemp("evaluate-full"), "--area-column", "area", "--none-label", "export",
                     "--pairs", "20")


def test_it_prints_one_json_object_with_every_measurement(report) -> None:
    assert set(report) == {"representation", "discovery", "themes", "names", "few_shot", "stability", "anchors"}
    assert {"nmi", "ari", "acc", "n_themes", "true_labels", "seconds"} <= set(report["discovery"])
    assert report["discovery"]["nmi"] > 0.5
    assert report["discovery"]["true_labels"] == 3
    assert report["few_shot"]["labels_per_theme"] == 3
    assert report["few_shot"]["accuracy"] > 0.6
    assert 0.0 <= report["few_shot"]["ece"] <= 1.0
    assert 0.0 <= report["stability"]["changed_share"] <= 1.0
    assert report["anchors"]["kmeans_true_k"]["k"] == 3
    assert 0.0 <= report["anchors"]["logistic_few_shot"]["accuracy"] <= 1.0
    assert 0.0 <= report["anchors"]["names_nearest_own_share"] <= 1.0


def test_names_are_measured_by_meaning_and_are_all_distinct(report) -> None:
    names = report["names"]
    assert names["distinct_share"] == 1.0
    assert names["nearest_own_share"] >= 0.5  # the toy themes are far apart; a wrong name would miss
    assert 3 <= names["median_words"] <= 7
    assert 0.0 <= names["keyword_names_share"] <= 1.0


def test_the_report_lists_each_theme_with_its_majority_label_and_purity(report) -> None:
    themes = report["themes"]
    assert sum(t["size"] for t in themes) <= len(TOPICS) * 3 * len(WORDS)
    assert {t["label"] for t in themes} <= set(TOPICS)
    for theme in themes:
        assert theme["name"] and theme["keywords"]
        assert 0.0 < theme["purity"] <= 1.0
    assert max(t["purity"] for t in themes) > 0.9


def test_abstention_two_problems_and_areas_are_reported_when_asked(full_report) -> None:
    assert full_report["abstention"]["none_rows"] == 3 * len(WORDS)
    for key in ("none_unthemed_share", "in_scope_unthemed_share", "selective_accuracy"):
        assert 0.0 <= full_report["abstention"][key] <= 1.0
    assert full_report["discovery"]["true_labels"] == 2  # the out-of-scope label is not a theme to find
    assert full_report["two_problems"]["pairs"] == 20
    assert 0.0 <= full_report["two_problems"]["both_in_top2"] <= 1.0
    assert 0.0 <= full_report["two_problems"]["second_above_threshold"] <= 1.0
    assert full_report["areas"]["true_areas"] == 2
    assert 0.0 < full_report["areas"]["largest_share"] <= 1.0
    assert 0.0 < full_report["areas"]["largest_theme_share"] <= 1.0
    assert "anchor_kmeans_true_k_nmi" in full_report["areas"]


def test_noise_then_preparation_gives_back_texts_close_to_the_clean_ones(tmp_path) -> None:
    from insights.analysis.noise import email_noise
    from insights.analysis.report import prepare_texts

    clean = [t.format(w) for templates in TOPICS.values() for t in templates for w in WORDS]
    noisy = email_noise(clean, seed=0)
    assert sum(n != c for n, c in zip(noisy, clean, strict=True)) > 0.9 * len(clean)
    prepared = prepare_texts(noisy)
    assert sum(p.casefold().strip(" .") == c.casefold() for p, c in zip(prepared, clean, strict=True)) > 0.7 * len(clean)
    noisy_report = _evaluate(tmp_path, "--noise", "--prepare")
    assert noisy_report["discovery"]["nmi"] > 0.5


def test_the_demo_data_is_evaluated_with_its_known_problems() -> None:
    out = StringIO()
    call_command("evaluate_theming", "--demo", "250", "--labels-per-theme", "3", "--anchor-backend", "tfidf",
                 "--area-column", "area", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["representation"]["texts"] > 180
    assert report["discovery"]["true_labels"] > 10
    assert "abstention" in report  # tickets raising no product problem are the out-of-scope rows
    assert report["areas"]["true_areas"] >= 5


def test_it_needs_an_input_or_the_demo() -> None:
    with pytest.raises(CommandError, match="--input"):
        call_command("evaluate_theming", "--json")
