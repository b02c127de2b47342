"""Reads of the ticket store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Count, QuerySet

from tickets.crypto import secrets_decrypt
from tickets.models import Source, SyncRun, Ticket

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
    analysis = TicketAnalysis.objects.filter(ticket=ticket).select_related("best_theme").defer("vector").first()
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
