"""Reads of the ticket store."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from tickets.models import Source, SyncRun, Ticket


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
