"""The support lead's pages: the triage queue and the themes discovery suggests.

Every action is a POST that calls one curation service (``insights.services``: each records who
did what in ``ThemeChange``, marks statistics for rebuild and counts as a correction for the next
training) and answers htmx with the changed row or card; a plain form post is redirected back.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from insights.access import access_themes_curate
from insights.forms import (
    ThemeMergeForm,
    ThemeNewForm,
    ThemePickForm,
    ThemeRenameForm,
    ThemeSplitForm,
    TicketThemesForm,
    active_themes,
)
from insights.models import (
    DiscoveryPhase,
    DiscoveryRun,
    DiscoveryRunStatus,
    Theme,
    ThemeStatus,
    TicketAnalysis,
    TicketTheme,
)
from insights.selectors import (
    active_granular_themes,
    corrections_since_training,
    discovery_is_running,
    discovery_latest,
    suggested_themes_queryset,
    suggestions,
    triage_guesses,
    triage_item,
    triage_queue,
)
from insights.services import (
    ThemeActionError,
    discovery_run_queue,
    theme_accept,
    theme_create,
    theme_dismiss,
    theme_merge,
    theme_rename,
    theme_split,
    ticket_no_request_mark,
    ticket_no_request_undo,
    ticket_retag,
)
from tickets.access import page_access
from tickets.models import Ticket

logger = logging.getLogger(__name__)

TRIAGE_PER_PAGE = 20
SUGGESTIONS_PER_PAGE = 12
SPLIT_CANDIDATES = 40
TRIAGE_ORDERS = {"newest": "Newest first", "affected": "Most affected first"}


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _back(request: HttpRequest, fallback: str) -> str:
    """Where a plain form post returns: its ``next`` when that stays on this site, else ``fallback``."""
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure())
    return target if target and safe else fallback


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- triage ---------------------------------------------------------------------------------------------


@require_GET
@page_access(access_themes_curate)
def triage(request: HttpRequest) -> HttpResponse:
    order = request.GET.get("order", "newest")
    order = order if order in TRIAGE_ORDERS else "newest"
    page = Paginator(triage_queue(order=order), TRIAGE_PER_PAGE).get_page(request.GET.get("page"))
    corrections, model = corrections_since_training()
    guesses = triage_guesses(list(page.object_list))
    return render(request, "insights/triage.html", {
        "page": page, "rows": [(item, guesses.get(item.ticket_id, [])) for item in page.object_list],
        "order": order, "orders": TRIAGE_ORDERS, "query": f"order={order}",
        "corrections": corrections, "model": model,
    })


@require_GET
@page_access(access_themes_curate)
def triage_row(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    """One row of the queue in a mode: ``view`` (default), ``pick`` (another theme) or ``new``."""
    mode = request.GET.get("mode", "view")
    context = _row_context(ticket_pk, mode=mode if mode in {"view", "pick", "new"} else "view")
    return _render(request, "insights/_triage_row.html", context)


@require_POST
@page_access(access_themes_curate)
def triage_file(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    """File the ticket under one active theme: the suggested one (confirm) or another (retag)."""
    item = _item_or_404(ticket_pk)
    form = ThemePickForm(request.POST)
    error = _first_error(form)
    if not error:
        try:
            ticket_retag(ticket=item.ticket, themes=[form.cleaned_data["theme"]], user=request.user)
        except ThemeActionError as exc:
            error = str(exc)
    return _row_after(request, ticket_pk, filed=None if error else form.cleaned_data["theme"], error=error)


@require_POST
@page_access(access_themes_curate)
def triage_new_theme(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    """Create a theme for a ticket nothing fits, and file the ticket under it."""
    item = _item_or_404(ticket_pk)
    form = ThemeNewForm(request.POST)
    error = _first_error(form)
    theme = None
    if not error:
        try:
            with transaction.atomic():
                theme = theme_create(name=form.cleaned_data["name"], user=request.user)
                ticket_retag(ticket=item.ticket, themes=[theme], user=request.user)
        except ThemeActionError as exc:
            error, theme = str(exc), None
    return _row_after(request, ticket_pk, filed=theme, error=error, mode="view" if theme else "new")


def _row_after(
    request: HttpRequest, ticket_pk: int, *, filed: Theme | None, error: str, mode: str = "pick"
) -> HttpResponse:
    if not _is_htmx(request):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"Filed under {filed}.")
        return redirect(_back(request, reverse("triage")))
    context = _row_context(ticket_pk, mode="done" if filed else mode)
    context.update(filed=filed, error=error)
    return _render(request, "insights/_triage_row.html", context, status=200)


def _row_context(ticket_pk: int, *, mode: str) -> dict[str, Any]:
    item = _item_or_404(ticket_pk)
    guesses = triage_guesses([item]).get(ticket_pk, []) if mode == "view" else []
    context: dict[str, Any] = {"item": item, "guesses": guesses, "mode": mode}
    if mode == "pick":
        context["themes"] = active_themes().only("pk", "name")
    return context


def _item_or_404(ticket_pk: int) -> TicketAnalysis:
    try:
        return triage_item(ticket_id=ticket_pk)
    except TicketAnalysis.DoesNotExist:
        raise Http404 from None


def _first_error(form: Any) -> str:
    if form.is_valid():
        return ""
    return next(iter(error for errors in form.errors.values() for error in errors), "Check the form.")


@require_POST
@page_access(access_themes_curate)
def ticket_themes_set(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    """The ticket page's retag: exactly the chosen themes (none: "no theme fits"), then back to it."""
    item = _item_or_404(ticket_pk)
    form = TicketThemesForm(request.POST)
    if form.is_valid():
        themes = list(form.cleaned_data["themes"])
        try:
            ticket_retag(ticket=item.ticket, themes=themes, user=request.user)
        except ThemeActionError as exc:
            messages.error(request, str(exc))
        else:
            names = ", ".join(theme.name for theme in themes) or "no theme"
            messages.success(request, f"Themes set to {names}. The model learns from this at its next training.")
    else:
        messages.error(request, "Pick themes from the list (only active themes can be assigned).")
    return redirect("ticket_detail", pk=ticket_pk)


@require_POST
@page_access(access_themes_curate)
def no_request_mark(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    """Mark the ticket as no request (the customer asked nothing): out of its themes and the queue."""
    return _no_request_answer(request, ticket_pk, ticket_no_request_mark, done="no_request")


@require_POST
@page_access(access_themes_curate)
def no_request_undo(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    """Undo: the customer did ask something; the ticket goes back to the queue and the model."""
    return _no_request_answer(request, ticket_pk, ticket_no_request_undo, done="view")


def _no_request_answer(request: HttpRequest, ticket_pk: int, act: Any, *, done: str) -> HttpResponse:
    """Run ``act`` on the ticket; answer the triage queue (``from=triage``, htmx) with its row, and
    anything else (the ticket page, htmx or not) with a redirect back to the ticket page."""
    try:
        ticket = Ticket.objects.get(pk=ticket_pk)
    except Ticket.DoesNotExist:
        raise Http404 from None
    error = ""
    try:
        act(ticket=ticket, user=request.user)
    except ThemeActionError as exc:
        error = str(exc)
    if request.POST.get("from") == "triage" and _is_htmx(request):
        context = _row_context(ticket_pk, mode=done if not error else "view")
        context["error"] = error
        return _render(request, "insights/_triage_row.html", context)
    if error:
        messages.error(request, error)
    return redirect(_back(request, reverse("ticket_detail", args=[ticket_pk])))


# --- suggested themes ---------------------------------------------------------------------------------


@require_GET
@page_access(access_themes_curate)
def suggested_themes(request: HttpRequest) -> HttpResponse:
    page = Paginator(suggested_themes_queryset(), SUGGESTIONS_PER_PAGE).get_page(request.GET.get("page"))
    run = discovery_latest()
    return render(request, "insights/suggested.html", {
        "page": page, "cards": suggestions(themes=list(page.object_list)), "run": run, "duration": _duration(run),
        "running": discovery_is_running(run), "merge_groups": _report_merge_groups(run),
        "active_count": active_granular_themes().count(),
        "queue_now": triage_queue(order="newest").count(),
    })


def _report_merge_groups(run: DiscoveryRun | None) -> list[list[Theme]]:
    """The run's "these existing themes look like one" groups, still all active."""
    if run is None or run.status != DiscoveryRunStatus.SUCCEEDED:
        return []
    groups = [[int(pk) for pk in group] for group in (run.report or {}).get("merge", [])]
    themes = Theme.objects.filter(status=ThemeStatus.ACTIVE).in_bulk([pk for group in groups for pk in group])
    return [[themes[pk] for pk in group] for group in groups if all(pk in themes for pk in group)]


def _suggestion_or_404(pk: int) -> Theme:
    try:
        return suggested_themes_queryset_any().get(pk=pk)
    except Theme.DoesNotExist:
        raise Http404 from None


def suggested_themes_queryset_any() -> QuerySet[Theme]:
    """A suggestion's card also after an action changed its status (accepted, merged, …)."""
    return Theme.objects.select_related("parent", "discovery_run", "merged_into").annotate(
        member_count=Count("ticket_themes")
    )


def _card(request: HttpRequest, pk: int, *, error: str = "", outcome: str = "", mode: str = "view",
          extra: dict[str, Any] | None = None) -> HttpResponse:
    theme = _suggestion_or_404(pk)
    (card,) = suggestions(themes=[theme])
    context = {"card": card, "error": error, "outcome": outcome, "mode": mode, **(extra or {})}
    if mode == "merge" or (error and mode == "view"):
        context["themes"] = active_themes().only("pk", "name")
    return _render(request, "insights/_suggested_card.html", context)


def _card_after(request: HttpRequest, pk: int, *, error: str, outcome: str, mode: str) -> HttpResponse:
    if not _is_htmx(request):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, outcome)
        return redirect("suggested_themes")
    if error:
        return _card(request, pk, error=error, mode=mode, extra=_mode_extra(pk, mode))
    return _card(request, pk, outcome=outcome)


def _mode_extra(pk: int, mode: str) -> dict[str, Any]:
    if mode == "merge":
        return {"themes": active_themes().only("pk", "name")}
    if mode == "split":
        return {"members": _split_candidates(pk)}
    return {}


def _split_candidates(pk: int) -> list[TicketTheme]:
    return list(
        TicketTheme.objects.filter(theme_id=pk).select_related("ticket").order_by("-confidence", "ticket_id")[
            :SPLIT_CANDIDATES
        ]
    )


@require_GET
@page_access(access_themes_curate)
def suggested_card(request: HttpRequest, pk: int) -> HttpResponse:
    """One card in a mode: ``view``, ``rename``, ``merge`` or ``split`` (the forms open in place)."""
    mode = request.GET.get("mode", "view")
    mode = mode if mode in {"view", "rename", "merge", "split"} else "view"
    return _card(request, pk, mode=mode, extra=_mode_extra(pk, mode))


def _suggestion_action(request: HttpRequest, pk: int, mode: str, act: Any) -> HttpResponse:
    """Run ``act(theme)`` (returns the outcome message) and answer with the card."""
    theme = _suggestion_or_404(pk)
    try:
        outcome = act(theme)
    except ThemeActionError as exc:
        return _card_after(request, pk, error=str(exc), outcome="", mode=mode)
    return _card_after(request, pk, error="", outcome=outcome, mode=mode)


@require_POST
@page_access(access_themes_curate)
def suggested_accept(request: HttpRequest, pk: int) -> HttpResponse:
    name = request.POST.get("name", "").strip() or None

    def act(theme: Theme) -> str:
        accepted = theme_accept(theme=theme, user=request.user, name=name)
        return f"Accepted “{accepted.name}”: its tickets count on the dashboards from now on."

    return _suggestion_action(request, pk, "view", act)


@require_POST
@page_access(access_themes_curate)
def suggested_rename(request: HttpRequest, pk: int) -> HttpResponse:
    form = ThemeRenameForm(request.POST)

    def act(theme: Theme) -> str:
        if not form.is_valid():
            raise ThemeActionError(_first_error(form))
        before = theme.name
        renamed = theme_rename(theme=theme, name=form.cleaned_data["name"], user=request.user)
        return f"Renamed “{before}” to “{renamed.name}”. It is still a suggestion: accept it when it reads right."

    return _suggestion_action(request, pk, "rename", act)


@require_POST
@page_access(access_themes_curate)
def suggested_merge(request: HttpRequest, pk: int) -> HttpResponse:
    form = ThemeMergeForm(request.POST)

    def act(theme: Theme) -> str:
        if not form.is_valid():
            raise ThemeActionError(_first_error(form))
        if theme.status != ThemeStatus.SUGGESTED:
            raise ThemeActionError(f"“{theme.name}” is no longer a suggestion")
        into = theme_merge(themes=[theme], into=form.cleaned_data["into"], user=request.user)
        return f"Merged into “{into.name}”: its tickets count there now."

    return _suggestion_action(request, pk, "merge", act)


@require_POST
@page_access(access_themes_curate)
def suggested_split(request: HttpRequest, pk: int) -> HttpResponse:
    members = [row.ticket_id for row in _split_candidates(pk)]
    form = ThemeSplitForm(request.POST, ticket_ids=members)

    def act(theme: Theme) -> str:
        if not form.is_valid():
            raise ThemeActionError(_first_error(form))
        if theme.status != ThemeStatus.SUGGESTED:
            raise ThemeActionError(f"“{theme.name}” is no longer a suggestion")
        (part,) = theme_split(
            theme=theme, parts={form.cleaned_data["name"]: form.cleaned_data["tickets"]}, user=request.user
        )
        moved = len(form.cleaned_data["tickets"])
        return f"Split off “{part.name}” ({moved} ticket{'s' if moved != 1 else ''}) as an active theme."

    return _suggestion_action(request, pk, "split", act)


@require_POST
@page_access(access_themes_curate)
def suggested_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    def act(theme: Theme) -> str:
        theme_dismiss(theme=theme, user=request.user)
        return f"Dismissed “{theme.name}”: its tickets are back in the triage pool."

    return _suggestion_action(request, pk, "view", act)


@require_POST
@page_access(access_themes_curate)
def themes_merge_group(request: HttpRequest) -> HttpResponse:
    """Merge a group of active themes discovery found to be one problem into the chosen one."""
    ids = [int(pk) for pk in request.POST.getlist("themes") if pk.isdigit()]
    form = ThemeMergeForm(request.POST)
    if form.is_valid():
        themes = list(Theme.objects.filter(pk__in=ids, status=ThemeStatus.ACTIVE))
        try:
            into = theme_merge(themes=themes, into=form.cleaned_data["into"], user=request.user)
        except ThemeActionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Merged {len(themes) - 1} theme(s) into “{into.name}”.")
    else:
        messages.error(request, _first_error(form))
    return redirect("suggested_themes")


# --- discovery ------------------------------------------------------------------------------------------


@require_POST
@page_access(access_themes_curate)
def discovery_start(request: HttpRequest) -> HttpResponse:
    """Queue a discovery run unless one is already going; answer with its status partial.

    With tasks inline (the embedded run) the run happens within this request. Should it fail,
    ``discovery_run`` has recorded the failure on the run before re-raising, and the status
    partial shows it: the click must not become a server error page.
    """
    if not discovery_is_running(discovery_latest()):
        try:
            discovery_run_queue()
        except Exception:  # the run row records the failure; the partial below shows it
            logger.exception("discovery started from the Suggested themes page failed")
    return _discovery_status(request, watching=True)


@require_GET
@page_access(access_themes_curate)
def discovery_status(request: HttpRequest) -> HttpResponse:
    """The status partial htmx polls while a run is queued or running."""
    return _discovery_status(request, watching=request.GET.get("watching") == "1")


def _duration(run: DiscoveryRun | None) -> str:
    """How long the run took, or has been running: "42 s", "3 min", "1 h 5 min"."""
    if run is None:
        return ""
    seconds = int(((run.finished_at or timezone.now()) - run.started_at).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 1)} s"
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _discovery_status(request: HttpRequest, *, watching: bool) -> HttpResponse:
    run = discovery_latest()
    running = discovery_is_running(run)
    # The page was following a run that has now ended: it reloads its list of suggestions.
    finished_now = watching and not running
    response = _render(request, "insights/_suggested_discovery.html", {
        "run": run, "running": running, "queued": running and run is not None and run.phase == DiscoveryPhase.QUEUED,
        "finished_now": finished_now, "duration": _duration(run), "queue_now": triage_queue(order="newest").count(),
    })
    if finished_now:
        response["HX-Trigger"] = "discovery-finished"
    return response


# --- the themes list: rename in place -----------------------------------------------------------------


@page_access(access_themes_curate)
def theme_name(request: HttpRequest, pk: int) -> HttpResponse:
    """An active theme's name cell on the themes list: GET ``?mode=edit`` opens the form in place,
    GET shows the cell, POST renames it (``theme_rename``, audited) and shows the renamed cell; a
    plain form post goes back to the list."""
    theme = Theme.objects.filter(pk=pk, status=ThemeStatus.ACTIVE).first()
    if theme is None:
        raise Http404
    context: dict[str, Any] = {"theme": theme, "mode": "edit" if request.GET.get("mode") == "edit" else "view",
                               "can_curate": True}
    if request.method == "POST":
        form = ThemeRenameForm(request.POST)
        error = _first_error(form)
        before = theme.name
        if not error:
            try:
                theme_rename(theme=theme, name=form.cleaned_data["name"], user=request.user)
            except ThemeActionError as exc:
                error = str(exc)
        if not _is_htmx(request):
            if error:
                messages.error(request, error)
            else:
                messages.success(request, f"Renamed “{before}” to “{theme.name}”.")
            return redirect(_back(request, reverse("theme_list")))
        context.update(mode="edit" if error else "view", error=error, value=request.POST.get("name", ""),
                       renamed_from="" if error else before)
    elif request.method != "GET":
        return HttpResponse(status=405)
    return _render(request, "insights/_theme_name_cell.html", context)
