"""Who may do what: the roles, their permissions, and the ``access_*`` checks every view calls.

Roles are Django groups kept in step with ``ROLE_PERMISSIONS`` on every migrate. A view never
tests a role by name: it calls the access helper for the resource it touches, so a change of
policy is one edit here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractUser, AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied
from django.db.models import TextChoices
from django.http import HttpRequest
from rest_framework.permissions import BasePermission

AnyUser = AbstractUser | AnonymousUser


class Role(TextChoices):
    ADMIN = "admin", "Admin"
    SUPPORT_LEAD = "support_lead", "Support lead"
    PRODUCT_MANAGER = "product_manager", "Product manager"
    VIEWER = "viewer", "Viewer"


_READ = {
    "tickets.view_ticket",
    "tickets.view_message",
    "tickets.view_organization",
    "tickets.view_customer",
    "insights.view_theme",
    "roadmap.view_backlogitem",
    "roadmap.view_escalation",
}
_CURATE = {"insights.curate_theme"}
_ESCALATE = {"roadmap.escalate"}
_PLAN = {"roadmap.link_backlog", "roadmap.add_backlogitem", "roadmap.change_backlogitem"}
ROLE_PERMISSIONS: dict[Role, set[str]] = {
    Role.VIEWER: _READ,
    Role.PRODUCT_MANAGER: _READ | _ESCALATE | _PLAN,
    Role.SUPPORT_LEAD: _READ | _CURATE | _ESCALATE,
    Role.ADMIN: _READ
    | _CURATE
    | _ESCALATE
    | _PLAN
    | {
        "tickets.import_tickets",
        "tickets.manage_source",
        "tickets.view_source",
        "tickets.view_syncrun",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
    },
}


def roles_sync() -> None:
    """Create the role groups and give each exactly the permissions ``ROLE_PERMISSIONS`` lists."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    # post_migrate reaches apps one at a time; make sure every app's permissions exist first.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.label)
        permissions = [
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in (name.split(".") for name in sorted(codenames))
        ]
        group.permissions.set(permissions)


def user_role(user: AnyUser) -> Role | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = set(user.groups.values_list("name", flat=True))
    return next((role for role in Role if role.label in names), None)


def user_role_set(user: Any, role: Role) -> None:
    user.groups.remove(*Group.objects.filter(name__in=[r.label for r in Role]))
    user.groups.add(Group.objects.get(name=role.label))


def require_permission(user: AnyUser, permission: str) -> None:
    """The one permission test every ``access_*`` helper (in every app) goes through."""
    if not user.is_authenticated or not user.has_perm(permission):
        raise PermissionDenied


def access_tickets_read(user: AnyUser) -> None:
    """Tickets, their messages, customers and organizations."""
    require_permission(user, "tickets.view_ticket")


def access_tickets_import(user: AnyUser) -> None:
    """Uploading files and creating tickets through the API."""
    require_permission(user, "tickets.import_tickets")


def access_sources_manage(user: AnyUser) -> None:
    """Configuring sources, their secrets and seeing their sync runs."""
    require_permission(user, "tickets.manage_source")


def can(user: AnyUser, check: Callable[[AnyUser], None]) -> bool:
    try:
        check(user)
    except PermissionDenied:
        return False
    return True


def api_access(check: Callable[[AnyUser], None]) -> type[BasePermission]:
    """A DRF permission class that applies one access helper (401 for anonymous, 403 otherwise)."""

    class AccessPermission(BasePermission):
        def has_permission(self, request: Any, view: Any) -> bool:
            return bool(request.user and request.user.is_authenticated) and can(request.user, check)

    AccessPermission.__name__ = f"Access_{check.__name__}"
    return AccessPermission


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context: the role of the signed-in user and the sections they may open."""
    from insights.access import access_themes_curate, access_themes_read
    from roadmap.access import access_backlog_read, access_escalations_read

    user = request.user
    return {
        "user_role": user_role(user),
        "nav": {
            "themes": can(user, access_themes_read),
            "curate": can(user, access_themes_curate),
            "roadmap": can(user, access_backlog_read),
            "escalations": can(user, access_escalations_read),
            "tickets": can(user, access_tickets_read),
            "imports": can(user, access_tickets_import),
            "sources": can(user, access_sources_manage),
        },
    }


def page_access(check: Callable[[AnyUser], None]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Guard a page view with one access helper: anonymous users go to the login page,
    signed-in users without the permission get 403."""
    from functools import wraps

    from django.contrib.auth.views import redirect_to_login

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            check(request.user)
            return view(request, *args, **kwargs)

        return guarded

    return decorator


class EmailOrUsernameBackend(ModelBackend):
    """Sign in with the email address in any letter case, or the username."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if username is None or password is None:
            return None
        users = get_user_model().objects
        user = users.filter(username=username).first() or users.filter(email__iexact=username.strip()).first()
        if user is None:
            users.model().set_password(password)  # same cost as a real check: no timing hint that it exists
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
