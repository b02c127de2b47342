"""Pages of the ticket store."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from insights.access import access_themes_curate
from insights.forms import active_themes
from roadmap.access import access_escalations_work
from tickets.access import access_sources_manage, access_tickets_import, access_tickets_read, can, page_access
from tickets.connectors.base import ConnectorError
from tickets.connectors.registry import MODULES as CONNECTOR_MODULES
from tickets.connectors.registry import connector_for
from tickets.crypto import SecretsUnreadable
from tickets.exports import csv_response
from tickets.filters import TicketFilter
from tickets.forms import (
    ImportUploadForm,
    SourceForm,
    UploadLimitHandler,
    upload_declared_too_large,
    upload_limit_install,
    upload_too_large_message,
)
from tickets.models import Source, SourceKind, SyncRun, SyncTrigger, Ticket
from tickets.selectors import (
    WEBHOOK_SECRET_KEY,
    import_run_detail,
    import_runs_recent,
    source_detail,
    source_is_syncable,
    source_kinds_addable,
    source_rows,
    source_run_detail,
    source_run_latest_id,
    source_runs,
    source_secret_keys_saved,
    source_sync_run_live,
    source_sync_run_watched,
    store_overview,
    ticket_list,
    ticket_list_flagged,
    ticket_page,
)
from tickets.services import (
    SourceDisabled,
    file_import_upload,
    source_configure,
    source_get_or_create,
    source_sync_queue,
    source_test_connection,
    source_webhook_secret_rotate,
)

TICKETS_PER_PAGE = 50


@page_access(access_tickets_read)
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/home.html", store_overview())


@page_access(access_tickets_read)
def tickets(request: HttpRequest) -> HttpResponse:
    filterset = TicketFilter(request.GET, queryset=ticket_list())
    page = Paginator(ticket_list_flagged(filterset.qs), TICKETS_PER_PAGE).get_page(request.GET.get("page"))
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


@csrf_exempt  # the CSRF check reads the body: _import_upload_page makes it, once the upload limit is in place
@page_access(access_tickets_import)
def import_upload(request: HttpRequest) -> HttpResponse:
    """The upload page. A file over THREADLINE_MAX_UPLOAD_BYTES is refused with 413: at once when
    the Content-Length says so, or as soon as that many bytes of it have arrived."""
    if request.method != "POST":
        return _import_upload_page(request, limit=None)
    if upload_declared_too_large(request):
        return _import_upload_refused(request, "This request is too large")
    return _import_upload_page(request, limit=upload_limit_install(request))


def _import_upload_refused(request: HttpRequest, what: str) -> HttpResponse:
    messages.error(request, upload_too_large_message(what))
    return _import_upload_render(request, ImportUploadForm(), status=413)


@csrf_protect
def _import_upload_page(request: HttpRequest, *, limit: UploadLimitHandler | None) -> HttpResponse:
    form = ImportUploadForm(request.POST, request.FILES) if request.method == "POST" else ImportUploadForm()
    if limit is not None and limit.exceeded:  # request.FILES has been read: the handler has seen the file
        return _import_upload_refused(request, "This file is larger than that")
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
    return _import_upload_render(request, form)


def _import_upload_render(request: HttpRequest, form: ImportUploadForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "tickets/import_upload.html",
        {"form": form, "runs": import_runs_recent(), "max_upload_bytes": settings.THREADLINE_MAX_UPLOAD_BYTES},
        status=status,
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
    # File imports report the line a row starts on; API and webhook runs the item's index.
    position = "line" if sync_run.file_path else "index"
    return csv_response(
        filename=f"import-{sync_run.pk}-rejected-rows.csv",
        header=[position, "external_id", "reason"],
        rows=([e.get(position), e.get("external_id"), e.get("reason")] for e in sync_run.errors),
    )


def _import_run_or_404(pk: int) -> SyncRun:
    try:
        return import_run_detail(sync_run_id=pk)
    except SyncRun.DoesNotExist:
        raise Http404 from None


# --- Sources --------------------------------------------------------------------------------------

RUNS_PER_PAGE = 20
RUN_ERRORS_SHOWN = 100
# source_configure merges into the stored secrets, so it cannot replace them once they are unreadable.
CREDENTIALS_UNREADABLE = (
    "The saved credentials cannot be decrypted with the configured keys: ask the operator to put the key "
    "they were encrypted with back into THREADLINE_ENCRYPTION_KEYS."
)


@page_access(access_sources_manage)
def source_list(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/source_list.html", {"rows": source_rows(), "kinds": source_kinds_addable()})


@page_access(access_sources_manage)
def source_new(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    if kind not in dict(source_kinds_addable()):
        messages.error(request, "Choose the kind of source to add.")
        return redirect("source_list")
    return _source_form(request, kind=kind, source=None)


@page_access(access_sources_manage)
def source_edit(request: HttpRequest, pk: int) -> HttpResponse:
    source = _source_or_404(pk)
    return _source_form(request, kind=source.kind, source=source)


def _source_form(request: HttpRequest, *, kind: str, source: Source | None) -> HttpResponse:
    fields = connector_for(kind).fields if kind in CONNECTOR_MODULES else ()
    saved = (source_secret_keys_saved(source=source) if source is not None else None) or set()
    data = request.POST if request.method == "POST" else None
    form = SourceForm(data, connector_fields=fields, source=source, saved_secrets=saved)
    if form.is_valid():
        try:
            configured, created = source_configure(
                name=form.cleaned_data["name"],
                kind=kind,
                settings_update=form.settings_update(),
                secrets_update=form.secrets_update(),
                sync_interval_minutes=(form.cleaned_data.get("sync_every") or 0) if fields else None,
                enabled=form.cleaned_data["enabled"],
            )
        except SecretsUnreadable:
            form.add_error(None, CREDENTIALS_UNREADABLE)
        else:
            messages.success(request, f"Source “{configured.name}” {'added' if created else 'saved'}.")
            return redirect("source_detail", pk=configured.pk)
    return render(request, "tickets/source_form.html", {
        "form": form, "source": source, "kind": kind, "kind_label": SourceKind(kind).label,
    })


@page_access(access_sources_manage)
def source_detail_page(request: HttpRequest, pk: int) -> HttpResponse:
    source = _source_or_404(pk)
    return render(request, "tickets/source_detail.html", _source_page_context(request, source))


def _source_page_context(request: HttpRequest, source: Source, **extra: Any) -> dict[str, Any]:
    syncable = source_is_syncable(source=source)
    readable = source_secret_keys_saved(source=source)
    saved = readable or set()
    after = request.GET.get("after", "")
    live = None
    watching = syncable and after.isdigit()
    if syncable and not watching:
        live = source_sync_run_live(source=source)
    connector_fields = connector_for(source.kind).fields if syncable else ()
    settings_shown = [
        (f.label, "saved" if f.key in saved else "not set") if f.secret else (f.label, source.settings.get(f.key, ""))
        for f in connector_fields
    ]
    webhook_url = ""
    if source.kind == SourceKind.WEBHOOK:
        webhook_url = request.build_absolute_uri(reverse("api-webhook", args=[source.name]))
    return {
        "source": source,
        "syncable": syncable,
        "settings_shown": settings_shown,
        "runs": _runs_page(source, request.GET.get("page")),
        "watch_after": int(after) if watching else None,
        "live_run": live,
        "webhook_url": webhook_url,
        "webhook_secret_saved": WEBHOOK_SECRET_KEY in saved,
        "credentials_unreadable": CREDENTIALS_UNREADABLE if readable is None else "",
        **extra,
    }


@page_access(access_sources_manage)
@require_POST
def source_test(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx: check the source's credentials and answer with what the help desk said."""
    source = _source_or_404(pk)
    try:
        found, ok = source_test_connection(source=source), True
    except ConnectorError as exc:
        found, ok = str(exc), False
    except SecretsUnreadable:
        found, ok = CREDENTIALS_UNREADABLE, False
    return render(request, "tickets/source_test_result.html", {"ok": ok, "found": found})


@page_access(access_sources_manage)
@require_POST
def source_sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a sync (``full=1``: from the beginning) and follow it on the source page."""
    source = _source_or_404(pk)
    full = request.POST.get("full") == "1"
    after = source_run_latest_id(source=source)
    try:
        source_sync_queue(source=source, full=full, trigger=SyncTrigger.MANUAL, started_by=request.user)
    except ConnectorError as exc:
        messages.error(request, str(exc))
        return redirect("source_detail", pk=source.pk)
    except SourceDisabled:
        messages.error(request, "This source is disabled; enable it to sync.")
        return redirect("source_detail", pk=source.pk)
    messages.success(request, "Full resync queued." if full else "Sync queued.")
    return redirect(f"{reverse('source_detail', args=[source.pk])}?after={after}")


@page_access(access_sources_manage)
def source_sync_status(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx: the sync a "Sync now" started (``after``: the newest run id before it), or that it still waits."""
    source = _source_or_404(pk)
    after = request.GET.get("after", "0")
    run = source_sync_run_watched(source=source, after=int(after) if after.isdigit() else 0)
    return _sync_run_status(request, source, run, waiting_after=after)


@page_access(access_sources_manage)
def source_run(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    """A run of the source with its errors; htmx polls the same URL for the status partial while it runs."""
    source = _source_or_404(pk)
    try:
        run = source_run_detail(source_id=source.pk, sync_run_id=run_pk)
    except SyncRun.DoesNotExist:
        raise Http404 from None
    if request.headers.get("HX-Request") == "true":
        return _sync_run_status(request, source, run)
    run.duration_text = duration_text(run)  # type: ignore[attr-defined]
    response = render(request, "tickets/source_run.html", {
        "source": source, "run": run, "errors": run.errors[:RUN_ERRORS_SHOWN],
    })
    patch_vary_headers(response, ["HX-Request"])
    return response


def _sync_run_status(
    request: HttpRequest, source: Source, run: SyncRun | None, waiting_after: str = ""
) -> HttpResponse:
    response = render(request, "tickets/_sync_run_status.html", {
        "source": source, "run": run, "waiting_after": waiting_after,
    })
    if run is not None and run.is_finished:
        # The source page reloads its run history when the run it follows is done.
        response["HX-Trigger"] = "sync-finished"
    patch_vary_headers(response, ["HX-Request"])
    return response


@page_access(access_sources_manage)
def source_history(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx: the run history table (reloaded when a followed sync finishes)."""
    source = _source_or_404(pk)
    runs = _runs_page(source, request.GET.get("page"))
    return render(request, "tickets/source_history.html", {"source": source, "runs": runs})


@page_access(access_sources_manage)
@require_POST
def source_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    source = _source_or_404(pk)
    enable = request.POST.get("enabled") == "1"
    try:
        source_configure(name=source.name, kind=source.kind, settings_update={}, secrets_update={}, enabled=enable)
    except SecretsUnreadable:
        messages.error(request, CREDENTIALS_UNREADABLE)
    else:
        messages.success(request, f"Source “{source.name}” {'enabled' if enable else 'disabled'}.")
    return redirect("source_detail", pk=source.pk)


@page_access(access_sources_manage)
@require_POST
def source_webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """Create a new webhook secret and show it once, on this response only (never stored in clear)."""
    source = _source_or_404(pk)
    if source.kind != SourceKind.WEBHOOK:
        raise Http404
    try:
        secret = source_webhook_secret_rotate(source=source)
    except SecretsUnreadable:
        messages.error(request, CREDENTIALS_UNREADABLE)
        return redirect("source_detail", pk=source.pk)
    context = _source_page_context(request, source, new_webhook_secret=secret)
    response = render(request, "tickets/source_detail.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _runs_page(source: Source, number: str | None) -> Page:
    page = Paginator(source_runs(source=source), RUNS_PER_PAGE).get_page(number)
    page.object_list = list(page.object_list)
    for run in page.object_list:
        run.duration_text = duration_text(run)  # type: ignore[attr-defined]
    return page


def duration_text(run: SyncRun) -> str:
    """How long a finished run took, e.g. "0.4 s", "3 min 5 s", "2 h 10 min"; "" while it runs."""
    if run.started_at is None or run.finished_at is None:
        return ""
    seconds = (run.finished_at - run.started_at).total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _source_or_404(pk: int) -> Source:
    try:
        return source_detail(source_id=pk)
    except Source.DoesNotExist:
        raise Http404 from None
