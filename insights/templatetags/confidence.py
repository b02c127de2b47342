"""How a model's confidence reads on a page: a calibrated share, never "0%" or "100%"."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def guess_percent(confidence: float | None) -> int | None:
    """A calibrated probability as a whole percent between 1 and 99: the model is never certain,
    and a guess shown as "100%" reads as a fact (only a person's decision is)."""
    if confidence is None:
        return None
    return min(99, max(1, round(float(confidence) * 100)))
