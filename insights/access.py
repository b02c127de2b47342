"""Who may see and curate themes. Roles and their permissions are defined in ``tickets.access``."""

from __future__ import annotations

from tickets.access import AnyUser, require_permission


def access_themes_read(user: AnyUser) -> None:
    """Themes, their statistics and the tickets behind them."""
    require_permission(user, "insights.view_theme")


def access_themes_curate(user: AnyUser) -> None:
    """Tagging tickets and creating, renaming, merging, splitting, accepting and archiving themes."""
    require_permission(user, "insights.curate_theme")
