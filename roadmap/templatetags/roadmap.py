"""``{% theme_backlog theme %}``: a theme's backlog items, and linking it or creating an item from it;
``{% backlog_by_theme rows as backlog %}`` and ``{% theme_items backlog theme_id %}``: the items
linked to each theme of a list, read in one query."""

from __future__ import annotations

from typing import Any

from django import template

from insights.models import Theme
from roadmap.access import access_backlog_edit, access_backlog_link
from roadmap.models import ThemeLink
from roadmap.selectors import backlog_items_open
from tickets.access import can

register = template.Library()


@register.inclusion_tag("roadmap/_theme_backlog.html", takes_context=True)
def theme_backlog(context: dict[str, Any], theme: Theme) -> dict[str, Any]:
    """The linked items (two queries; one more for the item chooser of those who may link)."""
    request = context["request"]
    links = list(ThemeLink.objects.filter(theme=theme).select_related("item", "item__owner")
                 .order_by("item__status", "-id"))
    can_link = can(request.user, access_backlog_link)
    linked = {link.item_id for link in links}
    return {
        "request": request, "theme": theme, "backlog_links": links, "can_link": can_link,
        "can_create": can_link and can(request.user, access_backlog_edit),
        "csrf_token": context.get("csrf_token"),
        "choices": [item for item in backlog_items_open() if item.pk not in linked] if can_link else [],
        "can_read": request.user.has_perm("roadmap.view_backlogitem"),
    }


@register.simple_tag(takes_context=True)
def backlog_by_theme(context: dict[str, Any], rows: Any) -> dict[int, list[Any]]:
    """Theme id → its linked backlog items (open first), for the themes of ``rows`` (objects with a
    ``theme``); empty for a user who may not read the backlog."""
    if not context["request"].user.has_perm("roadmap.view_backlogitem"):
        return {}
    links = ThemeLink.objects.filter(theme_id__in=[row.theme.pk for row in rows]).select_related("item").order_by(
        "item__status", "item__title")
    items: dict[int, list[Any]] = {}
    for link in links:
        items.setdefault(link.theme_id, []).append(link.item)
    return items


@register.inclusion_tag("roadmap/_theme_items.html")
def theme_items(backlog: dict[int, list[Any]], theme_id: int) -> dict[str, Any]:
    return {"items": backlog.get(theme_id, [])}
