"""Charts on pages: a plotly figure handed to the browser as data and drawn by static/js/charts.js.

Figures are plain dicts handed over unvalidated (building ``graph_objects`` validates every
property and cost more than all of a page's queries), serialised with plotly's JSON encoder into a
``data-figure`` attribute. No inline script: the Content-Security-Policy forbids them (config/csp.py).
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString
from plotly.utils import PlotlyJSONEncoder

BASE_LAYOUT: dict[str, Any] = {
    "margin": {"l": 40, "r": 10, "t": 10, "b": 40}, "plot_bgcolor": "#fff", "paper_bgcolor": "#fff",
    "legend": {"orientation": "h", "y": -0.15, "x": 0},
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12, "color": "#1d2433"},
    "xaxis": {"showgrid": False, "linecolor": "#e3e7ee"},
    "yaxis": {"gridcolor": "#eef0f5", "rangemode": "tozero"},
}
CONFIG = {"displayModeBar": False, "responsive": True}


def chart_html(data: list[dict[str, Any]], layout: dict[str, Any], *, height: int) -> SafeString:
    """The element static/js/charts.js draws ``data`` into; ``layout`` overrides ``BASE_LAYOUT``."""
    figure = {"data": data, "layout": {**BASE_LAYOUT, "height": height, **layout}, "config": CONFIG}
    return format_html('<div class="plotly-chart" data-figure="{}"></div>', json.dumps(figure, cls=PlotlyJSONEncoder))
