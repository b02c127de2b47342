"""First-start set-up of the embedded run (``make run``): demo data and one login per role."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from insights.models import Theme, ThemeStatus, TicketTheme
from insights.services import classifier_retrain, discovery_run, theme_accept, theme_dismiss
from roadmap.models import (
    BacklogItem,
    BacklogItemKind,
    BacklogItemStatus,
    Escalation,
    EscalationSeverity,
    EscalationStatus,
)
from roadmap.services import (
    backlog_item_create,
    escalation_link,
    escalation_raise,
    escalation_update,
    theme_link_create,
)
from tickets.access import Role
from tickets.demo import DEFAULT_SEED, FADING_PROBLEM, demo_timeline, demo_truth
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
            self.stdout.write(
                f"Finding the themes in it with {settings.THREADLINE_REPRESENTATION} "
                f"({settings.THREADLINE_REPRESENTATION_REASON}); the support lead's first review, done for you. "
                "MiniLM reads the 3,000 tickets in a minute or three on two cores…"
            )
            _demo_themes(reviewer=get_user_model().objects.get(email=DEMO_USERS[Role.SUPPORT_LEAD][0]))
        if Theme.objects.filter(status=ThemeStatus.ACTIVE).exists() and not Escalation.objects.exists():
            self.stdout.write("Raising a few escalations, as the support lead would…")
            _demo_escalations(users=get_user_model().objects)
        if Theme.objects.filter(status=ThemeStatus.ACTIVE).exists() and not BacklogItem.objects.exists():
            self.stdout.write("Filling the backlog, as the product manager would…")
            _demo_backlog(users=get_user_model().objects)
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
    """Discover themes, dismiss those no word describes, accept all but the smallest few (left for
    the Suggested themes page) and train the assignment model, as a support lead would on a first day."""
    run = discovery_run()
    suggestions = list(Theme.objects.filter(discovery_run=run).order_by("suggested_size"))
    left_for_review = {t.pk for t in [t for t in suggestions if t.parent_id is not None][:DEMO_SUGGESTIONS_LEFT]}
    for theme in suggestions:
        if not theme.keywords:  # no word describes it ("Other requests"): not a problem, as a lead would judge
            theme_dismiss(theme=theme, user=reviewer)
        elif theme.pk not in left_for_review:
            theme_accept(theme=theme, user=reviewer)
    with transaction.atomic():
        classifier_retrain()


def _demo_escalations(users: Any) -> None:
    """Three or four escalations by the demo support lead, one already acknowledged by the
    product manager, so the Escalations page tells a story on first start. Only runs while there
    are none, so running setup_demo again never duplicates them."""
    lead = users.get(email=DEMO_USERS[Role.SUPPORT_LEAD][0])
    pm = users.get(email=DEMO_USERS[Role.PRODUCT_MANAGER][0])
    since = timezone.now() - timedelta(days=30)
    busiest = list(
        Theme.objects.filter(status=ThemeStatus.ACTIVE, ticket_themes__ticket__created_at__gte=since)
        .annotate(recent=Count("ticket_themes"), orgs=Count("ticket_themes__ticket__organization", distinct=True))
        .order_by("-recent", "name")[:2]
    )
    big_customer_tickets = list(
        Ticket.objects.filter(created_at__gte=since, organization__arr__isnull=False,
                              pk__in=TicketTheme.objects.values("ticket_id"))
        .select_related("organization").order_by("-organization__arr", "-created_at")[:2]
    )
    with transaction.atomic():
        if busiest:
            theme = busiest[0]
            escalation = escalation_raise(
                user=lead, theme=theme, severity=EscalationSeverity.HIGH,
                note=f"{theme.recent} tickets about “{theme.name}” in the last 30 days from {theme.orgs} "
                "organizations, and it keeps coming back after we answer. Agents have no workaround beyond "
                "apologising; could product look at a fix, or at least give us wording for a known-issue note?",
            )
            escalation_update(escalation=escalation, user=pm, status=EscalationStatus.ACKNOWLEDGED,
                              note="Seen — pulling this into next week's triage with engineering.")
        if len(busiest) > 1:
            theme = busiest[1]
            escalation_raise(
                user=lead, theme=theme, severity=EscalationSeverity.MEDIUM,
                note=f"“{theme.name}” is our second biggest topic this month ({theme.recent} tickets). Most of "
                "them are answered with the same help article, so better in-product guidance would save a lot.",
            )
        for ticket, severity in zip(
            big_customer_tickets, [EscalationSeverity.CRITICAL, EscalationSeverity.LOW], strict=False
        ):
            customer = ticket.organization.name if ticket.organization else "the customer"
            escalation_raise(
                user=lead, ticket=ticket, severity=severity,
                note=f"{customer} is one of our largest accounts and raised this directly with their account "
                "manager. Please read the conversation before the renewal call."
                if severity == EscalationSeverity.CRITICAL
                else f"Small thing, but {customer} asked twice: worth a look when someone is in this area.",
            )


# The demo backlog: (demo problem it answers, title, kind, status, description). The first one
# shipped on the day the demo's FADING_PROBLEM starts to fade, so its page shows a real drop.
DEMO_BACKLOG: list[tuple[str | None, str, str, str, str]] = [
    (FADING_PROBLEM, "Refresh Zapier OAuth tokens before they expire", BacklogItemKind.BUG, BacklogItemStatus.SHIPPED,
     "Zapier connections expire after 14 days and every zap stops. Refresh the token in the background."),
    ("password_reset_email_missing", "Send password reset emails through the transactional provider",
     BacklogItemKind.BUG, BacklogItemStatus.IN_PROGRESS,
     "Reset emails leave from the marketing domain and are dropped or delayed by corporate filters."),
    ("sso_login_loop", "Fix the SAML SSO redirect loop for IdP-initiated sign-in", BacklogItemKind.BUG,
     BacklogItemStatus.IN_PROGRESS, "Okta and Azure AD users bounce back to the login page."),
    ("csv_export_truncated", "Stream CSV exports without the 10,000-row limit", BacklogItemKind.FEATURE,
     BacklogItemStatus.PLANNED, "Exports are built in memory and cut at 10,000 rows; stream them instead."),
    ("card_declined_abroad", "Support 3-D Secure for cards issued abroad", BacklogItemKind.FEATURE,
     BacklogItemStatus.PLANNED, "Cards from banks that require SCA are declined instead of challenged."),
    ("invoice_download_hidden", "Invoice history with downloads on the billing page", BacklogItemKind.FEATURE,
     BacklogItemStatus.IDEA, "Customers can't find their invoices; today they are only in the emails."),
    ("slack_duplicates", "Deduplicate Slack notifications when a delivery is retried", BacklogItemKind.BUG,
     BacklogItemStatus.IDEA, ""),
    ("dashboard_slow", "Cache dashboard widgets per account", BacklogItemKind.FEATURE, BacklogItemStatus.IDEA,
     "Large accounts wait 20+ seconds for the dashboard."),
    ("report_timezone", "Let each report choose its own time zone", BacklogItemKind.FEATURE,
     BacklogItemStatus.WONT_DO, "Declined: reports follow the account's time zone, explained in the help centre."),
    (None, "Help-centre article: exporting large reports", BacklogItemKind.DOCS, BacklogItemStatus.IDEA,
     "A how-to until streaming exports ship."),
]


# A theme counts for a problem's item when most of its demo tickets (by the ground truth) raise it.
DEMO_LINK_SHARE = 0.7


def _demo_backlog(users: Any) -> None:
    """About ten backlog items by the demo product manager, linked to the themes whose tickets they
    answer (found through the demo's ground truth), one shipped when its problem started to fade.
    Only runs while the backlog is empty, so running setup_demo again never duplicates them."""
    pm = users.get(email=DEMO_USERS[Role.PRODUCT_MANAGER][0])
    themes = _themes_of_problems()
    newest = Ticket.objects.filter(source__kind=SourceKind.DEMO).aggregate(newest=Max("created_at"))["newest"]
    anchor = (newest or timezone.now()).date() + timedelta(days=1)
    fade = demo_timeline(anchor).fade_date
    shipped_at = timezone.make_aware(datetime.combine(fade, time(12)), UTC)
    with transaction.atomic():
        for index, (problem, title, kind, status, description) in enumerate(DEMO_BACKLOG):
            linked = themes.get(problem, []) if problem else []
            item = backlog_item_create(
                user=pm, title=title, kind=kind, status=status, description=description, owner=pm,
                target_date=timezone.localdate() + timedelta(days=21 * (index + 1))
                if status in (BacklogItemStatus.PLANNED, BacklogItemStatus.IN_PROGRESS) else None,
                external_key=f"PROD-{140 + index * 7}",
                shipped_at=shipped_at if status == BacklogItemStatus.SHIPPED else None,
            )
            for theme in sorted(linked, key=lambda t: t.name):
                theme_link_create(item=item, theme=theme, user=pm, note="Linked during backlog grooming")
            for escalation in Escalation.objects.filter(theme__in=linked, backlog_item__isnull=True):
                escalation_link(escalation=escalation, item=item, user=pm, note="This is where it gets fixed.")


def _themes_of_problems() -> dict[str, list[Theme]]:
    """For each demo problem, the active themes it dominates (using the demo's ground truth):
    discovery often splits one problem into several granular themes, and a PM links them all."""
    demo = Ticket.objects.filter(source__kind=SourceKind.DEMO)
    truth = demo_truth(count=demo.count(), seed=DEFAULT_SEED, today=timezone.localdate())
    counts: dict[int, dict[str, int]] = {}
    for theme_id, external_id in TicketTheme.objects.filter(
        ticket__source__kind=SourceKind.DEMO, theme__status=ThemeStatus.ACTIVE
    ).values_list("theme_id", "ticket__external_id"):
        per_problem = counts.setdefault(theme_id, {})
        for problem in truth.get(external_id, ()):
            per_problem[problem] = per_problem.get(problem, 0) + 1
    found = Theme.objects.in_bulk(list(counts))
    result: dict[str, list[Theme]] = {}
    for theme_id, per_problem in counts.items():
        if per_problem:
            problem = max(per_problem, key=lambda key: per_problem[key])
            if per_problem[problem] >= DEMO_LINK_SHARE * sum(per_problem.values()):
                result.setdefault(problem, []).append(found[theme_id])
    return result


def _demo_is_stale() -> bool:
    newest = Ticket.objects.filter(source__kind=SourceKind.DEMO).aggregate(newest=Max("created_at"))["newest"]
    return newest is not None and newest < timezone.now() - timedelta(days=DEMO_REFRESH_AFTER_DAYS)


def _random_password() -> str:
    import secrets

    return secrets.token_urlsafe(9)
