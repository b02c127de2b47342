"""The ticket page: the conversation, its themes and why, and the actions each role gets."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from insights.models import AssignmentMethod, Theme, ThemeChange, ThemeStatus, TicketAnalysis, TicketTheme
from insights.services import ticket_retag
from roadmap.services import escalation_raise
from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records

pytestmark = pytest.mark.django_db

PERSONAS = ["admin_user", "support_lead", "product_manager", "viewer", "outsider"]


@pytest.fixture(autouse=True)
def _models_in_tmp(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path


@pytest.fixture
def ticket(source, django_capture_on_commit_callbacks) -> Any:
    with django_capture_on_commit_callbacks(execute=True):
        ingest_records(source=source, records=[ticket_record_from_dict({
            "external_id": "C-1", "subject": "Card declined abroad", "created_at": "2026-03-01T10:00:00Z",
            "organization": "Acme", "plan": "pro",
            "messages": [
                {"body": "My card is declined in Spain.", "role": "customer", "author_name": "Ana"},
                {"body": "Hi! I am the assistant.", "role": "bot"},
                {"body": "We are on it.", "role": "agent", "author_name": "Jo"},
            ],
        })])
    return source.tickets.get()


@pytest.fixture
def cards(db) -> Theme:
    return Theme.objects.create(name="Card declined abroad", status=ThemeStatus.ACTIVE)


def page(client_for, user, ticket) -> str:
    return client_for(user).get(reverse("ticket_detail", args=[ticket.pk])).content.decode()


def test_the_conversation_shows_each_turn_styled_by_who_spoke(client_for, viewer, ticket) -> None:
    html = page(client_for, viewer, ticket)

    assert 'class="turn turn-customer' in html and 'class="turn turn-bot' in html and 'class="turn turn-agent' in html
    assert html.index("declined in Spain") < html.index("I am the assistant") < html.index("We are on it")


def test_it_shows_themes_with_confidence_and_who_set_a_manual_one(client_for, viewer, support_lead, ticket, cards):
    model_theme = Theme.objects.create(name="Payments abroad", status=ThemeStatus.ACTIVE)
    ticket_retag(ticket=ticket, themes=[cards], user=support_lead)
    TicketTheme.objects.create(ticket=ticket, theme=model_theme, confidence=0.83, method=AssignmentMethod.MODEL)

    html = page(client_for, viewer, ticket)

    assert "Card declined abroad" in html and "Confirmed by sam.lead@example.com" in html
    assert "Payments abroad" in html and "83%" in html and "Assigned by the model" in html
    assert "Model&#x27;s guess" in html or "Model's guess" in html  # a guess, kept apart from a decision


def test_a_near_certain_model_guess_never_reads_100_percent(client_for, viewer, ticket, cards) -> None:
    TicketTheme.objects.create(ticket=ticket, theme=cards, confidence=0.998, method=AssignmentMethod.MODEL)

    html = page(client_for, viewer, ticket)

    assert "99%" in html and "100%" not in html


def test_an_unthemed_ticket_shows_the_models_unsure_guess(client_for, support_lead, ticket, cards) -> None:
    TicketAnalysis.objects.filter(ticket=ticket).update(best_theme=cards, best_confidence=0.27, needs_triage=True)

    html = page(client_for, support_lead, ticket)

    assert "No theme yet" in html and "27%" in html and reverse("triage") in html


@pytest.mark.parametrize("persona", PERSONAS)
def test_actions_follow_the_role(request, client_for, ticket, cards, persona) -> None:
    response = client_for(request.getfixturevalue(persona)).get(reverse("ticket_detail", args=[ticket.pk]))
    if persona == "outsider":
        assert response.status_code == 403
        return
    html = response.content.decode()

    assert ("Save themes" in html) == (persona in {"admin_user", "support_lead"})
    assert ("Escalate this ticket" in html) == (persona in {"admin_user", "support_lead", "product_manager"})


def test_anonymous_visitors_are_sent_to_sign_in(client_for, ticket) -> None:
    for response in (client_for(None).get(reverse("ticket_detail", args=[ticket.pk])),
                     client_for(None).post(reverse("ticket_themes_set", args=[ticket.pk]))):
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("persona", PERSONAS)
def test_retagging_is_for_curators_only(request, client_for, ticket, cards, persona) -> None:
    response = client_for(request.getfixturevalue(persona)).post(
        reverse("ticket_themes_set", args=[ticket.pk]), {"themes": [cards.pk]}
    )

    allowed = persona in {"admin_user", "support_lead"}
    assert response.status_code == (302 if allowed else 403)
    assert TicketTheme.objects.filter(ticket=ticket, theme=cards).exists() == allowed


def test_retagging_sets_exactly_the_chosen_themes_and_is_recorded(client_for, support_lead, ticket, cards) -> None:
    other = Theme.objects.create(name="Payments abroad", status=ThemeStatus.ACTIVE)
    TicketTheme.objects.create(ticket=ticket, theme=other, confidence=0.6, method=AssignmentMethod.MODEL)
    client = client_for(support_lead)

    response = client.post(reverse("ticket_themes_set", args=[ticket.pk]), {"themes": [cards.pk]}, follow=True)

    assert list(TicketTheme.objects.filter(ticket=ticket).values_list("theme__name", "method")) == [
        ("Card declined abroad", "manual")
    ]
    change = ThemeChange.objects.get()
    assert (change.user, change.before, change.after) == (
        support_lead, {"themes": ["Payments abroad"]}, {"themes": ["Card declined abroad"]}
    )
    assert "Themes set to Card declined abroad" in response.content.decode()


def test_retag_is_post_only(client_for, support_lead, ticket) -> None:
    assert client_for(support_lead).get(reverse("ticket_themes_set", args=[ticket.pk])).status_code == 405


def test_it_lists_the_tickets_escalations(client_for, viewer, support_lead, ticket) -> None:
    escalation = escalation_raise(user=support_lead, ticket=ticket, severity="high", note="Acme is blocked")

    html = page(client_for, viewer, ticket)

    assert reverse("escalation_detail", args=[escalation.pk]) in html and "High" in html


def test_the_page_reads_in_a_fixed_number_of_queries(
    client_for, support_lead, ticket, cards, django_assert_max_num_queries
) -> None:
    for i in range(5):
        escalation_raise(user=support_lead, ticket=ticket, severity="low", note=f"note {i}")
        theme = Theme.objects.create(name=f"Theme {i}", status=ThemeStatus.ACTIVE)
        TicketTheme.objects.create(ticket=ticket, theme=theme, confidence=0.7, method=AssignmentMethod.MODEL)
    client = client_for(support_lead)

    with django_assert_max_num_queries(20):
        client.get(reverse("ticket_detail", args=[ticket.pk]))
