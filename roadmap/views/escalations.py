"""Escalation pages: the list both roles work from, one escalation with its history, and the
POST-only endpoints that raise, update and link escalations (htmx swaps their partials)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from roadmap.access import access_escalations_link, access_escalations_read, access_escalations_work
from roadmap.forms import (
    STATUS_FILTERS,
    EscalationFilterForm,
    EscalationLinkForm,
    EscalationRaiseForm,
    EscalationUpdateForm,
)
from roadmap.models import Escalation
from roadmap.selectors import escalation_detail, escalation_list, escalation_status_counts
from roadmap.services import EscalationError, escalation_link, escalation_raise, escalation_update
from tickets.access import can, page_access

ESCALATIONS_PER_PAGE = 25


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@require_GET
@page_access(access_escalations_read)
def escalations(request: HttpRequest) -> HttpResponse:
    form = EscalationFilterForm(request.GET)
    filters = form.filters(request.GET)
    page = Paginator(escalation_list(**filters), ESCALATIONS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    status_query = query.copy()
    status_query.pop("status", None)
    counts = escalation_status_counts()
    return render(request, "roadmap/escalation_list.html", {
        "form": form, "page": page, "query": query.urlencode(), "status_query": status_query.urlencode(),
        "status": filters["status"],
        "tabs": [(value, label, counts[value or "all"]) for value, label in STATUS_FILTERS],
        "total": counts["all"],
        "narrowed": any(filters[key] for key in ("severity", "subject", "raised_by", "linked")),
    })


@require_GET
@page_access(access_escalations_read)
def escalation(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "roadmap/escalation_detail.html", _detail_context(request, _escalation_or_404(pk)))


@require_POST
@page_access(access_escalations_work)
def escalation_raise_view(request: HttpRequest) -> HttpResponse:
    """Raise from a ticket page or a theme page: htmx swaps the dialog's form for the outcome."""
    form = EscalationRaiseForm(request.POST)
    raised = None
    if form.is_valid():
        try:
            raised = escalation_raise(
                user=request.user, ticket=form.cleaned_data["ticket"], theme=form.cleaned_data["theme"],
                severity=form.cleaned_data["severity"], note=form.cleaned_data["note"],
            )
        except EscalationError as exc:
            form.add_error(None, str(exc))
    if raised is not None and not _is_htmx(request):
        messages.success(request, "Escalated to product. Everyone working escalations sees it now.")
        return redirect("escalation_detail", pk=raised.pk)
    if raised is not None:
        return render(request, "roadmap/_escalate_done.html", {"escalation": raised})
    status = 200 if _is_htmx(request) else 400
    return render(request, "roadmap/_escalate_form.html", {"form": form}, status=status)


@require_POST
@page_access(access_escalations_work)
def escalation_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    escalation_ = _escalation_or_404(pk)
    form = EscalationUpdateForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            escalation_update(
                escalation=escalation_, user=request.user, status=form.cleaned_data["status"] or None,
                severity=form.cleaned_data["severity"] or None, note=form.cleaned_data["note"],
            )
        except EscalationError as exc:
            error = str(exc)
    else:
        error = "Choose a valid status or severity."
    return _after_change(request, pk, error)


@require_POST
@page_access(access_escalations_link)
def escalation_link_view(request: HttpRequest, pk: int) -> HttpResponse:
    escalation_ = _escalation_or_404(pk)
    form = EscalationLinkForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            escalation_link(
                escalation=escalation_, item=form.cleaned_data["item"], user=request.user,
                note=form.cleaned_data["note"],
            )
        except EscalationError as exc:
            error = str(exc)
    else:
        error = "Choose a backlog item from the list."
    return _after_change(request, pk, error)


def _after_change(request: HttpRequest, pk: int, error: str) -> HttpResponse:
    """htmx gets the escalation's body again (status, actions, history); a plain form post is
    redirected to the page, with the outcome as a message."""
    if not _is_htmx(request):
        if error:
            messages.error(request, error)
        return redirect("escalation_detail", pk=pk)
    context = _detail_context(request, _escalation_or_404(pk))
    context["error"] = error
    response = render(request, "roadmap/_escalation_body.html", context, status=200)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _detail_context(request: HttpRequest, escalation_: Escalation) -> dict[str, object]:
    can_link = can(request.user, access_escalations_link)
    return {
        "escalation": escalation_,
        "can_work": can(request.user, access_escalations_work),
        "can_link": can_link,
        "update_form": EscalationUpdateForm(),
        "link_form": EscalationLinkForm(initial={"item": escalation_.backlog_item_id}) if can_link else None,
    }


def _escalation_or_404(pk: int) -> Escalation:
    try:
        return escalation_detail(escalation_id=pk)
    except Escalation.DoesNotExist:
        raise Http404 from None
