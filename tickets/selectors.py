"""Reads of the ticket store."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from tickets.models import Source, SyncRun, Ticket


def store_overview() -> dict[str, Any]:
    """Headline numbers for the home page."""
    return {
        "tickets": Ticket.objects.count(),
        "sources": Source.objects.annotate(ticket_count=Count("tickets")).order_by("name"),
        "recent_runs": SyncRun.objects.select_related("source", "started_by")[:5],
    }
