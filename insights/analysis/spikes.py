"""Spike detection: is a theme's volume today, or over the last seven days, well above its own baseline?

The test
--------
**Day.** The expected count for day *t* comes from a seasonal baseline over the previous
``baseline_weeks`` weeks (default 8, never including *t*): a per-weekday factor times the recent level,

    f_w  = (S_w + c·g_w) / (n_w·m + c)             weekday w's share, shrunk towards the prior shape g
    L    = Σ y[last level_days] / Σ f_w(d)         the recent deseasonalised level (default 28 days)
    μ    = L · f_weekday(t)

where S_w and n_w are the counts and number of days on weekday w in the baseline, m the baseline's daily
mean and c = ``weekday_prior_count`` pseudo-tickets (so a busy theme's own weekly shape wins quickly,
a sparse theme's stays near the prior). The prior shape g is flat, or, when the total daily
volume is given, the weekday shape of everything else. Comparing a Monday with Mondays is what makes a
weekend dip (or the Monday after it) unremarkable, and the recent level lets slow growth raise μ as it
goes. When the total volume is given, μ is also scaled by how far the rest of today's traffic is from
its own expectation, so a day when every theme is up (a launch, a holiday backlog) is not a spike of
this one.

The count is modelled as negative binomial with mean μ and variance μ(1 + a·μ). The overdispersion a
is the baseline's, by the method of moments, Σ[(y - ŷ)² - ŷ] / Σŷ², plus the relative variance of μ
itself (1 / the counts it was estimated from), so a baseline of a handful of tickets is not trusted
like one of thousands. The p-value is the upper tail P(Y ≥ observed); a = 0 falls back to Poisson.

**Week.** The last seven days (*t* - 6 … *t*) against the seven-day blocks ending one, two, ... weeks
earlier: every block holds each weekday once, so no seasonal factor is needed. μ is the mean of the
``level_weeks`` most recent blocks (default 4), a is estimated from all ``baseline_weeks`` blocks the
same way, and the tail is the same.

**Decision.** A spike needs p < ``p_value`` (default 0.001; a product checks many themes every day),
at least ``min_count`` tickets and at least ``min_ratio`` x μ (day: 5 tickets and 2x, week: 10 and
1.5x), so tiny themes and statistically significant but dull rises do not alert.

**One alert per spike.** ``SpikeResult.start_date`` is the first day of the run of consecutive
"elevated" days (the same test at a loose p < 0.05 and ratio ≥ 1.25, one quiet day tolerated) that
ends on the day tested. Each day's test only reads days before it, so the same spike gives the same
start date on every day it lasts; ``is_new_spike`` compares it with the start dates already alerted.

Plain values in, dataclasses out; no ORM, no settings, deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
from scipy import stats

Period = Literal["day", "week"]
DailyCounts = Sequence[tuple[date, int]]

_MIN_EXPECTED = 0.1  # keeps the ratio finite for a theme that was silent all baseline long
_MAX_DISPERSION = 4.0
_TRIMMED_SHARE = 0.05
_VOLUME_FACTOR_BOUNDS = (0.2, 5.0)  # a broken import of "everything else" must not dominate


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    """The test's knobs; the defaults are what the product uses (see the module docstring)."""

    baseline_weeks: int = 8
    level_days: int = 28
    level_weeks: int = 8
    weekday_prior_count: float = 3.0
    p_value: float = 1e-4
    min_count_day: int = 5
    min_count_week: int = 10
    min_ratio_day: float = 2.0
    min_ratio_week: float = 1.5
    continue_p_value: float = 0.05
    continue_ratio: float = 1.25
    max_lookback_days: int = 28
    min_history_days: int = 28


DEFAULT_CONFIG = SpikeConfig()


@dataclass(frozen=True, slots=True)
class SpikeResult:
    """The verdict for ``period`` ending on ``on``.

    ``observed`` is the count on ``on`` (day) or over ``on`` - 6 … ``on`` (week); ``expected`` the
    baseline's expectation for it and ``ratio`` their quotient; both are NaN, and ``p_value`` is 1,
    when the history is too short to judge (``SpikeConfig.min_history_days``). ``start_date`` is the
    first day of the spike for a spike, ``None`` otherwise.
    """

    is_spike: bool
    period: Period
    on: date
    observed: int
    expected: float
    ratio: float
    p_value: float
    start_date: date | None


@dataclass(frozen=True, slots=True)
class _Test:
    observed: int
    expected: float
    p_value: float

    @property
    def ratio(self) -> float:
        return self.observed / max(self.expected, _MIN_EXPECTED)


def day_spike(
    counts: DailyCounts,
    *,
    on: date,
    totals: DailyCounts | None = None,
    since: date | None = None,
    config: SpikeConfig = DEFAULT_CONFIG,
) -> SpikeResult:
    """Is the theme's count on ``on`` a spike against its seasonal baseline? (The "day" test.)

    ``counts`` are the theme's (day, count) pairs, in any order, a day missing meaning 0; pairs after
    ``on`` are ignored. ``totals``, if given, is the total daily volume of all tickets on the same
    days. ``since`` is the first day the counts cover (default: the earliest day in ``counts``);
    before it nothing is known, so it is never read as a run of zeros.
    """
    return _evaluate("day", counts, on=on, totals=totals, since=since, config=config)


def week_spike(
    counts: DailyCounts,
    *,
    on: date,
    totals: DailyCounts | None = None,
    since: date | None = None,
    config: SpikeConfig = DEFAULT_CONFIG,
) -> SpikeResult:
    """Are the seven days ending on ``on`` a spike against the previous weeks? Arguments as ``day_spike``."""
    return _evaluate("week", counts, on=on, totals=totals, since=since, config=config)


def detect_spike(
    counts: DailyCounts,
    *,
    on: date,
    totals: DailyCounts | None = None,
    since: date | None = None,
    config: SpikeConfig = DEFAULT_CONFIG,
) -> SpikeResult:
    """The day verdict if ``on`` is a day spike, else the week verdict if the week is one, else the
    (negative) day verdict. Arguments as ``day_spike``."""
    day = day_spike(counts, on=on, totals=totals, since=since, config=config)
    if day.is_spike:
        return day
    week = week_spike(counts, on=on, totals=totals, since=since, config=config)
    return week if week.is_spike else day


def is_new_spike(result: SpikeResult, alerted_starts: Iterable[date], *, merge_days: int = 1) -> bool:
    """True when ``result`` is a spike that no earlier alert covers, i.e. one alert should go out.

    ``alerted_starts`` are the ``start_date`` of the alerts already raised for this theme (either
    period). An alert covers this spike when its start lies within the spike (``start_date`` …
    ``on``) or at most ``merge_days`` before it, which absorbs a start that moved by a day because
    late tickets were counted since.
    """
    if not result.is_spike or result.start_date is None:
        return False
    earliest = result.start_date - timedelta(days=merge_days)
    return not any(earliest <= start <= result.on for start in alerted_starts)


# --- evaluation ---------------------------------------------------------------------------------------


def _evaluate(
    period: Period,
    counts: DailyCounts,
    *,
    on: date,
    totals: DailyCounts | None,
    since: date | None,
    config: SpikeConfig,
) -> SpikeResult:
    first = since if since is not None else min((day for day, _ in counts), default=on)
    first = min(first, on)
    theme = _dense(counts, first, on)
    others = None if totals is None else np.maximum(_dense(totals, first, on) - theme, 0.0)
    end = len(theme) - 1
    test = _test(period, theme, others, end, config)
    if test is None:
        observed = int(theme[end] if period == "day" else theme[max(end - 6, 0):].sum())
        return SpikeResult(False, period, on, observed, math.nan, math.nan, 1.0, None)
    spike = _is_spike(period, test, config)
    start = on - timedelta(days=_run_length(period, theme, others, end, config)) if spike else None
    return SpikeResult(spike, period, on, test.observed, test.expected, test.ratio, test.p_value, start)


def _dense(counts: DailyCounts, first: date, on: date) -> np.ndarray:
    """Counts on every day from ``first`` to ``on`` inclusive (missing days 0, duplicates summed)."""
    values = np.zeros((on - first).days + 1)
    for day, count in counts:
        if count < 0:
            raise ValueError(f"negative count {count} on {day}")
        offset = (day - first).days
        if 0 <= offset < len(values):
            values[offset] += count
    return values


def _test(period: Period, theme: np.ndarray, others: np.ndarray | None, t: int, config: SpikeConfig) -> _Test | None:
    return _day_test(theme, others, t, config) if period == "day" else _week_test(theme, others, t, config)


def _is_spike(period: Period, test: _Test, config: SpikeConfig) -> bool:
    min_count, min_ratio = (
        (config.min_count_day, config.min_ratio_day) if period == "day"
        else (config.min_count_week, config.min_ratio_week)
    )
    return test.p_value < config.p_value and test.observed >= min_count and test.ratio >= min_ratio


def _is_elevated(test: _Test | None, config: SpikeConfig) -> bool:
    return (test is not None and test.observed > 0 and test.p_value < config.continue_p_value
            and test.ratio >= config.continue_ratio)


def _run_length(period: Period, theme: np.ndarray, others: np.ndarray | None, t: int, config: SpikeConfig) -> int:
    """How many days before ``t`` the current run of elevated days began (one quiet day tolerated)."""
    start = t
    quiet = 0
    for day in range(t - 1, max(t - config.max_lookback_days, 0) - 1, -1):
        if _is_elevated(_test(period, theme, others, day, config), config):
            start, quiet = day, 0
        else:
            quiet += 1
            if quiet > 1:
                break
    return t - start


# --- the day test ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Seasonal:
    expected: float  # for day t
    dispersion: float  # alpha, estimation uncertainty included


def _day_test(theme: np.ndarray, others: np.ndarray | None, t: int, config: SpikeConfig) -> _Test | None:
    span = min(config.baseline_weeks * 7, t)
    if span < config.min_history_days:
        return None
    phase = np.arange(-span, 0) % 7  # 0 is t's weekday
    prior = np.ones(7)
    expected_scale, extra_dispersion = 1.0, 0.0
    if others is not None:
        rest = _seasonal(others[t - span:t], phase, prior, config)
        prior = _weekday_factors(others[t - span:t], phase, prior, config.weekday_prior_count)
        if rest.expected > 0:
            low, high = _VOLUME_FACTOR_BOUNDS
            expected_scale = min(max(others[t] / rest.expected, low), high)
            extra_dispersion = 1.0 / max(rest.expected, 1.0)  # today's rest-of-traffic is itself noisy
    own = _seasonal(theme[t - span:t], phase, prior, config)
    expected = own.expected * expected_scale
    observed = int(theme[t])
    return _Test(observed, expected, _upper_tail(observed, expected, own.dispersion + extra_dispersion))


def _seasonal(window: np.ndarray, phase: np.ndarray, prior: np.ndarray, config: SpikeConfig) -> _Seasonal:
    """Per-weekday factor x recent level for the day after ``window``, and the overdispersion around it."""
    factors = _weekday_factors(window, phase, prior, config.weekday_prior_count)
    recent = slice(-min(config.level_days, len(window)), None)
    recent_total = float(window[recent].sum())
    level = recent_total / float(factors[phase[recent]].sum())
    fitted = factors[phase] * (float(window.sum()) / float(factors[phase].sum()))
    same_weekday = float(window[phase == 0].sum()) + config.weekday_prior_count
    uncertainty = 1.0 / max(recent_total, 1.0) + 1.0 / max(same_weekday, 1.0)
    return _Seasonal(level * float(factors[0]), _dispersion(window, fitted) + uncertainty)


def _weekday_factors(window: np.ndarray, phase: np.ndarray, prior: np.ndarray, prior_count: float) -> np.ndarray:
    """Each weekday's mean relative to the overall mean, shrunk towards ``prior`` by ``prior_count``
    pseudo-tickets; normalised to mean 1."""
    mean = float(window.mean())
    if mean <= 0:
        return prior.copy()
    sums = np.bincount(phase, weights=window, minlength=7)
    days = np.bincount(phase, minlength=7)
    factors = (sums + prior_count * prior) / (days * mean + prior_count)
    return factors / factors.mean()


def _dispersion(observed: np.ndarray, fitted: np.ndarray) -> float:
    """Negative-binomial alpha by the method of moments: Var = μ + a·μ²; 0 means Poisson.

    The largest 5% of the per-day terms are left out: one earlier spike in the baseline would
    otherwise inflate the variance so much that the spike's own second day could not be seen.
    """
    denominator = float((fitted**2).sum())
    if denominator <= 0:
        return 0.0
    terms = np.sort((observed - fitted) ** 2 - fitted)
    kept = terms[: len(terms) - math.floor(len(terms) * _TRIMMED_SHARE)]
    alpha = float(kept.sum()) / denominator
    return min(max(alpha, 0.0), _MAX_DISPERSION)


def _upper_tail(observed: int, expected: float, dispersion: float) -> float:
    """P(Y ≥ observed) for Y negative binomial with mean ``expected`` and alpha ``dispersion``."""
    if observed <= 0:
        return 1.0
    mean = max(expected, _MIN_EXPECTED)
    if dispersion <= 1e-9:
        return float(stats.poisson.sf(observed - 1, mean))
    size = 1.0 / dispersion
    return float(stats.nbinom.sf(observed - 1, size, size / (size + mean)))


# --- the week test ------------------------------------------------------------------------------------


def _week_test(theme: np.ndarray, others: np.ndarray | None, t: int, config: SpikeConfig) -> _Test | None:
    blocks = _weekly_blocks(theme, t, config.baseline_weeks)
    if len(blocks) * 7 < config.min_history_days or len(blocks) < config.level_weeks:
        return None
    recent = blocks[: config.level_weeks]
    expected = float(recent.mean())
    dispersion = _dispersion(blocks, np.full(len(blocks), float(blocks.mean())))
    dispersion += 1.0 / max(float(recent.sum()), 1.0)
    if others is not None:
        rest = _weekly_blocks(others, t, config.level_weeks)
        rest_expected = float(rest.mean()) if len(rest) else 0.0
        if rest_expected > 0:
            low, high = _VOLUME_FACTOR_BOUNDS
            expected *= min(max(float(others[t - 6:t + 1].sum()) / rest_expected, low), high)
            dispersion += 1.0 / max(rest_expected, 1.0)
    observed = int(theme[max(t - 6, 0):t + 1].sum())
    return _Test(observed, expected, _upper_tail(observed, expected, dispersion))


def _weekly_blocks(values: np.ndarray, t: int, weeks: int) -> np.ndarray:
    """Sums of the seven-day blocks ending 7, 14, ... days before ``t`` (most recent first), complete only."""
    ends = [t - 7 * k for k in range(1, weeks + 1) if t - 7 * k - 6 >= 0]
    return np.array([values[end - 6:end + 1].sum() for end in ends], dtype=float)
