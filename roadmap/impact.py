"""Did shipping change anything? Pure statistics for a backlog item's ship impact (no ORM).

The question: after an item shipped, did its themes take a smaller share of all support tickets?
Volume alone misleads (a quiet holiday week looks like a fix), so each week's theme tickets are
taken relative to that week's total tickets, and the share after shipping is compared with the
share before as a rate ratio with a Poisson confidence interval on the log scale. Weekly counts
usually vary more than Poisson allows; the interval is widened by the observed over-dispersion
(Pearson χ² per degree of freedom, when above 1) so a noisy theme does not get a confident verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054
MIN_WEEKS_AFTER = 2
MIN_TICKETS_BEFORE = 10


@dataclass(frozen=True)
class Week:
    """One week: tickets of the item's themes and all tickets."""

    theme: int
    total: int

    @property
    def share(self) -> float | None:
        return self.theme / self.total if self.total else None


@dataclass(frozen=True)
class Impact:
    """The change in share after shipping: ``ratio`` after/before with its 95% interval."""

    verdict: str  # "down", "up", "no_change", "too_early", "too_little"
    weeks_before: int
    weeks_after: int
    share_before: float | None = None
    share_after: float | None = None
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    dispersion: float = 1.0

    @property
    def change_percent(self) -> int | None:
        return round(100 * (self.ratio - 1)) if self.ratio is not None else None

    @property
    def share_before_percent(self) -> float | None:
        return round(100 * self.share_before, 2) if self.share_before is not None else None

    @property
    def share_after_percent(self) -> float | None:
        return round(100 * self.share_after, 2) if self.share_after is not None else None

    def sentence(self) -> str:
        """The verdict in plain words, with its uncertainty."""
        after = f"in the {self.weeks_after} week{'s' if self.weeks_after != 1 else ''} after shipping"
        if self.verdict == "too_early":
            return (f"Too early to tell: {self.weeks_after} full week{'s' if self.weeks_after != 1 else ''} since "
                    f"shipping; a verdict needs at least {MIN_WEEKS_AFTER}.")
        if self.verdict == "too_little":
            return (f"Too little volume to measure: the linked themes had fewer than {MIN_TICKETS_BEFORE} tickets "
                    f"in the {self.weeks_before} weeks before shipping.")
        assert self.ratio is not None and self.low is not None and self.high is not None
        if self.verdict == "down":
            return (f"Down {_pct(1 - self.ratio)} (95% CI {_range(1 - self.high, 1 - self.low)}) {after}, "
                    "as a share of all tickets.")
        if self.verdict == "up":
            return (f"Up {_pct(self.ratio - 1)} (95% CI {_range(self.low - 1, self.high - 1)}) {after}, "
                    "as a share of all tickets: shipping did not reduce this demand.")
        return (f"No clear change {after}: {_signed(self.ratio - 1)} as a share of all tickets, and anything from "
                f"{_signed(self.low - 1)} to {_signed(self.high - 1)} is consistent with the data (95% CI).")


def _pct(value: float) -> str:
    return f"{round(100 * value)}%"


def _range(low: float, high: float) -> str:
    return f"{round(100 * low)}–{round(100 * high)}%"


def _signed(value: float) -> str:
    return f"{round(100 * value):+d}%"


def _dispersion(weeks: Sequence[Week], rate: float) -> tuple[float, int]:
    """Pearson χ² of the weekly counts against a constant share, and its degrees of freedom."""
    chi2, used = 0.0, 0
    for week in weeks:
        expected = rate * week.total
        if expected > 0:
            chi2 += (week.theme - expected) ** 2 / expected
            used += 1
    return chi2, max(used - 1, 0)


def ship_impact(*, before: Sequence[Week], after: Sequence[Week], z: float = Z_95) -> Impact:
    """Compare the themes' share of all tickets after shipping with the share before."""
    before = [w for w in before if w.total > 0]
    after = [w for w in after if w.total > 0]
    if len(after) < MIN_WEEKS_AFTER:
        return Impact(verdict="too_early", weeks_before=len(before), weeks_after=len(after))
    b, b_total = sum(w.theme for w in before), sum(w.total for w in before)
    a, a_total = sum(w.theme for w in after), sum(w.total for w in after)
    if b < MIN_TICKETS_BEFORE or not b_total:
        return Impact(verdict="too_little", weeks_before=len(before), weeks_after=len(after))
    share_before, share_after = b / b_total, a / a_total
    # 0.5 added to a zero count keeps the log finite (a standard continuity correction).
    a_adj = a if a > 0 else 0.5
    ratio = (a_adj / a_total) / share_before
    chi2_b, df_b = _dispersion(before, share_before)
    chi2_a, df_a = _dispersion(after, share_after)
    df = df_b + df_a
    dispersion = max(1.0, (chi2_b + chi2_a) / df) if df else 1.0
    se = math.sqrt(dispersion * (1 / a_adj + 1 / b))
    low, high = ratio * math.exp(-z * se), ratio * math.exp(z * se)
    verdict = "down" if high < 1 else "up" if low > 1 else "no_change"
    return Impact(
        verdict=verdict, weeks_before=len(before), weeks_after=len(after), share_before=share_before,
        share_after=share_after, ratio=ratio, low=low, high=high, dispersion=dispersion,
    )
