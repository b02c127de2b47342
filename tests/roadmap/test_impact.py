"""The ship-impact statistics (pure, no database): verdicts, intervals and their wording."""

from __future__ import annotations

import pytest

from roadmap.impact import Week, ship_impact


def weeks(*pairs: tuple[int, int]) -> list[Week]:
    return [Week(theme=t, total=n) for t, n in pairs]


STEADY_BEFORE = weeks(*[(50, 1000)] * 6)


@pytest.mark.parametrize(("after", "verdict", "change"), [
    (weeks(*[(20, 1000)] * 6), "down", -60),              # a clear fall in share
    (weeks(*[(20, 500)] * 6), "down", -20),                # fewer tickets and fewer in total: share counts
    (weeks(*[(50, 1000)] * 6), "no_change", 0),            # the same share
    (weeks(*[(50, 500)] * 6), "up", 100),                  # a busier theme in a quieter month
    (weeks(*[(0, 1000)] * 6), "down", -100),               # nothing after shipping (continuity-corrected)
    (weeks((48, 1000), (52, 1000)), "no_change", 0),       # two weeks are enough to be asked
])
def test_it_compares_the_share_of_all_tickets_before_and_after(after, verdict, change) -> None:
    result = ship_impact(before=STEADY_BEFORE, after=after)

    assert result.verdict == verdict
    assert result.change_percent == change
    assert result.low is not None and result.high is not None
    assert result.low <= result.ratio <= result.high


@pytest.mark.parametrize(("before", "after", "verdict"), [
    (STEADY_BEFORE, weeks((20, 1000)), "too_early"),                  # one week after shipping
    (STEADY_BEFORE, [], "too_early"),
    (weeks(*[(1, 1000)] * 6), weeks(*[(0, 1000)] * 6), "too_little"),  # 6 tickets before: nothing to measure
    (STEADY_BEFORE, weeks((20, 1000), (0, 0)), "too_early"),          # a week without any ticket is no week
])
def test_it_declines_a_verdict_without_enough_data(before, after, verdict) -> None:
    assert ship_impact(before=before, after=after).verdict == verdict


def test_noisy_weeks_widen_the_interval() -> None:
    steady = ship_impact(before=STEADY_BEFORE, after=weeks(*[(40, 1000)] * 6))
    noisy = ship_impact(before=weeks(*[(10, 1000), (90, 1000)] * 3), after=weeks(*[(5, 1000), (75, 1000)] * 3))

    assert steady.dispersion == 1.0 and noisy.dispersion > 10
    assert steady.verdict == "down"  # 20% fewer with steady weeks is clear…
    assert noisy.verdict == "no_change"  # …with weeks swinging from 10 to 90 it is not


@pytest.mark.parametrize(("after", "sentence"), [
    (weeks(*[(20, 1000)] * 6), "Down 60% (95% CI 51–68%) in the 6 weeks after shipping, as a share of all tickets."),
    (weeks(*[(50, 1000)] * 3), "No clear change in the 3 weeks after shipping: +0% as a share of all tickets, and "
                               "anything from -18% to +22% is consistent with the data (95% CI)."),
    (weeks(*[(100, 1000)] * 6), "Up 100% (95% CI 74–130%) in the 6 weeks after shipping, as a share of all tickets: "
                                "shipping did not reduce this demand."),
    (weeks((20, 1000)), "Too early to tell: 1 full week since shipping; a verdict needs at least 2."),
])
def test_it_says_the_verdict_in_plain_words(after, sentence) -> None:
    assert ship_impact(before=STEADY_BEFORE, after=after).sentence() == sentence
