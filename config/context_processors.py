"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from config.health import background_status
from tickets.access import access_sources_manage, can


def background_work(request: HttpRequest) -> dict[str, Any]:
    """For admins, the state of background work when it needs them (``background_alert``), else nothing.

    Everyone else gets nothing and costs nothing: the broker probe and the count run for admins only.
    """
    user = getattr(request, "user", None)
    if user is None or not can(user, access_sources_manage):
        return {}
    status = background_status()
    return {"background_alert": status} if status.needs_attention else {}
