"""The escalation pages and their POST endpoints over HTTP: who may do what, what they show."""

from __future__ import annotations

import pytest
from django.urls import reverse

from roadmap.models import Escalation, EscalationChange
from roadmap.services import escalation_raise

pytestmark = pytest.mark.django_db

PERSONAS = ["admin_user", "support_lead", "product_manager", "viewer", "outsider"]
READERS = {"admin_user", "support_lead", "product_manager", "viewer"}
WORKERS = {"admin_user", "support_lead", "product_manager"}
LINKERS = {"admin_user", "support_lead", "product_manager"}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", ["escalation_list", "escalation_detail"])
def test_the_pages_open_for_readers_only(request, client_for, escalation, persona, name) -> None:
    url = reverse(name, args=[escalation.pk]) if name == "escalation_detail" else reverse(name)

    response = client_for(request.getfixturevalue(persona)).get(url)

    assert response.status_code == (200 if persona in READERS else 403)


@pytest.mark.parametrize("name", ["escalation_list", "escalation_detail", "escalation_raise", "escalation_update",
                                  "escalation_link"])
def test_anonymous_visitors_are_sent_to_sign_in(client_for, escalation, name) -> None:
    url = reverse(name) if name in {"escalation_list", "escalation_raise"} else reverse(name, args=[escalation.pk])
    client = client_for(None)

    response = client.get(url) if name in {"escalation_list", "escalation_detail"} else client.post(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("persona", PERSONAS)
def test_raising_is_for_support_leads_product_managers_and_admins(request, client_for, ticket, persona) -> None:
    response = client_for(request.getfixturevalue(persona)).post(
        reverse("escalation_raise"), {"ticket": ticket.pk, "severity": "high", "note": "Blocked"}, **HTMX
    )

    assert response.status_code == (200 if persona in WORKERS else 403)
    assert Escalation.objects.count() == (1 if persona in WORKERS else 0)


@pytest.mark.parametrize("persona", PERSONAS)
def test_updating_is_for_those_who_work_escalations(request, client_for, escalation, persona) -> None:
    response = client_for(request.getfixturevalue(persona)).post(
        reverse("escalation_update", args=[escalation.pk]), {"status": "resolved"}, **HTMX
    )

    assert response.status_code == (200 if persona in WORKERS else 403)
    escalation.refresh_from_db()
    assert escalation.status == ("resolved" if persona in WORKERS else "open")


@pytest.mark.parametrize("persona", PERSONAS)
def test_linking_is_for_support_leads_product_managers_and_admins(request, client_for, escalation, backlog_item, persona) -> None:
    response = client_for(request.getfixturevalue(persona)).post(
        reverse("escalation_link", args=[escalation.pk]), {"item": backlog_item.pk}, **HTMX
    )

    assert response.status_code == (200 if persona in LINKERS else 403)
    escalation.refresh_from_db()
    assert escalation.backlog_item == (backlog_item if persona in LINKERS else None)


@pytest.mark.parametrize("name", ["escalation_raise", "escalation_update", "escalation_link"])
def test_mutations_are_post_only(client_for, admin_user, escalation, name) -> None:
    url = reverse(name) if name == "escalation_raise" else reverse(name, args=[escalation.pk])

    assert client_for(admin_user).get(url).status_code == 405


def test_mutations_need_the_csrf_token(support_lead, ticket) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(support_lead)

    response = client.post(reverse("escalation_raise"), {"ticket": ticket.pk, "severity": "low", "note": "x"})

    assert response.status_code == 403
    assert not Escalation.objects.exists()


def test_a_viewer_reads_an_escalation_without_any_action(client_for, viewer, escalation) -> None:
    page = client_for(viewer).get(reverse("escalation_detail", args=[escalation.pk])).content.decode()

    assert "Acme cannot export." in page
    assert "Work on it" not in page and "Link to backlog" not in page
    assert reverse("escalation_update", args=[escalation.pk]) not in page


def test_a_product_manager_sees_work_and_link_actions(client_for, product_manager, escalation, backlog_item) -> None:
    page = client_for(product_manager).get(reverse("escalation_detail", args=[escalation.pk])).content.decode()

    assert "Work on it" in page and "Link to backlog" in page and "Stream CSV exports" in page


def test_a_support_lead_works_on_it_and_links_it(client_for, support_lead, viewer, escalation, backlog_item) -> None:
    page = client_for(support_lead).get(reverse("escalation_detail", args=[escalation.pk])).content.decode()
    read_only = client_for(viewer).get(reverse("escalation_detail", args=[escalation.pk])).content.decode()

    assert "Work on it" in page and "Link to backlog" in page
    assert "Work on it" not in read_only and "Link to backlog" not in read_only


def test_raising_from_a_ticket_page_answers_htmx_with_a_link_to_the_escalation(client_for, support_lead, ticket) -> None:
    response = client_for(support_lead).post(
        reverse("escalation_raise"), {"ticket": ticket.pk, "severity": "critical", "note": "Acme is down"}, **HTMX
    )

    escalation = Escalation.objects.get()
    assert reverse("escalation_detail", args=[escalation.pk]) in response.content.decode()
    assert (escalation.ticket, escalation.severity, escalation.raised_by) == (ticket, "critical", support_lead)


def test_a_plain_form_post_is_redirected_to_the_new_escalation(client_for, support_lead, theme) -> None:
    response = client_for(support_lead).post(
        reverse("escalation_raise"), {"theme": theme.pk, "severity": "medium", "note": "Everyone hits it"}
    )

    assert response["Location"] == reverse("escalation_detail", args=[Escalation.objects.get().pk])


def test_an_escalation_without_a_note_shows_the_form_again_with_the_reason(client_for, support_lead, ticket) -> None:
    response = client_for(support_lead).post(
        reverse("escalation_raise"), {"ticket": ticket.pk, "severity": "high", "note": ""}, **HTMX
    )

    assert "This field is required" in response.content.decode()
    assert not Escalation.objects.exists()


def test_an_update_swaps_in_the_body_with_the_new_history(client_for, product_manager, escalation) -> None:
    response = client_for(product_manager).post(
        reverse("escalation_update", args=[escalation.pk]), {"status": "acknowledged", "note": "Looking"}, **HTMX
    )

    body = response.content.decode()
    assert "changed the status from Open to <b>Acknowledged</b>" in body and "Looking" in body
    assert "<html" not in body


def test_an_update_without_a_change_says_so(client_for, product_manager, escalation) -> None:
    response = client_for(product_manager).post(reverse("escalation_update", args=[escalation.pk]), {}, **HTMX)

    assert "Nothing to change" in response.content.decode()
    assert EscalationChange.objects.count() == 1


def test_the_list_filters_by_status_severity_subject_raiser_and_link(
    client_for, product_manager, support_lead, ticket, theme, backlog_item
) -> None:
    from roadmap.services import escalation_link, escalation_update

    on_ticket = escalation_raise(user=support_lead, ticket=ticket, severity="low", note="ticket note")
    on_theme = escalation_raise(user=product_manager, theme=theme, severity="critical", note="theme note")
    escalation_update(escalation=on_ticket, user=product_manager, status="resolved")
    escalation_link(escalation=on_theme, item=backlog_item, user=product_manager)
    client = client_for(product_manager)

    def listed(**query) -> list[str]:
        page = client.get(reverse("escalation_list"), query).content.decode()
        return [note for note in ("ticket note", "theme note") if note in page]

    assert listed() == ["theme note"]  # by default: what still needs attention
    assert listed(status="resolved") == ["ticket note"]
    assert listed(status="") == ["ticket note", "theme note"]
    assert listed(status="", severity="low") == ["ticket note"]
    assert listed(status="", subject="theme") == ["theme note"]
    assert listed(status="", raised_by=support_lead.pk) == ["ticket note"]
    assert listed(status="", linked="no") == ["ticket note"]
    assert listed(status="", linked="yes") == ["theme note"]


def test_the_list_puts_the_most_severe_first(client_for, support_lead, ticket, theme) -> None:
    escalation_raise(user=support_lead, ticket=ticket, severity="low", note="the low one")
    escalation_raise(user=support_lead, theme=theme, severity="critical", note="the critical one")

    page = client_for(support_lead).get(reverse("escalation_list")).content.decode()

    assert page.index("the critical one") < page.index("the low one")


def test_the_list_reads_a_page_in_a_fixed_number_of_queries(
    client_for, support_lead, source, theme, django_assert_max_num_queries
) -> None:
    from tickets.records import ticket_record_from_dict
    from tickets.services import ingest_records

    ingest_records(source=source, records=[
        ticket_record_from_dict({"external_id": f"Q-{i}", "subject": f"Ticket {i}", "body": "b",
                                 "created_at": "2026-03-01T10:00:00Z", "organization": f"Org {i}"})
        for i in range(30)
    ])
    for ticket in source.tickets.all():
        escalation_raise(user=support_lead, ticket=ticket, severity="medium", note="n")
    escalation_raise(user=support_lead, theme=theme, severity="high", note="n")
    client = client_for(support_lead)

    # session + user + permissions, counts, raisers filter, the page's count and rows
    with django_assert_max_num_queries(10):
        response = client.get(reverse("escalation_list"))
    assert len(response.context["page"].object_list) == 25


def test_an_empty_list_says_how_to_escalate(client_for, support_lead) -> None:
    page = client_for(support_lead).get(reverse("escalation_list")).content.decode()

    assert "Nothing has been escalated yet" in page and "Escalate" in page


def test_the_theme_escalation_button_renders_for_those_who_may_escalate(rf, support_lead, viewer, theme) -> None:
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = support_lead
    html = render_to_string("roadmap/_escalate_theme.html", {"theme": theme}, request=request)
    request.user = viewer
    hidden = render_to_string("roadmap/_escalate_theme.html", {"theme": theme}, request=request)

    assert "Escalate theme" in html and f'name="theme" value="{theme.pk}"' in html
    assert "Escalate theme" not in hidden


def test_the_url_names_all_have_tests() -> None:
    from roadmap.urls import urlpatterns

    assert {p.name for p in urlpatterns} == {
        "escalation_list", "escalation_detail", "escalation_raise", "escalation_update", "escalation_link",
        # tested in test_backlog_pages
        "roadmap_board", "roadmap_unaddressed", "backlog_item_detail", "backlog_item_create", "backlog_item_update",
        "backlog_item_status", "theme_link_create", "theme_link_delete",
        "backlog_item_tag_back",  # tested in test_tag_back
    }


def test_the_theme_page_offers_escalating_the_theme(client_for, support_lead, viewer, theme) -> None:
    url = reverse("theme_detail", args=[theme.pk])

    assert "Escalate theme" in client_for(support_lead).get(url).content.decode()
    assert "Escalate theme" not in client_for(viewer).get(url).content.decode()
