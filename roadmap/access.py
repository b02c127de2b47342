"""Who may see and work escalations and the backlog. Roles and their permissions are in ``tickets.access``."""

from __future__ import annotations

from tickets.access import AnyUser, require_permission


def access_escalations_read(user: AnyUser) -> None:
    """The list of escalations and their history."""
    require_permission(user, "roadmap.view_escalation")


def access_escalations_work(user: AnyUser) -> None:
    """Raising an escalation of a ticket or theme and changing its status, severity or note."""
    require_permission(user, "roadmap.escalate")


def access_backlog_link(user: AnyUser) -> None:
    """Linking themes and escalations to backlog items."""
    require_permission(user, "roadmap.link_backlog")


def access_backlog_read(user: AnyUser) -> None:
    """The roadmap board, backlog items with their demand and ship impact, unaddressed demand."""
    require_permission(user, "roadmap.view_backlogitem")


def access_backlog_edit(user: AnyUser) -> None:
    """Creating backlog items, editing them and moving them through their statuses."""
    require_permission(user, "roadmap.change_backlogitem")


def access_escalations_link(user: AnyUser) -> None:
    """Linking an escalation to the backlog item that will address it: support leads (who raise
    them), product managers and admins."""
    require_permission(user, "roadmap.escalate")
