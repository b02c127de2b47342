"""Users of Threadline and their API tokens."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from rest_framework.authtoken.models import Token

from tickets.access import Role, user_role_set


def user_create(*, email: str, role: Role, password: str | None = None, name: str = "") -> tuple[Any, str]:
    """Create a user with ``role``, or give an existing user (same email) that role.

    Returns (user, password set). A new user without ``password`` gets a random one, so no
    account has a guessable default; an existing user keeps theirs unless one is given (then
    the returned password is ""). Passwords go through the configured validators.
    """
    users = get_user_model().objects
    user = users.filter(email__iexact=email).first()
    if user is None:
        user = users.create_user(username=email.lower(), email=email.lower())
        password = password or secrets.token_urlsafe(12)
    if name:
        user.first_name, _, user.last_name = name.partition(" ")
    if password:
        validate_password(password, user)
        user.set_password(password)
    user.save()
    user_role_set(user, role)
    return user, password or ""


def api_token_get_or_create(*, user: Any) -> str:
    """The user's REST API token key, created on first request; the same key until revoked."""
    token, _ = Token.objects.get_or_create(user=user)
    return token.key
