"""Spike detection on synthetic daily series: seasonal noise stays quiet, real jumps alert once."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest

from insights.analysis.spikes import SpikeResult, day_spike, detect_spike, is_new_spike, week_spike
from tickets.demo import FADING_PROBLEM, SPIKE_PROBLEM, demo_records, demo_timeline, demo_truth

START = date(2025, 1, 6)  # a Monday
DEMO_TICKETS = 3000
WEEKLY_SHAPE = (1.15, 1.1, 1.05, 1.0, 0.9, 0.3, 0.25)  # Monday .. Sunday, as help desks see it


def seasonal_series(
    mean: float, days: int, *, seed: int, growth_per_day: float = 0.0, day_noise: float = 0.12
) -> list[tuple[date, int]]:
    """Poisson counts around mean x weekday shape x (1 + growth)^day, each day a little different."""
    rng = np.random.default_rng(seed)
    series = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        rate = mean * WEEKLY_SHAPE[day.weekday()] * (1 + growth_per_day) ** offset
        series.append((day, int(rng.poisson(rate * rng.lognormal(0.0, day_noise)))))
    return series


def with_extra(series: list[tuple[date, int]], extra: dict[int, int]) -> list[tuple[date, int]]:
    return [(day, count + extra.get((day - START).days, 0)) for day, count in series]


def alerts_over(
    series: list[tuple[date, int]], first: int, last: int, *, origin: date = START, **kwargs: object
) -> list[SpikeResult]:
    """Run the daily check on days origin+first .. origin+last as the pipeline does; the alerts raised."""
    alerts: list[SpikeResult] = []
    for offset in range(first, last + 1):
        result = detect_spike(series, on=origin + timedelta(days=offset), **kwargs)  # type: ignore[arg-type]
        if is_new_spike(result, [alert.start_date for alert in alerts if alert.start_date]):
            alerts.append(result)
    return alerts


@pytest.mark.parametrize("mean", [0.3, 2.0, 8.0, 40.0, 300.0])
def test_a_flat_seasonal_series_never_alerts(mean: float) -> None:
    series = seasonal_series(mean, 400, seed=7)
    assert alerts_over(series, 60, 399) == []


def test_the_false_positive_rate_of_either_test_is_tiny_on_noise() -> None:
    spikes: Counter[str] = Counter()
    checks = 0
    for seed in range(6):
        for mean in (1.0, 3.0, 8.0, 25.0):
            series = seasonal_series(mean, 250, seed=seed)
            for offset in range(60, 250):
                on = START + timedelta(days=offset)
                spikes["day"] += day_spike(series, on=on).is_spike
                spikes["week"] += week_spike(series, on=on).is_spike
                checks += 1
    # The nominal level is 1e-4 per check; leave room for the overdispersion estimate's own noise.
    assert spikes["day"] / checks < 1e-3
    assert spikes["week"] / checks < 2e-3


def test_weekends_and_the_monday_after_them_never_alert() -> None:
    shape = (30, 28, 27, 26, 24, 2, 1)
    series = [(START + timedelta(days=d), shape[d % 7]) for d in range(200)]
    mondays = [START + timedelta(days=d) for d in range(63, 200, 7)]
    assert not any(day_spike(series, on=monday).is_spike for monday in mondays)
    assert alerts_over(series, 60, 199) == []


def test_a_real_jump_alerts_once_on_its_first_day() -> None:
    series = with_extra(seasonal_series(10.0, 140, seed=3), {108: 45})
    alerts = alerts_over(series, 60, 139)
    assert len(alerts) == 1
    [alert] = alerts
    assert (alert.period, alert.on, alert.start_date) == ("day", START + timedelta(days=108), alert.on)
    assert alert.ratio > 4 and alert.p_value < 1e-10
    assert alert.expected == pytest.approx(10 * WEEKLY_SHAPE[alert.on.weekday()], rel=0.2)


def test_a_spike_that_lasts_three_days_is_one_alert() -> None:
    series = with_extra(seasonal_series(10.0, 140, seed=4), {100: 35, 101: 30, 102: 30})
    verdicts = [detect_spike(series, on=START + timedelta(days=d)) for d in (100, 101, 102)]
    assert all(v.is_spike for v in verdicts)
    assert {v.start_date for v in verdicts} == {START + timedelta(days=100)}
    assert len(alerts_over(series, 60, 139)) == 1


def test_two_spikes_weeks_apart_are_two_alerts() -> None:
    series = with_extra(seasonal_series(10.0, 160, seed=5), {100: 40, 140: 40})
    assert [a.on for a in alerts_over(series, 60, 159)] == [START + timedelta(days=100), START + timedelta(days=140)]


def test_slow_growth_does_not_alert() -> None:
    series = seasonal_series(10.0, 300, seed=6, growth_per_day=0.006)  # x6 over the period
    assert alerts_over(series, 60, 299) == []


def test_a_week_long_moderate_rise_is_a_week_spike_not_a_day_spike() -> None:
    series = with_extra(seasonal_series(20.0, 140, seed=8),
                        {d: round(14 * WEEKLY_SHAPE[(START + timedelta(days=d)).weekday()]) for d in range(120, 127)})
    on = START + timedelta(days=126)
    assert not day_spike(series, on=on).is_spike
    week = week_spike(series, on=on)
    assert week.is_spike and week.observed > 1.5 * week.expected
    assert len(alerts_over(series, 60, 139)) == 1


def test_tiny_themes_need_a_minimum_count() -> None:
    series = with_extra([(START + timedelta(days=d), 0) for d in range(100)], {99: 4})
    result = day_spike(series, on=START + timedelta(days=99))
    assert result.p_value < 1e-3
    assert not result.is_spike  # 4 tickets is not worth an alert, however unusual


def test_a_rise_of_every_theme_is_not_a_spike_of_this_one_given_the_total_volume() -> None:
    launch = 108  # a Thursday when all traffic went up 3.5-fold, this theme's with it
    theme = [(day, 35 if (day - START).days == launch else count)
             for day, count in seasonal_series(10.0, 120, seed=9)]
    rest = seasonal_series(200.0, 120, seed=10)
    totals = [(day, round(other * (3.5 if (day - START).days == launch else 1)) + own)
              for (day, other), (_, own) in zip(rest, theme, strict=True)]
    on = START + timedelta(days=launch)
    assert day_spike(theme, on=on).is_spike
    assert not day_spike(theme, on=on, totals=totals).is_spike
    assert not week_spike(theme, on=on, totals=totals).is_spike


def test_missing_days_count_as_zero_and_a_short_history_is_not_judged() -> None:
    sparse = [(START + timedelta(days=d), 2) for d in range(0, 90, 3)] + [(START + timedelta(days=90), 30)]
    assert day_spike(sparse, on=START + timedelta(days=90)).is_spike
    short = [(START + timedelta(days=d), 3) for d in range(10)] + [(START + timedelta(days=10), 50)]
    verdict = day_spike(short, on=START + timedelta(days=10))
    assert not verdict.is_spike and math.isnan(verdict.expected) and verdict.p_value == 1.0


def test_is_new_spike_merges_alerts_of_the_same_run() -> None:
    day = date(2026, 3, 10)
    spike = SpikeResult(True, "day", day, 40, 10.0, 4.0, 1e-9, day - timedelta(days=2))
    assert is_new_spike(spike, [])
    assert not is_new_spike(spike, [day - timedelta(days=2)])
    assert not is_new_spike(spike, [day - timedelta(days=3)])  # start moved by a day
    assert is_new_spike(spike, [day - timedelta(days=20)])
    quiet = SpikeResult(False, "day", day, 10, 10.0, 1.0, 0.5, None)
    assert not is_new_spike(quiet, [])


def test_the_demo_release_spike_alerts_once_and_the_fading_theme_never() -> None:
    today = date(2026, 3, 1)
    timeline = demo_timeline(today)
    created = {r.external_id: r.created_at.date() for r in demo_records(count=DEMO_TICKETS, seed=7, today=today)}
    per_day: dict[str, Counter[date]] = {SPIKE_PROBLEM: Counter(), FADING_PROBLEM: Counter()}
    for ticket_id, problems in demo_truth(count=DEMO_TICKETS, seed=7, today=today).items():
        for key, counts in per_day.items():
            counts[created[ticket_id]] += key in problems
    last = (today - timeline.start).days - 1

    def alerts(key: str) -> list[SpikeResult]:
        series = sorted(per_day[key].items())
        return alerts_over(series, 60, last, origin=timeline.start, since=timeline.start)

    assert [a.start_date for a in alerts(SPIKE_PROBLEM)] == [timeline.spike_date]
    assert alerts(FADING_PROBLEM) == []
