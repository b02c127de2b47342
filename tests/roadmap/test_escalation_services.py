"""Escalations through their services: what each writes, and the audit trail it leaves."""

from __future__ import annotations

import pytest

from insights.models import ThemeStatus
from roadmap.models import EscalationChange, EscalationStatus
from roadmap.services import EscalationError, escalation_link, escalation_raise, escalation_update

pytestmark = pytest.mark.django_db


def history(escalation) -> list[tuple[str, str, str, str, str]]:
    return [
        (c.action, c.user.email if c.user else "", c.before, c.after, c.note)
        for c in EscalationChange.objects.filter(escalation=escalation).select_related("user").order_by("at", "id")
    ]


def test_it_raises_a_ticket_with_severity_and_note_and_records_who(ticket, support_lead) -> None:
    escalation = escalation_raise(user=support_lead, ticket=ticket, severity="critical", note="  Acme is blocked.  ")

    assert (escalation.ticket, escalation.theme, escalation.severity, escalation.status) == (
        ticket, None, "critical", EscalationStatus.OPEN
    )
    assert (escalation.note, escalation.raised_by) == ("Acme is blocked.", support_lead)
    assert history(escalation) == [("raised", support_lead.email, "", "Critical", "Acme is blocked.")]


def test_it_raises_a_whole_theme(theme, support_lead) -> None:
    escalation = escalation_raise(user=support_lead, theme=theme, severity="medium", note="Many customers.")

    assert (escalation.theme, escalation.ticket) == (theme, None)


@pytest.mark.parametrize("subjects", ["neither", "both"])
def test_it_escalates_exactly_one_subject(ticket, theme, support_lead, subjects) -> None:
    chosen = {"ticket": ticket, "theme": theme} if subjects == "both" else {}
    with pytest.raises(EscalationError, match="either a ticket or a theme"):
        escalation_raise(user=support_lead, severity="low", note="x", **chosen)


def test_it_refuses_an_empty_note_an_unknown_severity_and_a_merged_theme(ticket, theme, support_lead) -> None:
    with pytest.raises(EscalationError, match="note"):
        escalation_raise(user=support_lead, ticket=ticket, severity="low", note="   ")
    with pytest.raises(EscalationError, match="severity"):
        escalation_raise(user=support_lead, ticket=ticket, severity="urgent", note="x")
    theme.status = ThemeStatus.MERGED
    theme.save()
    with pytest.raises(EscalationError, match="merged"):
        escalation_raise(user=support_lead, theme=theme, severity="low", note="x")


def test_each_change_of_status_and_severity_is_one_history_row(escalation, support_lead, product_manager) -> None:
    escalation_update(escalation=escalation, user=product_manager, status="acknowledged", severity="medium",
                      note="On it")
    escalation_update(escalation=escalation, user=support_lead, note="Acme asked again today")

    escalation.refresh_from_db()
    assert (escalation.status, escalation.severity) == ("acknowledged", "medium")
    assert history(escalation)[1:] == [
        ("status", product_manager.email, "Open", "Acknowledged", "On it"),
        ("severity", product_manager.email, "High", "Medium", ""),
        ("note", support_lead.email, "", "", "Acme asked again today"),
    ]


def test_an_update_that_changes_nothing_is_refused(escalation, support_lead) -> None:
    with pytest.raises(EscalationError, match="Nothing to change"):
        escalation_update(escalation=escalation, user=support_lead, status="open", severity="high")
    with pytest.raises(EscalationError, match="Unknown status"):
        escalation_update(escalation=escalation, user=support_lead, status="closed")


def test_linking_to_a_backlog_item_acknowledges_an_open_escalation(escalation, backlog_item, product_manager) -> None:
    escalation_link(escalation=escalation, item=backlog_item, user=product_manager, note="Planned for Q3")

    escalation.refresh_from_db()
    assert (escalation.backlog_item, escalation.status) == (backlog_item, "acknowledged")
    assert history(escalation)[1:] == [
        ("linked", product_manager.email, "", "Stream CSV exports", "Planned for Q3"),
        ("status", product_manager.email, "Open", "Acknowledged", ""),
    ]


def test_unlinking_is_recorded_and_a_repeated_link_is_refused(escalation, backlog_item, product_manager) -> None:
    escalation_link(escalation=escalation, item=backlog_item, user=product_manager)
    with pytest.raises(EscalationError, match="already linked"):
        escalation_link(escalation=escalation, item=backlog_item, user=product_manager)

    escalation_link(escalation=escalation, item=None, user=product_manager)

    escalation.refresh_from_db()
    assert escalation.backlog_item is None
    assert history(escalation)[-1] == ("unlinked", product_manager.email, "Stream CSV exports", "", "")
