"""The Tickets page filters the dashboards link to: theme, unthemed, plan, organization and dates."""

from __future__ import annotations

import pytest
from django.urls import reverse

from insights.models import AssignmentMethod, Theme, ThemeStatus, TicketTheme
from tickets.models import Organization
from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def themed(source) -> dict[str, Theme]:
    rows = [
        {"external_id": "1", "body": "card", "created_at": "2026-03-01T10:00:00Z", "organization": "Acme", "plan": "pro"},
        {"external_id": "2", "body": "card and sso", "created_at": "2026-03-02T10:00:00Z", "organization": "Globex",
         "plan": "enterprise"},
        {"external_id": "3", "body": "sso", "created_at": "2026-03-03T10:00:00Z", "organization": "Acme",
         "plan": "pro"},
        {"external_id": "4", "body": "hello", "created_at": "2026-03-04T10:00:00Z"},
    ]
    ingest_records(source=source, records=[ticket_record_from_dict(r) for r in rows])
    cards = Theme.objects.create(name="Cards", status=ThemeStatus.ACTIVE)
    sso = Theme.objects.create(name="SSO", status=ThemeStatus.ACTIVE)
    tickets = {t.external_id: t for t in source.tickets.all()}
    TicketTheme.objects.bulk_create(
        TicketTheme(ticket=tickets[ext], theme=theme, confidence=0.8, method=AssignmentMethod.MODEL)
        for ext, theme in [("1", cards), ("2", cards), ("2", sso), ("3", sso)]
    )
    return {"cards": cards, "sso": sso}


def listed(client, **query) -> list[str]:
    response = client.get(reverse("ticket_list"), query)
    assert response.status_code == 200
    return sorted(t.external_id for t in response.context["page"].object_list)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"theme": "cards"}, ["1", "2"]),
        ({"theme": "sso"}, ["2", "3"]),
        ({"unthemed": "true"}, ["4"]),
        ({"unthemed": "false"}, ["1", "2", "3"]),
        ({"plan": "pro"}, ["1", "3"]),
        ({"organization": "globex"}, ["2"]),
        ({"created_after": "2026-03-02", "created_before": "2026-03-04"}, ["2", "3"]),
        ({"theme": "sso", "plan": "pro", "created_after": "2026-03-01"}, ["3"]),
    ],
    ids=["theme", "other-theme", "unthemed", "themed", "plan", "organization", "dates", "combined"],
)
def test_the_tickets_page_filters_what_dashboards_link_to(client_for, viewer, themed, query, expected) -> None:
    if "theme" in query:
        query["theme"] = str(themed[query["theme"]].pk)
    if "organization" in query:
        query["organization"] = str(Organization.objects.get(name="Globex").pk)

    assert listed(client_for(viewer), **query) == expected


def test_a_ticket_in_two_themes_is_listed_once(client_for, viewer, themed) -> None:
    response = client_for(viewer).get(reverse("ticket_list"), {"theme": themed["sso"].pk})

    assert response.context["page"].paginator.count == 2


def test_the_api_answers_the_same_filters(client_for, viewer, themed) -> None:
    response = client_for(viewer).get("/api/tickets/", {"theme": themed["cards"].pk, "plan": "enterprise"})

    assert response.status_code == 200
    body = response.json()
    results = body["results"] if isinstance(body, dict) else body
    assert [row["external_id"] for row in results] == ["2"]


def test_a_drilled_down_list_says_what_it_shows_and_keeps_it_when_refined(client_for, viewer, themed) -> None:
    query = {"theme": themed["cards"].pk, "plan": "pro", "created_after": "2026-03-01",
             "created_before": "2026-03-05", "channel": ""}

    response = client_for(viewer).get(reverse("ticket_list"), query)

    assert b"Theme: Cards \xc2\xb7 Plan: pro \xc2\xb7 From Mar 1, 2026 \xc2\xb7 before Mar 5, 2026" in response.content
    assert f'<input type="hidden" name="theme" value="{themed["cards"].pk}">'.encode() in response.content
    assert b'<input type="hidden" name="created_before" value="2026-03-05">' in response.content
