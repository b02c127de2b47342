from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import call_command

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


def _write_csv(path, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "intent"])
        writer.writerows(rows)


def test_it_prints_one_json_object_with_all_three_measurements(tmp_path) -> None:
    rows = [(t.format(w), label) for label, templates in TOPICS.items() for t in templates for w in WORDS]
    _write_csv(tmp_path / "a.csv", rows[::2])
    _write_csv(tmp_path / "b.csv", rows[1::2])
    out = StringIO()
    call_command("evaluate_theming", "--input", f"{tmp_path / 'a.csv'},{tmp_path / 'b.csv'}",
                 "--label-column", "intent", "--labels-per-theme", "3", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert set(report) == {"discovery", "few_shot", "stability"}
    assert set(report["discovery"]) == {"nmi", "ari", "acc", "n_themes", "seconds"}
    assert report["discovery"]["nmi"] > 0.5
    assert report["few_shot"]["labels_per_theme"] == 3
    assert report["few_shot"]["accuracy"] > 0.6
    assert 0.0 <= report["stability"]["changed_share"] <= 1.0
