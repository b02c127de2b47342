"""Pages of the ticket store."""

from __future__ import annotations

import csv

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers

from insights.access import access_themes_curate
from insights.forms import active_themes
from roadmap.access import access_escalations_work
from tickets.access import access_tickets_import, access_tickets_read, can, page_access
from tickets.exports import spreadsheet_safe
from tickets.filters import TicketFilter
from tickets.forms import ImportUploadForm
from tickets.models import SyncRun, SyncTrigger, Ticket
from tickets.selectors import import_run_detail, import_runs_recent, store_overview, ticket_list, ticket_page
from tickets.services import SourceDisabled, file_import_upload, source_get_or_create

TICKETS_PER_PAGE = 50


@page_access(access_tickets_read)
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/home.html", store_overview())


@page_access(access_tickets_read)
def tickets(request: HttpRequest) -> HttpResponse:
    filterset = TicketFilter(request.GET, queryset=ticket_list())
    page = Paginator(filterset.qs, TICKETS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "tickets/ticket_list.html",
        {"filter": filterset, "page": page, "query": query.urlencode(), "filtered": bool(query)},
    )


@page_access(access_tickets_read)
def ticket(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        found = ticket_page(ticket_id=pk)
    except Ticket.DoesNotExist:
        raise Http404 from None
    can_curate = can(request.user, access_themes_curate)
    return render(request, "tickets/ticket_detail.html", {
        "ticket": found.ticket, "themes": found.themes, "analysis": found.analysis,
        "escalations": found.escalations, "can_curate": can_curate,
        "can_escalate": can(request.user, access_escalations_work),
        "all_themes": active_themes().only("pk", "name") if can_curate else [],
        "current_theme_ids": {row.theme_id for row, _ in found.themes},
    })


# --- File imports ---------------------------------------------------------------------------------

IMPORT_ERRORS_SHOWN = 100


@page_access(access_tickets_import)
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST, request.FILES) if request.method == "POST" else ImportUploadForm()
    if form.is_valid():
        source = form.cleaned_data["source"] or source_get_or_create(name=form.cleaned_data["new_source"])
        try:
            sync_run = file_import_upload(
                source=source, upload=form.cleaned_data["file"], trigger=SyncTrigger.UPLOAD, started_by=request.user
            )
        except SourceDisabled as exc:
            form.add_error("source", str(exc))
        else:
            return redirect("import_run", pk=sync_run.pk)
    return render(
        request,
        "tickets/import_upload.html",
        {"form": form, "runs": import_runs_recent(), "max_upload_bytes": settings.THREADLINE_MAX_UPLOAD_BYTES},
    )


@page_access(access_tickets_import)
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    """The run page; htmx polls the same URL for the status partial until the run is finished."""
    sync_run = _import_run_or_404(pk)
    partial = request.headers.get("HX-Request") == "true"
    response = render(
        request,
        "tickets/_import_run_status.html" if partial else "tickets/import_run.html",
        {"run": sync_run, "errors": sync_run.errors[:IMPORT_ERRORS_SHOWN]},
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@page_access(access_tickets_import)
def import_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    sync_run = _import_run_or_404(pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{sync_run.pk}-rejected-rows.csv"'
    response.write("\ufeff")  # lets Excel recognise UTF-8
    writer = csv.writer(response)
    # File imports report the line a row starts on; API and webhook runs the item's index.
    position = "line" if sync_run.file_path else "index"
    writer.writerow([position, "external_id", "reason"])
    for error in sync_run.errors:
        external_id, reason = error.get("external_id") or "", error.get("reason", "")
        writer.writerow([error.get(position, ""), spreadsheet_safe(external_id), spreadsheet_safe(reason)])
    return response


def _import_run_or_404(pk: int) -> SyncRun:
    try:
        return import_run_detail(sync_run_id=pk)
    except SyncRun.DoesNotExist:
        raise Http404 from None
