"""Backlog pages: the roadmap board, one backlog item (demand, themes, customers, ship impact),
unaddressed demand, and the POST endpoints that create, edit, move and link items."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from insights.charts import chart_html
from insights.filters import PERIOD_VALUES, PeriodChoiceForm
from insights.selectors import Period
from roadmap.access import access_backlog_edit, access_backlog_link, access_backlog_read
from roadmap.forms import (
    BacklogItemEditForm,
    BacklogItemForm,
    BacklogStatusForm,
    BoardForm,
    ThemeLinkForm,
    ThemeUnlinkForm,
)
from roadmap.models import BacklogItem, BacklogItemStatus, ThemeLink
from roadmap.selectors import (
    BoardColumn,
    ShipImpact,
    backlog_board,
    backlog_board_version,
    backlog_demand,
    backlog_item_customers,
    backlog_item_detail,
    backlog_item_escalations,
    backlog_item_history,
    backlog_item_links,
    backlog_item_quotes,
    backlog_item_ship_impact,
    backlog_item_themes,
    backlog_item_tickets,
    backlog_items_count,
    backlog_items_open,
    shipped_item_loop_period,
    shipped_item_tag_counts,
    unaddressed_demand,
)
from roadmap.services import (
    BacklogError,
    backlog_item_create,
    backlog_item_update,
    shipped_item_default_tag,
    shipped_item_tag_back_queue,
    theme_link_create,
    theme_link_delete,
)
from tickets.access import can, page_access
from tickets.exports import csv_response

CUSTOMERS_PER_PAGE = 25
# Statuses in the order the board shows them: work under way first, closed work last.
# The rendered table is kept at most this long (and only while ``backlog_board_version`` holds):
# the bound on how stale an owner's name can be, the one thing the version does not follow.
BOARD_CACHE_SECONDS = 300
BOARD_ORDER = [BacklogItemStatus.IN_PROGRESS, BacklogItemStatus.PLANNED, BacklogItemStatus.IDEA,
               BacklogItemStatus.SHIPPED, BacklogItemStatus.WONT_DO]


def _period_label(period: Period) -> str:
    if period.start.year == period.end.year:
        return f"{date_format(period.start, 'M j')} – {date_format(period.end, 'M j, Y')}"
    return f"{date_format(period.start, 'M j, Y')} – {date_format(period.end, 'M j, Y')}"


def _period_query(period: Period) -> str:
    """The query string of a period: a preset ("last 30 days") stays a preset, so a shared link moves on."""
    if period.end == timezone.localdate() and str(period.days) in PERIOD_VALUES:
        return f"period={period.days}"
    return f"period=custom&start={period.start.isoformat()}&end={period.end.isoformat()}"


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


# --- board --------------------------------------------------------------------------------------


@require_GET
@page_access(access_backlog_read)
def board(request: HttpRequest) -> HttpResponse:
    form = BoardForm(request.GET)
    period = form.period_chosen()
    data = form.cleaned_data if form.is_valid() else {}
    sort, kind = data.get("sort") or "customers", data.get("kind") or ""

    def columns() -> list[BoardColumn]:  # called by the template only when its cached table is stale
        by_status = {column.status: column for column in backlog_board(period=period, sort=sort, kind=kind)}
        return [by_status[status] for status in BOARD_ORDER]

    query = request.GET.copy()
    query.pop("sort", None)
    return render(request, "roadmap/board.html", {
        "form": form, "period": period, "period_label": _period_label(period),
        "previous_label": _period_label(period.previous()), "columns": columns, "sort": sort, "kind": kind,
        "sort_query": query.urlencode(), "item_query": _period_query(period),
        "total": backlog_items_count(kind=kind), "board_version": backlog_board_version(),
        "board_cache_seconds": BOARD_CACHE_SECONDS,
        "can_edit": can(request.user, access_backlog_edit),
        "new_form": BacklogItemForm(initial={"status": BacklogItemStatus.IDEA}),
    })


@require_POST
@page_access(access_backlog_edit)
def item_create(request: HttpRequest) -> HttpResponse:
    """Create an item from the board's form, or from a theme (the theme is linked at once)."""
    form = BacklogItemForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        theme = data["theme"]
        if theme is not None:
            access_backlog_link(request.user)  # creating from a theme links it
        try:
            item = backlog_item_create(
                user=request.user, title=data["title"], description=data["description"], kind=data["kind"],
                status=data["status"], owner=data["owner"], target_date=data["target_date"],
                external_key=data["external_key"], external_url=data["external_url"],
                themes=[theme] if theme is not None else [], note=data["note"],
            )
        except BacklogError as exc:
            messages.error(request, str(exc))
        else:
            if _is_htmx(request) and theme is not None:
                return _row_done(request, theme_name=theme.name, item=item, created=True)
            linked = f" and linked to “{theme.name}”" if theme is not None else ""
            messages.success(request, f"Created “{item.title}”{linked}.")
            return redirect("backlog_item_detail", pk=item.pk)
    else:
        messages.error(request, f"The item was not created: {_form_errors(form)}")
    return _back(request, _safe_next(request, reverse("roadmap_board")))


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _back(request: HttpRequest, target: str) -> HttpResponse:
    """After a failed action: back to the page (htmx reloads it), where the message explains."""
    if _is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return redirect(target)


def _row_done(request: HttpRequest, *, theme_name: str, item: BacklogItem, created: bool) -> HttpResponse:
    """The unaddressed list's row once its theme is addressed (htmx swaps it in place)."""
    response = render(request, "roadmap/_unaddressed_done.html",
                      {"theme_name": theme_name, "item": item, "created": created})
    patch_vary_headers(response, ["HX-Request"])
    return response


def _form_errors(form: Any) -> str:
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label or name.replace("_", " ").capitalize() if name in form.fields else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return "; ".join(parts)


# --- one item -----------------------------------------------------------------------------------


def _item_or_404(pk: int) -> BacklogItem:
    try:
        return backlog_item_detail(item_id=pk)
    except BacklogItem.DoesNotExist:
        raise Http404 from None


@require_GET
@page_access(access_backlog_read)
def item(request: HttpRequest, pk: int) -> HttpResponse:
    found = _item_or_404(pk)
    form = PeriodChoiceForm(request.GET)
    period = form.period_chosen()
    theme_ids = backlog_item_themes(item=found)
    export = request.GET.get("export")
    if export in {"customers", "tickets"}:
        return _item_csv(found, theme_ids, period, export)
    demand = backlog_demand(period=period, item_ids=[found.pk]).get(found.pk)
    customers = Paginator(backlog_item_customers(theme_ids=theme_ids, period=period),
                          CUSTOMERS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    impact = backlog_item_ship_impact(item=found, theme_ids=theme_ids) if found.shipped_at else None
    can_edit, can_link = can(request.user, access_backlog_edit), can(request.user, access_backlog_link)
    links = backlog_item_links(item=found, period=period)
    loop_period = _close_the_loop_period(found)
    tag_counts = shipped_item_tag_counts(item=found) if can_edit and loop_period else []
    return render(request, "roadmap/item_detail.html", {
        "item": found, "form": form, "period": period, "period_label": _period_label(period),
        "previous_label": _period_label(period.previous()), "demand": demand, "links": links,
        "quotes": backlog_item_quotes(theme_ids=theme_ids, period=period) if theme_ids else [],
        "customers": customers, "query": query.urlencode(), "period_query": _period_query(period),
        "escalations": backlog_item_escalations(item=found), "history": backlog_item_history(item=found)[:20],
        "impact": impact, "impact_chart": _impact_chart(impact) if impact else "",
        "loop_query": _period_query(loop_period) if loop_period else "",
        "loop_label": _period_label(loop_period) if loop_period else "",
        "tag_back": _tag_back_context(found, tag_counts),
        "can_edit": can_edit, "can_link": can_link,
        "edit_form": BacklogItemEditForm(initial={
            "title": found.title, "description": found.description, "kind": found.kind, "owner": found.owner_id,
            "target_date": found.target_date, "external_key": found.external_key,
            "external_url": found.external_url}) if can_edit else None,
        "status_form": BacklogStatusForm(initial={"status": found.status}) if can_edit else None,
        "link_form": ThemeLinkForm(initial={"item": found.pk}) if can_link else None,
    })


def _close_the_loop_period(found: BacklogItem) -> Period | None:
    """For a shipped item: the days before shipping whose customers should hear about the fix."""
    return shipped_item_loop_period(item=found)


def _tag_back_context(found: BacklogItem, counts: list[tuple[Any, int, bool]]) -> dict[str, Any] | None:
    """The "tag these tickets in the help desk" form, when some affected ticket's help desk can take a tag."""
    supported = [(source, count) for source, count, can_tag in counts if can_tag]
    if not supported:
        return None
    return {
        "tickets": sum(count for _source, count in supported),
        "sources": [source.name for source, _count in supported],
        "unsupported": [source.name for source, _count, can_tag in counts if not can_tag],
        "tag": shipped_item_default_tag(item=found),
    }


@require_POST
@page_access(access_backlog_edit)
def item_tag_back(request: HttpRequest, pk: int) -> HttpResponse:
    """Close the loop: write a tag to the shipped item's affected tickets in their help desks."""
    found = _item_or_404(pk)
    try:
        result = shipped_item_tag_back_queue(item=found, tag=request.POST.get("tag") or "", user=request.user)
    except BacklogError as exc:
        messages.error(request, str(exc))
        return redirect("backlog_item_detail", pk=pk)
    if result is None or not result.ready():
        messages.success(request, "Tagging the tickets in the help desk; the item's history shows when it is done.")
    elif result.failed():
        messages.error(request, "Tagging the tickets failed; try again in a few minutes.")
    else:
        for source_name, outcome in (result.result or {}).items():
            if isinstance(outcome, int):
                messages.success(request, f"Tagged {outcome} ticket{pluralize(outcome)} in {source_name}.")
            else:
                messages.warning(request, f"{source_name}: not tagged — {outcome}.")
        if not result.result:
            messages.info(request, "No affected tickets to tag.")
    return redirect("backlog_item_detail", pk=pk)


def _item_csv(found: BacklogItem, theme_ids: set[int], period: Period, export: str) -> HttpResponse:
    name = f"threadline-item-{found.pk}-{export}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    if export == "customers":
        rows = backlog_item_customers(theme_ids=theme_ids, period=period)
        return csv_response(
            filename=name,
            header=["customer_id", "name", "email", "organization", "plan", "arr", "source", "tickets",
                    "last_ticket_at"],
            rows=([r["requester__external_id"], r["requester__name"], r["requester__email"],
                   r["organization__name"] or "", r["organization__plan"] or "",
                   float(r["organization__arr"]) if r["organization__arr"] is not None else None,
                   r["source__name"], r["tickets"], r["last_ticket"].isoformat()] for r in rows.iterator()),
        )
    tickets = (backlog_item_tickets(theme_ids=theme_ids, period=period)
               .select_related("source", "requester", "organization").order_by("-created_at", "-id"))
    return csv_response(
        filename=name,
        header=["source", "ticket_id", "subject", "status", "created_at", "customer_email", "customer_name",
                "organization", "plan", "url"],
        rows=([t.source.name, t.external_id, t.subject, t.status, t.created_at.isoformat(),
               t.requester.email if t.requester else "", t.requester.name if t.requester else "",
               t.organization.name if t.organization else "", t.organization.plan if t.organization else "",
               t.url] for t in tickets.iterator(chunk_size=2000)),
    )


def _impact_chart(impact: ShipImpact) -> str:
    """Weekly share of all tickets, before (grey) and after (accent) the ship date."""
    shares = [round(100 * t / n, 2) if n else None for t, n in zip(impact.theme_counts, impact.totals, strict=True)]
    # Each bar sits mid-week, so the ship line falls between the last week before and the first after.
    x = [(datetime.combine(start, time()) + timedelta(days=3.5)).isoformat() for start in impact.week_starts]
    weeks = [f"Week of {date_format(start, 'M j')}" for start in impact.week_starts]
    hover = [f"{t} of {n:,} tickets" for t, n in zip(impact.theme_counts, impact.totals, strict=True)]
    hover = [f"{week}: {text}" for week, text in zip(weeks, hover, strict=True)]
    split = impact.weeks_before
    data: list[dict[str, Any]] = [
        {"type": "bar", "x": x[:split], "y": shares[:split], "name": "Before shipping", "customdata": hover[:split],
         "marker": {"color": "#b7bccb"}, "hovertemplate": "%{y}% · %{customdata}<extra></extra>"},
        {"type": "bar", "x": x[split:], "y": shares[split:], "name": "After shipping", "customdata": hover[split:],
         "marker": {"color": "#4a4ee0"}, "hovertemplate": "%{y}% · %{customdata}<extra></extra>"},
    ]
    for label, share, first, last in (("before", impact.impact.share_before, 0, split),
                                      ("after", impact.impact.share_after, split, len(x))):
        if share is not None and last > first:
            data.append({"type": "scatter", "mode": "lines", "x": [x[first], x[last - 1]], "y": [100 * share] * 2,
                         "line": {"color": "#1d2433", "dash": "dot", "width": 1.5}, "showlegend": False,
                         "hoverinfo": "skip", "name": f"Average {label}"})
    ship_x = impact.shipped_on.isoformat()
    layout = {
        "margin": {"l": 70, "r": 10, "t": 10, "b": 40}, "bargap": 0.25,
        "legend": {"orientation": "h", "y": -0.2, "x": 0},
        "xaxis": {"showgrid": False, "linecolor": "#e3e7ee", "type": "date"},
        "yaxis": {"gridcolor": "#eef0f5", "rangemode": "tozero", "ticksuffix": "%",
                  "title": {"text": "of all tickets"}},
        "shapes": [{"type": "line", "x0": ship_x, "x1": ship_x, "yref": "paper", "y0": 0, "y1": 1,
                    "line": {"color": "#1f8a53", "width": 2}}],
        "annotations": [{"x": ship_x, "y": 1, "yref": "paper", "text": "Shipped", "showarrow": False,
                         "xanchor": "left", "font": {"color": "#1f8a53"}}],
    }
    return chart_html(data, layout, height=260)


@require_POST
@page_access(access_backlog_edit)
def item_update(request: HttpRequest, pk: int) -> HttpResponse:
    found = _item_or_404(pk)
    form = BacklogItemEditForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            backlog_item_update(
                item=found, user=request.user, title=data["title"], description=data["description"],
                kind=data["kind"], owner=data["owner"], target_date=data["target_date"],
                external_key=data["external_key"], external_url=data["external_url"],
            )
            messages.success(request, "Saved.")
        except BacklogError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Not saved: check the title and the tracker link.")
    return redirect("backlog_item_detail", pk=pk)


@require_POST
@page_access(access_backlog_edit)
def item_status(request: HttpRequest, pk: int) -> HttpResponse:
    found = _item_or_404(pk)
    form = BacklogStatusForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        shipped_at = None
        if data["shipped_on"]:
            shipped_at = datetime.combine(data["shipped_on"], time(12), tzinfo=timezone.get_current_timezone())
        try:
            backlog_item_update(item=found, user=request.user, status=data["status"], shipped_at=shipped_at,
                                note=data["note"])
            messages.success(request, f"Moved to {found.get_status_display()}.")
        except BacklogError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Choose a valid status.")
    return redirect("backlog_item_detail", pk=pk)


# --- links --------------------------------------------------------------------------------------


@require_POST
@page_access(access_backlog_link)
def link_create(request: HttpRequest) -> HttpResponse:
    form = ThemeLinkForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            theme_link_create(item=data["item"], theme=data["theme"], user=request.user, note=data["note"])
        except BacklogError as exc:
            messages.error(request, str(exc))
        else:
            if _is_htmx(request):
                return _row_done(request, theme_name=data["theme"].name, item=data["item"], created=False)
            messages.success(request, f"“{data['theme'].name}” now counts as demand for “{data['item'].title}”.")
        fallback = reverse("backlog_item_detail", args=[data["item"].pk])
    else:
        messages.error(request, "Choose a backlog item and a theme.")
        fallback = reverse("roadmap_board")
    return _back(request, _safe_next(request, fallback))


@require_POST
@page_access(access_backlog_link)
def link_delete(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        link = ThemeLink.objects.select_related("item", "theme").get(pk=pk)
    except ThemeLink.DoesNotExist:
        raise Http404 from None
    form = ThemeUnlinkForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    item_id, name = link.item_id, link.theme.name
    theme_link_delete(link=link, user=request.user, note=note)
    messages.success(request, f"“{name}” no longer counts for this item.")
    return redirect(_safe_next(request, reverse("backlog_item_detail", args=[item_id])))


# --- unaddressed demand -------------------------------------------------------------------------


@require_GET
@page_access(access_backlog_read)
def unaddressed(request: HttpRequest) -> HttpResponse:
    form = PeriodChoiceForm(request.GET)
    period = form.period_chosen()
    result = unaddressed_demand(period=period)
    can_act = can(request.user, access_backlog_edit) and can(request.user, access_backlog_link)
    return render(request, "roadmap/unaddressed.html", {
        "form": form, "period": period, "period_label": _period_label(period),
        "previous_label": _period_label(period.previous()), "result": result, "can_act": can_act,
        "open_items": list(backlog_items_open()) if can_act else [],
        "theme_query": _period_query(period),
    })
