"""The product manager's pages: dashboard, themes, one theme, and two periods compared.

Every page reads its filters from the query string (a shareable URL) and answers ``?format=csv``
(with ``table=`` where it shows more than one table) with the same rows as a CSV download.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.dateformat import format as date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from insights.access import access_themes_curate, access_themes_read
from insights.charts import chart_html
from insights.filters import CompareForm, PeriodForm, SegmentForm, ThemeListForm
from insights.models import Theme
from insights.selectors import (
    Breakdown,
    Dashboard,
    Example,
    Period,
    Segment,
    ThemeRow,
    dashboard_overview,
    store_state,
    theme_customers,
    theme_detail,
    theme_figures,
    theme_list_rows,
    theme_open_escalations,
    themes_compare,
    tickets_link,
)
from tickets.access import can, page_access
from tickets.exports import csv_response

THEMES_PER_PAGE = 50
# Query-string keys that choose what a page shows (kept when moving between pages).
FILTER_KEYS = ("period", "start", "end", "source", "channel", "plan", "organization")
PALETTE = ["#4a4ee0", "#1f8a53", "#e07a1f", "#c23934", "#8a4ae0", "#1f8ab0", "#b0a21f"]
OTHER_COLOR = "#c5cad6"


def _carried(request: HttpRequest, keys: tuple[str, ...] = FILTER_KEYS) -> str:
    """The current filters as a query string, for links to a sibling page."""
    query = QueryDict(mutable=True)
    for key in keys:
        if request.GET.get(key):
            query[key] = request.GET[key]
    return query.urlencode()


def _wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def _period_label(period: Period) -> str:
    if period.start.year == period.end.year:
        return f"{date_format(period.start, 'M j')} – {date_format(period.end, 'M j, Y')}"
    return f"{date_format(period.start, 'M j, Y')} – {date_format(period.end, 'M j, Y')}"


def _filename(name: str, period: Period) -> str:
    return f"threadline-{name}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"


# --- dashboard ------------------------------------------------------------------------------------


@page_access(access_themes_read)
def dashboard(request: HttpRequest) -> HttpResponse:
    form = PeriodForm(request.GET)
    period, segment = form.period_chosen(), form.segment()
    if request.GET.get("part") == "customers":
        return _customers_part(request, period, segment)
    state = store_state()
    if not (state["has_tickets"] and state["has_themes"]) and not _wants_csv(request):
        return render(request, "insights/dashboard.html", {"form": form, "state": state, "period": period})
    overview = dashboard_overview(period=period, segment=segment, with_customers=_wants_csv(request))
    if _wants_csv(request):
        rows = overview.rising if request.GET.get("table") == "rising" else overview.rows
        name = "rising-themes" if request.GET.get("table") == "rising" else "themes"
        return _theme_rows_csv(rows, _filename(name, period), with_customers=True)
    context = {
        "form": form, "state": state, "period": period, "period_label": _period_label(period),
        "previous_label": _period_label(period.previous()), "segment": segment, "overview": overview,
        "chart": _volume_chart(overview, period),
        "carried": _carried(request), "csv_query": _carried(request),
        "customers_query": urlencode({"part": "customers", "top": ",".join(str(r.theme.pk) for r in overview.top),
                                      "rising": ",".join(str(r.theme.pk) for r in overview.rising)}),
    }
    return render(request, "insights/dashboard.html", context)


CUSTOMER_THEMES_MAX = 30


def _customers_part(request: HttpRequest, period: Period, segment: Segment) -> HttpResponse:
    """Distinct customers of the themes the dashboard shows (``top=1,2&rising=3``), as out-of-band
    swaps into their table cells; loaded by htmx after the page (see ``dashboard_overview``)."""
    tables = {name: [int(pk) for pk in request.GET.get(name, "").split(",") if pk.isdigit()][:CUSTOMER_THEMES_MAX]
              for name in ("top", "rising")}
    counts = theme_customers(period=period, segment=segment, theme_ids=sorted(set(tables["top"] + tables["rising"])))
    cells = [(name, pk, counts.get(pk, 0)) for name, ids in tables.items() for pk in ids]
    return render(request, "insights/_customers.html", {"cells": cells})


def _theme_rows_csv(rows: list[ThemeRow], filename: str, *, with_customers: bool = False,
                    with_arr: bool = False) -> HttpResponse:
    header = ["theme_id", "theme", "area", "tickets", "previous_period", "change", "change_percent"]
    header += ["customers"] if with_customers else []
    header += ["arr_affected"] if with_arr else []

    def line(row: ThemeRow) -> list[object]:
        change = round(100 * row.change, 1) if row.change is not None else None
        cells: list[object] = [row.theme.pk, row.theme.name, row.theme.parent.name if row.theme.parent else "",
                               row.count, row.previous, row.delta, change]
        cells += [row.customers] if with_customers else []
        return [*cells, row.arr if row.arr is not None else ""] if with_arr else cells

    return csv_response(filename=filename, header=header, rows=(line(row) for row in rows))


def _buckets(period: Period) -> tuple[list[date], int]:
    """Days for a period up to three months long, else weeks (the first day of each)."""
    step = 1 if period.days <= 92 else 7
    return [period.start + timedelta(days=i) for i in range(0, period.days, step)], step


def _bucketed(series: dict[date, int], period: Period) -> list[int]:
    starts, step = _buckets(period)
    values = [0] * len(starts)
    for day, n in series.items():
        index = (day - period.start).days // step
        if 0 <= index < len(values):
            values[index] += n
    return values


def _figure_html(data: list[dict[str, Any]], layout: dict[str, Any], height: int) -> str:
    return chart_html(data, {"hovermode": "x unified", **layout}, height=height)


def _spike_line(day: date) -> dict[str, Any]:
    return {"type": "line", "x0": day.isoformat(), "x1": day.isoformat(), "yref": "paper", "y0": 0, "y1": 1,
            "line": {"color": "#c23934", "width": 1, "dash": "dot"}}


def _volume_chart(overview: Dashboard, period: Period) -> str:
    """Stacked bars of the busiest areas (the theme mix), all tickets as a line, spikes marked."""
    starts, step = _buckets(period)
    x = [day.isoformat() for day in starts]
    data: list[dict[str, Any]] = []
    for index, (name, series) in enumerate(overview.daily_mix):
        other = index == len(overview.daily_mix) - 1 and name == "Other areas"
        data.append({"type": "bar", "x": x, "y": _bucketed(series, period), "name": name,
                     "marker": {"color": OTHER_COLOR if other else PALETTE[index % len(PALETTE)]}})
    totals = _bucketed(overview.daily_totals, period)
    data.append({"type": "scatter", "mode": "lines", "x": x, "y": totals, "name": "All tickets",
                 "line": {"color": "#1d2433", "width": 2}})
    spikes = overview.spikes
    if spikes:
        data.append({
            "type": "scatter", "mode": "markers", "name": "Spike",
            "x": [alert.start_date.isoformat() for alert in spikes],
            "y": [totals[min(len(totals) - 1, (alert.start_date - period.start).days // step)] for alert in spikes],
            "marker": {"symbol": "triangle-down", "size": 14, "color": "#c23934"},
            "text": [f"{alert.theme.name}: {alert.observed} vs ~{alert.expected:.0f} expected" for alert in spikes],
            "hovertemplate": "Spike · %{text}<extra></extra>",
        })
    layout = {"barmode": "stack", "bargap": 0.15, "shapes": [_spike_line(alert.start_date) for alert in spikes]}
    return _figure_html(data, layout, 340)


# --- theme list ---------------------------------------------------------------------------------


@page_access(access_themes_read)
def themes(request: HttpRequest) -> HttpResponse:
    form = ThemeListForm(request.GET)
    period, segment = form.period_chosen(), form.segment()
    data = form.cleaned_data if form.is_valid() else {}
    rows = theme_list_rows(period=period, segment=segment, q=data.get("q", ""), sort=data.get("sort") or "area")
    if _wants_csv(request):
        return _theme_rows_csv(rows, _filename("theme-list", period), with_customers=True, with_arr=True)
    page = Paginator(rows, THEMES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = request.GET.copy()
    for key in ("page", "sort"):
        sort_query.pop(key, None)
    context = {
        "form": form, "page": page, "period": period, "period_label": _period_label(period),
        "state": store_state(), "query": query.urlencode(), "sort_query": sort_query.urlencode(),
        "sort": data.get("sort") or "area", "searched": bool(data.get("q")), "carried": _carried(request),
        "can_curate": can(request.user, access_themes_curate),
    }
    return render(request, "insights/theme_list.html", context)


# --- one theme ----------------------------------------------------------------------------------


@page_access(access_themes_read)
def theme(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        found = theme_detail(theme_id=pk)
    except Theme.DoesNotExist:
        raise Http404 from None
    form = PeriodForm(request.GET)
    period, segment = form.period_chosen(), form.segment()
    figures = theme_figures(theme=found, period=period, segment=segment)
    if _wants_csv(request):
        return _theme_csv(request, found, period, figures.breakdowns, figures.children)
    context = {
        "theme": found, "form": form, "period": period, "period_label": _period_label(period),
        "segment": segment, "profile": figures.profile, "worse": figures.profile.worse(),
        "breakdowns": figures.breakdowns, "children": figures.children,
        "chart": _theme_chart(found, figures.daily, period),
        "examples": [(example, highlighted(example)) for example in figures.examples],
        "escalations": theme_open_escalations(theme=found),
        "tickets_link": tickets_link(period=period, segment=segment, theme=found.pk),
        "previous_link": tickets_link(period=period.previous(), segment=segment, theme=found.pk),
        "carried": _carried(request),
    }
    return render(request, "insights/theme_detail.html", context)


EXCERPT_CHARS = 420


def highlighted(example: Example) -> SafeString:
    """An excerpt of the ticket's text around the deciding sentence, the sentence in ``<mark>`` and
    the model's strongest words in ``<strong>``; everything else escaped."""
    text, sentence = example.text, example.sentence or ""
    at = text.find(sentence) if sentence else -1
    if at < 0:
        before, marked, after = "", "", text[:EXCERPT_CHARS]
    else:
        room = max(0, EXCERPT_CHARS - len(sentence)) // 2
        before, marked, after = text[max(0, at - room):at], sentence, text[at + len(sentence):][:room]
        if at - room > 0:  # start at a word, not inside one
            before = "…" + before[before.find(" ") + 1:] if " " in before else "…"
    after += "…" if len(after) >= EXCERPT_CHARS or (at >= 0 and len(text) > at + len(sentence) + len(after)) else ""
    pattern = _terms_pattern(example.terms)

    def emphasise(part: str) -> str:
        escaped = str(escape(part))
        return pattern.sub(r"<strong>\g<0></strong>", escaped) if pattern else escaped

    middle = f"<mark>{emphasise(marked)}</mark>" if marked else ""
    return mark_safe(emphasise(before) + middle + emphasise(after))  # noqa: S308 (every part is escaped)


def _terms_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    words = sorted({str(escape(term)) for term in terms if len(term) > 2}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(word) for word in words) + r")\w*", re.IGNORECASE)


def _theme_csv(
    request: HttpRequest, found: Theme, period: Period, breakdowns: dict[str, list[Breakdown]],
    children: list[ThemeRow],
) -> HttpResponse:
    table = request.GET.get("table", "channels")
    if table == "subthemes":
        return _theme_rows_csv(children, _filename(f"theme-{found.pk}-subthemes", period))
    if table not in breakdowns:
        raise Http404
    rows = breakdowns[table]
    header = ["organization", "plan", "arr", "tickets", "share"] if table == "organizations" else [
        table[:-1], "tickets", "share"]
    lines = (
        [row.label, row.plan, row.arr, row.count, round(row.share, 4)] if table == "organizations"
        else [row.label, row.count, round(row.share, 4)]
        for row in rows
    )
    return csv_response(filename=_filename(f"theme-{found.pk}-{table}", period), header=header, rows=lines)


def _theme_chart(found: Theme, daily: dict[date, int], period: Period) -> str:
    starts, _ = _buckets(period)
    data = [{"type": "bar", "x": [day.isoformat() for day in starts], "y": _bucketed(daily, period),
             "name": found.name, "marker": {"color": PALETTE[0]}}]
    alerts = list(found.spike_alerts.filter(start_date__gte=period.start, start_date__lte=period.end))
    layout = {
        "showlegend": False, "shapes": [_spike_line(alert.start_date) for alert in alerts],
        "annotations": [{"x": alert.start_date.isoformat(), "yref": "paper", "y": 1, "text": "spike",
                         "showarrow": False, "yanchor": "bottom", "font": {"color": "#c23934", "size": 11}}
                        for alert in alerts],
    }
    return _figure_html(data, layout, 260)


# --- compare ------------------------------------------------------------------------------------


@page_access(access_themes_read)
def compare(request: HttpRequest) -> HttpResponse:
    form = CompareForm(request.GET)
    before, after = form.periods()
    segment = form.segment()
    comparison = themes_compare(before=before, after=after, segment=segment)
    if _wants_csv(request):
        lines = (
            [kind, row.theme.pk, row.theme.name, row.theme.parent.name if row.theme.parent else "",
             row.previous, row.count, row.delta]
            for kind, row in comparison.all_rows()
        )
        return csv_response(
            filename=f"threadline-compare-{before.start:%Y%m%d}-{after.end:%Y%m%d}.csv",
            header=["change", "theme_id", "theme", "area", "before", "after", "delta"], rows=lines,
        )
    segment_query = urlencode(segment.ticket_query())
    context = {
        "form": form, "before": before, "after": after, "before_label": _period_label(before),
        "after_label": _period_label(after), "comparison": comparison, "state": store_state(),
        "segment_query": segment_query, "carried": _carried(request, (*SegmentForm.base_fields, "a_start", "a_end",
                                                                    "b_start", "b_end")),
    }
    return render(request, "insights/compare.html", context)
