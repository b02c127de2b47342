"""Reads of the ticket store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from tickets.crypto import SecretsUnreadable, secrets_decrypt
from tickets.models import Source, SourceKind, SyncRun, SyncRunStatus, Ticket

if TYPE_CHECKING:
    from insights.models import TicketAnalysis, TicketTheme
    from insights.selectors import AssignmentReason
    from roadmap.models import Escalation


def store_overview() -> dict[str, Any]:
    """Headline numbers for the home page."""
    return {
        "tickets": Ticket.objects.count(),
        "sources": Source.objects.annotate(ticket_count=Count("tickets")).order_by("name"),
        "recent_runs": SyncRun.objects.select_related("source", "started_by")[:5],
    }


def ticket_list() -> QuerySet[Ticket]:
    """Tickets newest first with what a list row shows, in one query."""
    return Ticket.objects.select_related("source", "requester", "organization").order_by("-created_at", "-id")


def ticket_list_flagged(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """``tickets`` with ``no_request`` (the customer asked nothing) read in the same query, through
    the small index of flagged analyses; a subquery, not a join, so that counting the list is not
    slowed by it (an unused subquery is left out of ``count()``)."""
    from insights.models import TicketAnalysis

    return tickets.annotate(
        no_request=Exists(TicketAnalysis.objects.filter(ticket_id=OuterRef("pk"), no_request=True))
    )


def ticket_detail(*, ticket_id: int) -> Ticket:
    """One ticket with its conversation; raises Ticket.DoesNotExist."""
    return (
        Ticket.objects.select_related("source", "requester", "organization")
        .prefetch_related("messages")
        .get(pk=ticket_id)
    )


@dataclass
class TicketPage:
    """A ticket as its page shows it: the conversation, its themes and why, its escalations."""

    ticket: Ticket
    themes: list[tuple[TicketTheme, AssignmentReason]] = field(default_factory=list)
    analysis: TicketAnalysis | None = None
    escalations: list[Escalation] = field(default_factory=list)


def ticket_page(*, ticket_id: int) -> TicketPage:
    """Everything the ticket page shows, in a fixed number of queries; raises Ticket.DoesNotExist.

    Each theme comes with its reason: the terms and the sentence that made the model choose it
    (computed from the model version that assigned it), or who decided it by hand.
    """
    from insights.models import TicketAnalysis, TicketTheme
    from insights.selectors import ticket_theme_reason
    from roadmap.selectors import escalations_of_ticket

    ticket = ticket_detail(ticket_id=ticket_id)
    rows = list(
        TicketTheme.objects.filter(ticket=ticket)
        .select_related("theme", "assigned_by", "model_version")
        .order_by("-confidence", "theme__name")
    )
    analysis = (
        TicketAnalysis.objects.filter(ticket=ticket).select_related("best_theme", "no_request_by")
        .defer("vector").first()
    )
    return TicketPage(
        ticket=ticket,
        themes=[(row, ticket_theme_reason(ticket_theme=row)) for row in rows],
        analysis=analysis,
        escalations=list(escalations_of_ticket(ticket_id=ticket.pk)),
    )


# The key under which a source's webhook secret sits in its encrypted credentials.
WEBHOOK_SECRET_KEY = "webhook_secret"  # noqa: S105 (a dictionary key, not a secret)


def source_get_by_ref(*, ref: str) -> Source | None:
    """The source named ``ref``, else the one whose id is ``ref``; None if neither exists.

    The name wins so that a source named with digits only stays reachable by its name.
    """
    source = Source.objects.filter(name=ref).first()
    if source is None and ref.isascii() and ref.isdigit():
        source = Source.objects.filter(pk=int(ref)).first()
    return source


def source_webhook_secret(*, source: Source) -> str:
    """The source's webhook secret, or "" when none was created."""
    return str(secrets_decrypt(source.credentials_encrypted).get(WEBHOOK_SECRET_KEY, ""))


def import_runs_recent(*, limit: int = 20) -> QuerySet[SyncRun]:
    """The latest file imports, newest first, without their error reports (a list shows counts)."""
    return SyncRun.objects.exclude(file_path="").select_related("source", "started_by").defer("errors")[:limit]


def import_run_detail(*, sync_run_id: int) -> SyncRun:
    """One import with its source and error report; raises SyncRun.DoesNotExist."""
    return SyncRun.objects.select_related("source", "started_by").get(pk=sync_run_id)


# --- Sources (the admin pages) --------------------------------------------------------------------

# Kinds an admin can add from the sources page besides the help-desk connectors.
ADDABLE_PUSH_KINDS = (SourceKind.UPLOAD, SourceKind.WEBHOOK)


def source_kinds_addable() -> list[tuple[str, str]]:
    """(kind, label) of every kind the "Add source" chooser offers: connectors in this build, then push kinds."""
    from tickets.connectors.registry import syncable_kinds

    labels = dict(SourceKind.choices)
    return [(kind, labels[kind]) for kind in [*syncable_kinds(), *ADDABLE_PUSH_KINDS]]


def source_is_syncable(*, source: Source) -> bool:
    """Whether the source is pulled from a help desk's API (so it can be tested and synced)."""
    from tickets.connectors.registry import MODULES

    return source.kind in MODULES


@dataclass
class SourceRow:
    """A row of the sources list: the source, its latest run of any kind, and when it syncs next."""

    source: Source
    last_run: SyncRun | None
    syncable: bool
    # None when there is no schedule (or the source is disabled).
    next_due: datetime | None
    due_now: bool = False


def _connector_run_filter() -> Q:
    from tickets.services.sync import SYNC_TRIGGERS

    return Q(sync_runs__trigger__in=SYNC_TRIGGERS, sync_runs__file_path="")


def source_rows() -> list[SourceRow]:
    """Every source with its ticket count, last run and next scheduled sync, in three queries."""
    from tickets.connectors.registry import MODULES

    latest_run = SyncRun.objects.filter(source=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    ticket_count = (
        Ticket.objects.filter(source=OuterRef("pk")).order_by().values("source").annotate(n=Count("pk")).values("n")
    )
    sources = list(
        Source.objects.annotate(
            last_run_id=Subquery(latest_run),
            last_sync_at=Max("sync_runs__created_at", filter=_connector_run_filter()),
            ticket_count=Coalesce(Subquery(ticket_count), 0),
        ).order_by("name")
    )
    runs = SyncRun.objects.defer("errors").in_bulk([s.last_run_id for s in sources if s.last_run_id])
    now = timezone.now()
    rows = []
    for source in sources:
        syncable = source.kind in MODULES
        next_due = None
        if syncable and source.enabled and source.sync_interval_minutes:
            last = source.last_sync_at
            next_due = now if last is None else last + timedelta(minutes=source.sync_interval_minutes)
        rows.append(
            SourceRow(
                source=source,
                last_run=runs.get(source.last_run_id),
                syncable=syncable,
                next_due=next_due,
                due_now=next_due is not None and next_due <= now,
            )
        )
    return rows


def source_detail(*, source_id: int) -> Source:
    """One source with its ticket count; raises Source.DoesNotExist."""
    return Source.objects.annotate(ticket_count=Count("tickets")).get(pk=source_id)


def source_runs(*, source: Source) -> QuerySet[SyncRun]:
    """The source's runs of every kind, newest first, for a history table (one query per page)."""
    return (
        SyncRun.objects.filter(source=source)
        .select_related("started_by")
        .defer("errors")
        .order_by("-created_at", "-id")
    )


def source_run_detail(*, source_id: int, sync_run_id: int) -> SyncRun:
    """One run of the source with its error report; raises SyncRun.DoesNotExist."""
    return SyncRun.objects.select_related("source", "started_by").get(pk=sync_run_id, source_id=source_id)


def source_run_latest_id(*, source: Source) -> int:
    """The id of the source's newest run (0 when it has none): a "Sync now" watches for runs after it."""
    return SyncRun.objects.filter(source=source).aggregate(latest=Max("pk"))["latest"] or 0


def source_sync_run_watched(*, source: Source, after: int) -> SyncRun | None:
    """The sync a "Sync now" started: the source's first connector sync after run ``after``.

    Until the worker creates it, a sync of the source that is still running (the queued one will
    find it holding the lock) stands in; None while the queued sync waits for a worker.
    """
    from tickets.services.sync import SYNC_TRIGGERS

    runs = SyncRun.objects.filter(source=source, trigger__in=SYNC_TRIGGERS, file_path="").select_related(
        "source", "started_by"
    )
    started = runs.filter(pk__gt=after).order_by("pk").first()
    if started is not None:
        return started
    return runs.filter(status=SyncRunStatus.RUNNING).order_by("-pk").first()


def source_sync_run_live(*, source: Source) -> SyncRun | None:
    """The source's sync that is queued or running now, if any (the source page follows it)."""
    from tickets.services.sync import SYNC_TRIGGERS

    return (
        SyncRun.objects.filter(
            source=source,
            trigger__in=SYNC_TRIGGERS,
            file_path="",
            status__in=[SyncRunStatus.QUEUED, SyncRunStatus.RUNNING],
        )
        .select_related("source", "started_by")
        .order_by("-pk")
        .first()
    )


def source_secret_keys_saved(*, source: Source) -> set[str] | None:
    """Names of the secrets stored for the source (never their values); None if they cannot be decrypted."""
    try:
        return set(secrets_decrypt(source.credentials_encrypted))
    except SecretsUnreadable:
        return None
