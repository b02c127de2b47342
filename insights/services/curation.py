"""A support lead's decisions: confirm or retag a ticket, mark it as no request (or undo that); create, rename,
accept, merge, split, archive themes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from insights.models import (
    AssignmentMethod,
    NoRequestMethod,
    Theme,
    ThemeChangeAction,
    ThemeStatus,
    TicketAnalysis,
    TicketTheme,
)
from insights.services.stats import stats_version_bump, theme_stats_mark_dirty
from tickets.models import Ticket


class ThemeActionError(ValueError):
    """A support lead's action that cannot be done as asked; the message says why."""


def _audit(action: str, *, user: Any, theme: Theme | None, ticket: Ticket | None = None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    from insights.models import ThemeChange

    ThemeChange.objects.create(
        action=action, theme=theme, ticket=ticket, user=_person(user),
        before=before or {}, after=after or {},
    )
    stats_version_bump()  # names, areas and statuses the dashboards show


def _ticket_theme_names(ticket: Ticket) -> list[str]:
    return sorted(TicketTheme.objects.filter(ticket=ticket).values_list("theme__name", flat=True))


def _curated_changed(*, ticket_ids: Sequence[int]) -> None:
    """After people changed assignments: statistics follow now, the model at its next training."""
    theme_stats_mark_dirty(ticket_ids=ticket_ids)
    TicketAnalysis.objects.filter(ticket_id__in=ticket_ids).update(needs_triage=False)


@transaction.atomic
def ticket_retag(*, ticket: Ticket, themes: Sequence[Theme], user: Any) -> None:
    """Set exactly these themes on ``ticket`` as a person's decision (confirming one is a retag
    to the themes it already has). The model never overrides it; the next training learns it."""
    unusable = [theme.name for theme in themes if theme.status != ThemeStatus.ACTIVE]
    if unusable:
        raise ThemeActionError(f"Only active themes can be assigned; not: {', '.join(unusable)}")
    before: dict[str, Any] = {"themes": _ticket_theme_names(ticket)}
    # Themes are a person's statement that the customer asked something.
    if TicketAnalysis.objects.filter(ticket=ticket, no_request=True).update(
        no_request=False, no_request_method=NoRequestMethod.MANUAL, no_request_by=_person(user),
        no_request_at=timezone.now(),
    ):
        before["no_request"] = True
    TicketTheme.objects.filter(ticket=ticket).delete()
    TicketTheme.objects.bulk_create(
        TicketTheme(ticket=ticket, theme=theme, confidence=1.0, method=AssignmentMethod.MANUAL, assigned_by=user)
        for theme in themes
    )
    after = sorted(theme.name for theme in themes)
    action = "confirm" if before == {"themes": after} else "retag"
    _audit(action, user=user, theme=themes[0] if themes else None, ticket=ticket,
           before=before, after={"themes": after})
    _curated_changed(ticket_ids=[ticket.pk])


def _person(user: Any) -> Any:
    return user if user and user.is_authenticated else None


def _analysis_locked(ticket: Ticket) -> TicketAnalysis:
    try:
        return TicketAnalysis.objects.select_for_update().get(ticket=ticket)
    except TicketAnalysis.DoesNotExist:
        raise ThemeActionError("This ticket has not been analysed yet; try again in a moment") from None


@transaction.atomic
def ticket_no_request_mark(*, ticket: Ticket, user: Any) -> TicketAnalysis:
    """A person's decision that the customer asked nothing: the ticket leaves every theme (the
    people's too: the decision replaces them) and the triage queue, and counts as "no request".
    Neither text preparation nor the model overrides it; the next training learns it as an
    example of the no-request class. Marking a ticket already marked by a person changes nothing."""
    analysis = _analysis_locked(ticket)
    if analysis.no_request and analysis.no_request_method == NoRequestMethod.MANUAL:
        return analysis
    before = {"themes": _ticket_theme_names(ticket), "no_request": analysis.no_request,
              "method": analysis.no_request_method}
    TicketTheme.objects.filter(ticket=ticket).delete()
    _no_request_set(analysis, no_request=True, user=user, needs_triage=False)
    _audit(ThemeChangeAction.NO_REQUEST, user=user, theme=None, ticket=ticket, before=before,
           after={"no_request": True})
    theme_stats_mark_dirty(ticket_ids=[ticket.pk])
    return analysis


@transaction.atomic
def ticket_no_request_undo(*, ticket: Ticket, user: Any) -> TicketAnalysis:
    """A person's decision that the customer did ask something (undoing a mark, or overruling the
    text preparation or the model): the ticket goes back to the triage queue and, after commit,
    to the active model for themes; the model's no-request class no longer applies to it."""
    from config.dispatch import task_dispatch
    from insights.tasks import assign_tickets

    analysis = _analysis_locked(ticket)
    if not analysis.no_request:
        raise ThemeActionError("This ticket is not marked as no request")
    before = {"no_request": True, "method": analysis.no_request_method}
    has_themes = TicketTheme.objects.filter(ticket=ticket).exists()
    _no_request_set(analysis, no_request=False, user=user, needs_triage=not has_themes)
    _audit(ThemeChangeAction.REQUEST, user=user, theme=None, ticket=ticket, before=before,
           after={"no_request": False})
    ticket_ids = [ticket.pk]
    transaction.on_commit(lambda: task_dispatch(assign_tickets, ticket_ids))
    return analysis


def _no_request_set(analysis: TicketAnalysis, *, no_request: bool, user: Any, needs_triage: bool) -> None:
    analysis.no_request = no_request
    analysis.no_request_method = NoRequestMethod.MANUAL
    analysis.no_request_by = _person(user)
    analysis.no_request_at = timezone.now()
    analysis.needs_triage = needs_triage
    # The active model assigns it again (its themes, or none) without the no-request class.
    analysis.classifier_version = None
    analysis.save(update_fields=["no_request", "no_request_method", "no_request_by", "no_request_at",
                                 "needs_triage", "classifier_version"])


@transaction.atomic
def theme_create(*, name: str, user: Any, parent: Theme | None = None, description: str = "") -> Theme:
    name = _theme_name_valid(name)
    theme = Theme.objects.create(
        name=name, parent=parent, description=description, status=ThemeStatus.ACTIVE, origin="manual",
        created_by=user if user and user.is_authenticated else None,
    )
    _audit("create", user=user, theme=theme, after={"name": name})
    return theme


def _theme_name_valid(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ThemeActionError("A theme needs a name")
    if len(name) > 120:
        raise ThemeActionError("Keep theme names under 120 characters")
    return name


@transaction.atomic
def theme_rename(*, theme: Theme, name: str, user: Any) -> Theme:
    before = theme.name
    theme.name = _theme_name_valid(name)
    theme.save(update_fields=["name", "updated_at"])
    _audit("rename", user=user, theme=theme, before={"name": before}, after={"name": theme.name})
    return theme


@transaction.atomic
def theme_accept(*, theme: Theme, user: Any, name: str | None = None) -> Theme:
    """A suggested theme becomes active; the tickets discovery put in it count from now on."""
    if theme.status != ThemeStatus.SUGGESTED:
        raise ThemeActionError(f"{theme.name!r} is {theme.get_status_display().lower()}, not suggested")
    before = {"name": theme.name, "status": theme.status}
    theme.name = _theme_name_valid(name or theme.name)
    theme.status = ThemeStatus.ACTIVE
    theme.save(update_fields=["name", "status", "updated_at"])
    _audit("accept", user=user, theme=theme, before=before, after={"name": theme.name, "status": theme.status})
    theme_stats_mark_dirty(ticket_ids=list(theme.ticket_themes.values_list("ticket_id", flat=True)))
    return theme


@transaction.atomic
def theme_dismiss(*, theme: Theme, user: Any) -> Theme:
    """A suggestion that is not a real problem: its tickets go back to the triage pool."""
    if theme.status != ThemeStatus.SUGGESTED:
        raise ThemeActionError(f"{theme.name!r} is not a suggestion")
    ticket_ids = list(theme.ticket_themes.values_list("ticket_id", flat=True))
    theme.ticket_themes.exclude(method=AssignmentMethod.MANUAL).delete()
    theme.status = ThemeStatus.DISMISSED
    theme.save(update_fields=["status", "updated_at"])
    _audit("dismiss", user=user, theme=theme, before={"status": "suggested"}, after={"status": "dismissed"})
    theme_stats_mark_dirty(ticket_ids=ticket_ids)
    return theme


@transaction.atomic
def theme_archive(*, theme: Theme, user: Any) -> Theme:
    """Retire a theme: it keeps its history but takes no new tickets and leaves the dashboards."""
    before = theme.status
    theme.status = ThemeStatus.ARCHIVED
    theme.save(update_fields=["status", "updated_at"])
    _audit("archive", user=user, theme=theme, before={"status": before}, after={"status": theme.status})
    theme_stats_mark_dirty(ticket_ids=list(theme.ticket_themes.values_list("ticket_id", flat=True)))
    return theme


@transaction.atomic
def theme_merge(*, themes: Sequence[Theme], into: Theme, user: Any) -> Theme:
    """Move every ticket of ``themes`` into ``into``; the merged themes point at it from now on.

    A ticket already in ``into`` keeps its row there (a manual row wins over a model one).
    """
    merged = [theme for theme in themes if theme.pk != into.pk]
    if not merged:
        raise ThemeActionError("Choose at least one other theme to merge")
    ticket_ids = list(TicketTheme.objects.filter(theme__in=merged).values_list("ticket_id", flat=True))
    already = set(into.ticket_themes.values_list("ticket_id", flat=True))
    for row in TicketTheme.objects.filter(theme__in=merged).order_by("-confidence"):
        if row.ticket_id in already:
            if row.method == AssignmentMethod.MANUAL:
                into.ticket_themes.filter(ticket_id=row.ticket_id).update(method=AssignmentMethod.MANUAL)
            row.delete()
            continue
        row.theme = into
        row.save(update_fields=["theme"])
        already.add(row.ticket_id)
    Theme.objects.filter(parent__in=merged).update(parent=into)
    Theme.objects.filter(pk__in=[t.pk for t in merged]).update(status=ThemeStatus.MERGED, merged_into=into)
    if into.status == ThemeStatus.SUGGESTED:
        into.status = ThemeStatus.ACTIVE
        into.save(update_fields=["status", "updated_at"])
    _audit("merge", user=user, theme=into, before={"themes": [t.name for t in merged]}, after={"into": into.name})
    theme_stats_mark_dirty(ticket_ids=ticket_ids)
    return into


@transaction.atomic
def theme_split(*, theme: Theme, parts: dict[str, Sequence[int]], user: Any) -> list[Theme]:
    """Split ``theme``: each named part becomes a new active theme taking the listed tickets.

    Tickets not listed stay in ``theme``; the new themes sit beside it under the same parent.
    """
    if not parts or any(not ticket_ids for ticket_ids in parts.values()):
        raise ThemeActionError("Each part of a split needs a name and at least one ticket")
    created: list[Theme] = []
    moved: list[int] = []
    for name, ticket_ids in parts.items():
        part = Theme.objects.create(
            name=_theme_name_valid(name), parent=theme.parent, status=ThemeStatus.ACTIVE, origin="manual",
            created_by=user if user and user.is_authenticated else None,
        )
        theme.ticket_themes.filter(ticket_id__in=ticket_ids).update(theme=part)
        created.append(part)
        moved.extend(ticket_ids)
    _audit("split", user=user, theme=theme, before={"name": theme.name},
           after={"parts": {p.name: len(parts[p.name]) for p in created}})
    theme_stats_mark_dirty(ticket_ids=moved)
    return created
