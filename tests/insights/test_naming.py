"""Theme names, keywords and descriptions from the themes' own texts (insights.analysis.naming)."""

from __future__ import annotations

from insights.analysis.naming import name_themes

CRASH = ["Since version 4.2 the app crashes at launch every single morning. Please fix it.",
         "the app crashes at launch", "the app crashes at launch on my phone", "app crashes at launch since the update"]
EXPORT = ["csv export stops at 10,000 rows", "my csv export stops at 10,000 rows again",
          "the csv export stops at 10,000 rows for our team", "csv export stops at 10,000 rows, order 88123 too"]
CARDS = ["my card payment was declined abroad in Spain for the third time",
         "my card payment was declined abroad in Italy yesterday morning",
         "my card payment was declined abroad in Peru at a hotel",
         "card payment declined abroad in Chile when I paid the taxi"]


def test_names_descriptions_and_keywords_come_from_the_themes_own_words() -> None:
    crash, export, cards = name_themes([CRASH, EXPORT, CARDS])

    assert crash.name == "The app crashes at launch"  # a whole clause a customer wrote, sentence case
    # "4.2" ends no sentence; a version one customer gives may be quoted, never name the theme
    assert crash.description == "Typical request: “Since version 4.2 the app crashes at launch every single morning.”"
    assert export.name.lower() == "csv export stops at 10,000 rows"  # a number many customers give stays
    assert "88123" not in export.name  # one customer's order number never names a theme
    assert cards.name == "My card payment was declined abroad"  # cut where "in Spain…" begins
    for words in (crash, export, cards):
        assert 3 <= len(words.keywords) <= 5
        assert all(len(k) >= 3 and "'" not in k for k in words.keywords)


def test_no_two_themes_share_a_name_even_when_their_best_clause_is_the_same() -> None:
    first, second = name_themes([EXPORT, [*EXPORT[:2], "csv export stops at 10,000 rows in the nightly job",
                                          "nightly csv export job stops early"]])

    assert first.name.lower() != second.name.lower()
