from __future__ import annotations

import pytest

from insights.models import AssignmentMethod, ThemeChange, ThemeStat, ThemeStatus, TicketAnalysis, TicketTheme
from insights.services import (
    ThemeActionError,
    theme_accept,
    theme_archive,
    theme_dismiss,
    theme_merge,
    theme_rename,
    theme_split,
    theme_stats_refresh,
    ticket_retag,
)

pytestmark = pytest.mark.django_db


def stats() -> dict[tuple[str, str], int]:
    return {(s.theme.name, s.day.isoformat()): s.tickets for s in ThemeStat.objects.select_related("theme")}


def test_a_retag_is_manual_audited_and_counted(tickets, active_theme, support_lead, django_capture_on_commit_callbacks):
    cards = active_theme("Card declined abroad")

    with django_capture_on_commit_callbacks(execute=True):
        ticket_retag(ticket=tickets[0], themes=[cards], user=support_lead)

    row = TicketTheme.objects.get(ticket=tickets[0])
    assert (row.theme, row.method, row.confidence, row.assigned_by) == (cards, AssignmentMethod.MANUAL, 1.0, support_lead)
    change = ThemeChange.objects.get()
    assert (change.action, change.user, change.before, change.after) == (
        "retag", support_lead, {"themes": []}, {"themes": ["Card declined abroad"]}
    )
    assert stats() == {("Card declined abroad", "2026-03-01"): 1}
    assert TicketAnalysis.objects.get(ticket=tickets[0]).needs_triage is False


def test_only_active_themes_can_be_assigned(tickets, active_theme, support_lead) -> None:
    with pytest.raises(ThemeActionError, match="Only active themes"):
        ticket_retag(ticket=tickets[0], themes=[active_theme("Maybe", ThemeStatus.SUGGESTED)], user=support_lead)


def test_merging_moves_tickets_and_keeps_manual_decisions(
    tickets, active_theme, support_lead, django_capture_on_commit_callbacks
) -> None:
    export, csv = active_theme("Export cut off"), active_theme("CSV export limit")
    ticket_retag(ticket=tickets[2], themes=[export], user=support_lead)
    ticket_retag(ticket=tickets[3], themes=[csv], user=support_lead)
    TicketTheme.objects.create(ticket=tickets[2], theme=csv, confidence=0.7, method=AssignmentMethod.MODEL)

    with django_capture_on_commit_callbacks(execute=True):
        theme_merge(themes=[csv], into=export, user=support_lead)

    assert set(TicketTheme.objects.values_list("ticket__external_id", "theme__name", "method")) == {
        ("T-2", "Export cut off", "manual"),
        ("T-3", "Export cut off", "manual"),
    }
    csv.refresh_from_db()
    assert (csv.status, csv.merged_into) == (ThemeStatus.MERGED, export)
    theme_stats_refresh()
    assert stats() == {("Export cut off", "2026-03-01"): 1, ("Export cut off", "2026-03-02"): 1}


def test_splitting_moves_the_listed_tickets_to_new_themes(tickets, active_theme, support_lead) -> None:
    login = active_theme("Login problems")
    for ticket in tickets[4:]:
        ticket_retag(ticket=ticket, themes=[login], user=support_lead)

    (okta,) = theme_split(theme=login, parts={"Okta sign-in loop": [tickets[5].pk]}, user=support_lead)

    assert list(okta.ticket_themes.values_list("ticket__external_id", flat=True)) == ["T-5"]
    assert list(login.ticket_themes.values_list("ticket__external_id", flat=True)) == ["T-4"]
    assert ThemeChange.objects.filter(action="split").get().after == {"parts": {"Okta sign-in loop": 1}}


def test_a_suggestion_is_accepted_renamed_or_dismissed(tickets, active_theme, support_lead) -> None:
    suggestion = active_theme("card declined abroad", ThemeStatus.SUGGESTED)
    TicketTheme.objects.create(ticket=tickets[0], theme=suggestion, confidence=0.8, method=AssignmentMethod.DISCOVERY)
    other = active_theme("noise", ThemeStatus.SUGGESTED)
    TicketTheme.objects.create(ticket=tickets[1], theme=other, confidence=0.4, method=AssignmentMethod.DISCOVERY)

    theme_accept(theme=suggestion, user=support_lead, name="Card declined abroad")
    theme_rename(theme=suggestion, name="  Card   declined when paying abroad ", user=support_lead)
    theme_dismiss(theme=other, user=support_lead)

    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.name) == (ThemeStatus.ACTIVE, "Card declined when paying abroad")
    assert other.status == ThemeStatus.DISMISSED and not other.ticket_themes.exists()
    assert list(ThemeChange.objects.order_by("id").values_list("action", flat=True)) == ["accept", "rename", "dismiss"]
    with pytest.raises(ThemeActionError):
        theme_accept(theme=suggestion, user=support_lead)


def test_an_archived_theme_keeps_its_tickets_as_history(tickets, active_theme, support_lead) -> None:
    login = active_theme("Login problems")
    ticket_retag(ticket=tickets[4], themes=[login], user=support_lead)
    theme_archive(theme=login, user=support_lead)

    login.refresh_from_db()
    assert login.status == ThemeStatus.ARCHIVED
    assert list(login.ticket_themes.values_list("ticket__external_id", flat=True)) == ["T-4"]
