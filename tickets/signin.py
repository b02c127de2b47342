"""Password guessing is throttled: one rule for the login page and the API token endpoint.

After ``MAX_FAILURES_PER_USERNAME`` failed sign-ins for one username, or ``MAX_FAILURES_PER_ADDRESS``
from one client address, within ``WINDOW``, further attempts are refused without checking the
password until the oldest of those failures leaves the window. Failures are rows of
``SignInFailure`` (the database, not the cache: the limit holds across processes and while Redis
is down); a successful sign-in clears the username's failures.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from tickets.models import SignInFailure

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USERNAME = 5
MAX_FAILURES_PER_ADDRESS = 20


class SignInThrottled(Exception):
    def __init__(self, retry_after: timedelta) -> None:
        self.minutes = max(1, math.ceil(retry_after.total_seconds() / 60))
        super().__init__(f"Too many failed sign-ins; try again in {self.minutes} minute{'s' * (self.minutes > 1)}.")


def client_address(request: HttpRequest | None) -> str | None:
    """The peer address. Behind a reverse proxy that is the proxy's, unless the proxy (or the WSGI
    server) rewrites REMOTE_ADDR: X-Forwarded-For is not trusted here, a client can forge it."""
    return (request.META.get("REMOTE_ADDR") or None) if request is not None else None


def _normalized(username: str) -> str:
    return username.strip().lower()[:254]


def _blocked_until(failures: QuerySet[SignInFailure], limit: int) -> datetime | None:
    """When the limit-th most recent failure leaves the window, if there are that many."""
    times = list(failures.order_by("-at").values_list("at", flat=True)[:limit])
    return times[-1] + WINDOW if len(times) >= limit else None


def signin_throttle_check(*, username: str, address: str | None) -> None:
    """Raise ``SignInThrottled`` when this username or address used up its failures."""
    recent = SignInFailure.objects.filter(at__gt=timezone.now() - WINDOW)
    ends = [_blocked_until(recent.filter(username=_normalized(username)), MAX_FAILURES_PER_USERNAME)]
    if address:
        ends.append(_blocked_until(recent.filter(ip=address), MAX_FAILURES_PER_ADDRESS))
    blocked = [end for end in ends if end is not None]
    if blocked:
        logger.warning("sign-in refused: too many failures for %r or from %s", _normalized(username), address)
        raise SignInThrottled(max(blocked) - timezone.now())


def signin_failure_record(*, username: str, address: str | None) -> None:
    """Count one failure and drop the ones that left the window (the table stays small)."""
    now = timezone.now()
    SignInFailure.objects.filter(at__lte=now - WINDOW).delete()
    SignInFailure.objects.create(username=_normalized(username), ip=address, at=now)
    logger.info("failed sign-in as %r from %s", _normalized(username), address)


def signin_authenticate(*, request: HttpRequest | None, username: str, password: str) -> Any:
    """The user these credentials name, or None; raises ``SignInThrottled`` before checking them
    when the limit is reached."""
    address = client_address(request)
    signin_throttle_check(username=username, address=address)
    user = authenticate(request, username=username, password=password)
    if user is None:
        signin_failure_record(username=username, address=address)
    else:
        SignInFailure.objects.filter(username=_normalized(username)).delete()
    return user


class ThrottledAuthenticationForm(AuthenticationForm):
    """The login page's form, going through ``signin_authenticate``."""

    def clean(self) -> dict[str, Any]:
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = signin_authenticate(request=self.request, username=username, password=password)
            except SignInThrottled as exc:
                raise forms.ValidationError(str(exc), code="throttled") from exc
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data
