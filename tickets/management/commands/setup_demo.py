"""First-start set-up of the embedded run (``make run``): demo data and one login per role."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from insights.models import Theme
from insights.services import classifier_retrain, discovery_run, theme_accept
from tickets.access import Role
from tickets.models import SourceKind, Ticket
from tickets.services import user_create

DEMO_REFRESH_AFTER_DAYS = 7
DEMO_SUGGESTIONS_LEFT = 3
DEMO_USERS = {
    Role.ADMIN: ("admin@example.com", "Ada Admin"),
    Role.SUPPORT_LEAD: ("lead@example.com", "Sam Lead"),
    Role.PRODUCT_MANAGER: ("pm@example.com", "Pat Product"),
    Role.VIEWER: ("viewer@example.com", "Vic Viewer"),
}


class Command(BaseCommand):
    help = "Seed demo data if the store is empty and print a login for each role."

    def handle(self, *args: Any, **options: Any) -> None:
        if not Ticket.objects.exists():
            self.stdout.write("First start: generating demo support traffic (takes a few seconds)…")
            call_command("seed_demo", stdout=self.stdout)
        elif _demo_is_stale():
            # The demo's story (a spike three weeks ago, 180 days of history) is told relative to
            # today; after a week away it would have drifted out of every "recent" view.
            self.stdout.write("Moving the demo data forward so it ends today…")
            call_command("seed_demo", stdout=self.stdout)
        logins = self._demo_logins(Path(settings.DATA_DIR) / "demo-logins.json")
        if Ticket.objects.exists() and not Theme.objects.exists():
            self.stdout.write("Finding the themes in it (the support lead's first review, done for you)…")
            _demo_themes(reviewer=get_user_model().objects.get(email=DEMO_USERS[Role.SUPPORT_LEAD][0]))
        width = max(len(email) for email, _ in logins.values())
        self.stdout.write("\n  Threadline is starting on http://127.0.0.1:8000/  — sign in as:\n")
        for role, (email, password) in logins.items():
            self.stdout.write(f"    {role:<16} {email:<{width}}  {password}")
        self.stdout.write("\n  (passwords were generated on first start and are kept in var/demo-logins.json)\n")

    def _demo_logins(self, path: Path) -> dict[str, tuple[str, str]]:
        """Passwords are random per install, made once and kept in a file only this user can read."""
        stored: dict[str, list[str]] = json.loads(path.read_text()) if path.exists() else {}
        users = get_user_model().objects
        logins: dict[str, tuple[str, str]] = {}
        for role, (email, name) in DEMO_USERS.items():
            known = stored.get(role.label)
            if known and users.filter(email=email).exists():
                logins[role.label] = (known[0], known[1])
                continue
            _, password = user_create(email=email, role=role, name=name, password=_random_password())
            logins[role.label] = (email, password)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({role: list(login) for role, login in logins.items()}, indent=2))
        os.chmod(path, 0o600)
        return logins


def _demo_themes(reviewer: Any) -> None:
    """Discover themes, accept all but the smallest few (left for the Suggested themes page) and
    train the assignment model, as a support lead would on a first day."""
    run = discovery_run()
    suggestions = list(Theme.objects.filter(discovery_run=run).order_by("suggested_size"))
    left_for_review = {t.pk for t in [t for t in suggestions if t.parent_id is not None][:DEMO_SUGGESTIONS_LEFT]}
    for theme in suggestions:
        if theme.pk not in left_for_review:
            theme_accept(theme=theme, user=reviewer)
    with transaction.atomic():
        classifier_retrain()


def _demo_is_stale() -> bool:
    newest = Ticket.objects.filter(source__kind=SourceKind.DEMO).aggregate(newest=Max("created_at"))["newest"]
    return newest is not None and newest < timezone.now() - timedelta(days=DEMO_REFRESH_AFTER_DAYS)


def _random_password() -> str:
    import secrets

    return secrets.token_urlsafe(9)
