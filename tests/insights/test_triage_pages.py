"""The triage queue over HTTP: who may use it, what it lists, and each action's htmx answer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import F
from django.urls import reverse

from insights.models import (
    AssignmentMethod,
    Theme,
    ThemeChange,
    ThemeStatDirtyDay,
    ThemeStatus,
    TicketAnalysis,
    TicketTheme,
)
from insights.services.stats import theme_stats_refresh, triage_order_refresh

pytestmark = pytest.mark.django_db

PERSONAS = ["admin_user", "support_lead", "product_manager", "viewer", "outsider"]
CURATORS = {"admin_user", "support_lead"}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def queue(tickets, active_theme) -> dict:
    """Six tickets in the triage pool; the model's unsure guess for the first two is "Card declined"."""
    cards = active_theme("Card declined")
    TicketAnalysis.objects.filter(ticket__in=tickets[:2]).update(best_theme=cards, best_confidence=0.31)
    return {"tickets": tickets, "cards": cards, "export": active_theme("CSV export limit")}


def _row(pk: int, mode: str = "") -> str:
    return reverse("triage_row", args=[pk]) + (f"?mode={mode}" if mode else "")


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_queue_and_its_rows_are_for_curators_only(request, client_for, queue, persona) -> None:
    client = client_for(request.getfixturevalue(persona))
    first = queue["tickets"][0].pk
    expected = 200 if persona in CURATORS else 403

    assert client.get(reverse("triage")).status_code == expected
    assert client.get(_row(first, "pick"), **HTMX).status_code == expected
    assert client.post(reverse("triage_file", args=[first]), {"theme": queue["cards"].pk}, **HTMX).status_code == (
        expected
    )
    assert client.post(reverse("triage_new_theme", args=[first]), {"name": "Refunds"}, **HTMX).status_code == (
        expected
    )
    assert TicketTheme.objects.exists() == (persona in CURATORS)


@pytest.mark.parametrize("name", ["triage", "triage_row", "triage_file", "triage_new_theme"])
def test_anonymous_visitors_are_sent_to_sign_in(client_for, queue, name) -> None:
    url = reverse(name) if name == "triage" else reverse(name, args=[queue["tickets"][0].pk])
    client = client_for(None)

    response = client.get(url) if name in {"triage", "triage_row"} else client.post(url)

    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("name", ["triage_file", "triage_new_theme"])
def test_actions_are_post_only(client_for, support_lead, queue, name) -> None:
    assert client_for(support_lead).get(reverse(name, args=[queue["tickets"][0].pk])).status_code == 405


def test_it_lists_the_pool_newest_first_with_the_models_guess(client_for, support_lead, queue) -> None:
    page = client_for(support_lead).get(reverse("triage")).content.decode()

    subjects = [t.subject for t in sorted(queue["tickets"], key=lambda t: (t.created_at, t.pk), reverse=True)]
    positions = [page.index(f">{subject}</a>") for subject in subjects]
    assert positions == sorted(positions)
    assert "Card declined" in page and "31%" in page
    assert page.count('data-action="confirm"') == 2  # 31% is above the floor: one key files it
    assert "6 tickets the model could not theme" in page


def test_a_guess_below_the_floor_is_shown_but_never_the_one_key_default(client_for, support_lead, queue) -> None:
    TicketAnalysis.objects.filter(ticket=queue["tickets"][0]).update(best_confidence=0.05)

    row = client_for(support_lead).get(_row(queue["tickets"][0].pk), **HTMX).content.decode()

    assert "Card declined" in row and "5%" in row
    assert 'data-action="confirm"' not in row and "<kbd>1</kbd>" not in row
    assert "Every guess is weak" in row


def test_the_models_live_guesses_list_its_top_three_active_themes(client_for, support_lead, queue) -> None:
    """With an active model, a row shows its top candidates among active themes, best first."""
    import numpy as np

    from insights.analysis.classification import classifier_train
    from insights.analysis.representation import representation_create
    from insights.services.versions import model_version_save

    themes = {"Card declined": queue["cards"], "CSV export limit": queue["export"]}
    texts = {"Card declined": ["my card was declined at the shop", "card payment declined abroad",
                               "the card is refused when I pay", "declined card again at checkout"],
             "CSV export limit": ["csv export stops at ten thousand rows", "the export file is cut short",
                                  "csv download misses rows", "exported csv has only part of the data"]}
    train = [t for name in texts for t in texts[name]]
    representation = representation_create("tfidf").fit([*train, "my card is declined when paying"])
    model = classifier_train(representation.transform(train), train,
                             [str(themes[name].pk) for name in texts for _ in texts[name]], seed=0)
    model_version_save(kind="classifier", backend="tfidf", artifact=model, metrics={}, activate=True)
    ticket = queue["tickets"][0]
    TicketAnalysis.objects.filter(ticket=ticket).update(
        text="my card is declined when paying",
        vector=representation.transform(["my card is declined when paying"])[0].astype(np.float32).tobytes())

    row = client_for(support_lead).get(_row(ticket.pk), **HTMX).content.decode()

    guesses = row[row.index("Model's guesses"):row.index('data-action="pick"')]
    assert "Card declined" in guesses and "31%" not in guesses  # scored now, not the stored 31%
    assert guesses.count('name="theme"') <= 3


def test_most_affected_puts_the_biggest_customers_first(client_for, support_lead, queue) -> None:
    from tickets.models import Organization

    small = queue["tickets"][5]
    Organization.objects.filter(pk=small.organization_id).update(arr=Decimal("100"))
    rich = Organization.objects.create(source=small.source, external_id="big", name="Bigco", arr=Decimal("900000"))
    queue["tickets"][3].__class__.objects.filter(pk=queue["tickets"][3].pk).update(organization=rich)
    # The statistics refresh's catch-up copies changed organizations and ARR onto the queue.
    assert triage_order_refresh() == 6

    page = client_for(support_lead).get(reverse("triage"), {"order": "affected"}).content.decode()

    assert page.index(queue["tickets"][3].subject) < page.index(queue["tickets"][5].subject)
    assert "annual recurring revenue" in page
    assert triage_order_refresh() == 0


def test_the_refresh_of_a_day_copies_the_order_of_its_queued_tickets(queue) -> None:
    """Each queued ticket of a rebuilt day gets its created time and ARR (none: -1); other days wait."""
    TicketAnalysis.objects.update(triage_created_at=None, triage_arr=Decimal(7))
    ThemeStatDirtyDay.objects.all().delete()  # the days analysing the fixture's tickets marked
    ThemeStatDirtyDay.objects.create(day=date(2026, 3, 1))

    assert theme_stats_refresh() == 1

    copies = {a.ticket_id: (a.triage_created_at, a.triage_arr) for a in TicketAnalysis.objects.all()}
    assert copies == {t.pk: (t.created_at, Decimal(-1)) if t.created_at.day == 1 else (None, Decimal(7))
                      for t in queue["tickets"]}


def test_most_affected_orders_like_the_organizations_arr_then_newest(client_for, support_lead, queue) -> None:
    from tickets.models import Organization, Ticket

    arrs = [Decimal("5000"), None, Decimal("5000"), Decimal("0"), Decimal("120000"), None]
    for ticket, arr in zip(queue["tickets"], arrs, strict=True):
        org = Organization.objects.create(source=ticket.source, external_id=f"o-{ticket.pk}", name="Org", arr=arr)
        Ticket.objects.filter(pk=ticket.pk).update(organization=org)
    triage_order_refresh()
    expected = Ticket.objects.filter(pk__in=[t.pk for t in queue["tickets"]]).order_by(
        F("organization__arr").desc(nulls_last=True), "-created_at", "-id")

    page = client_for(support_lead).get(reverse("triage"), {"order": "affected"})

    assert [row.ticket_id for row in page.context["page"].object_list] == [t.pk for t in expected]


def test_confirming_the_guess_files_the_ticket_records_it_and_swaps_the_row(client_for, support_lead, queue) -> None:
    ticket = queue["tickets"][0]

    response = client_for(support_lead).post(
        reverse("triage_file", args=[ticket.pk]), {"theme": queue["cards"].pk}, **HTMX
    )

    body = response.content.decode()
    assert body.lstrip().startswith("<li") and 'data-mode="done"' in body and "Card declined" in body
    row = TicketTheme.objects.get(ticket=ticket)
    assert (row.theme, row.method, row.assigned_by) == (queue["cards"], AssignmentMethod.MANUAL, support_lead)
    change = ThemeChange.objects.get()
    assert (change.user, change.before, change.after) == (support_lead, {"themes": []}, {"themes": ["Card declined"]})
    assert TicketAnalysis.objects.get(ticket=ticket).needs_triage is False


def test_a_filed_ticket_leaves_the_queue(client_for, support_lead, queue) -> None:
    client = client_for(support_lead)
    ticket = queue["tickets"][0]
    client.post(reverse("triage_file", args=[ticket.pk]), {"theme": queue["export"].pk}, **HTMX)

    page = client.get(reverse("triage")).content.decode()

    assert f'id="triage-row-{ticket.pk}"' not in page and "5 tickets" in page


def test_picking_another_theme_offers_the_active_themes_only(client_for, support_lead, queue, active_theme) -> None:
    active_theme("Maybe later", ThemeStatus.SUGGESTED)

    body = client_for(support_lead).get(_row(queue["tickets"][0].pk, "pick"), **HTMX).content.decode()

    assert "CSV export limit" in body and "Card declined" in body and "Maybe later" not in body
    assert 'data-filter-select' in body


def test_filing_under_a_theme_that_is_not_active_is_refused_in_the_row(client_for, support_lead, queue) -> None:
    archived = Theme.objects.create(name="Old", status=ThemeStatus.ARCHIVED)

    response = client_for(support_lead).post(
        reverse("triage_file", args=[queue["tickets"][0].pk]), {"theme": archived.pk}, **HTMX
    )

    assert "no longer active" in response.content.decode()
    assert not TicketTheme.objects.exists()


def test_a_new_theme_is_created_and_the_ticket_filed_under_it(client_for, support_lead, queue) -> None:
    ticket = queue["tickets"][4]

    body = client_for(support_lead).post(
        reverse("triage_new_theme", args=[ticket.pk]), {"name": "  Okta   sign-in loop "}, **HTMX
    ).content.decode()

    theme = Theme.objects.get(name="Okta sign-in loop")
    assert (theme.status, theme.created_by) == (ThemeStatus.ACTIVE, support_lead)
    assert TicketTheme.objects.get(ticket=ticket).theme == theme
    assert "Okta sign-in loop" in body and 'data-mode="done"' in body
    assert set(ThemeChange.objects.values_list("action", flat=True)) == {"create", "retag"}


def test_a_new_theme_needs_a_name(client_for, support_lead, queue) -> None:
    body = client_for(support_lead).post(
        reverse("triage_new_theme", args=[queue["tickets"][4].pk]), {"name": ""}, **HTMX
    ).content.decode()

    assert "Give the new theme a name" in body and 'data-mode="new"' in body
    assert not Theme.objects.filter(name="").exists()


def test_a_plain_form_post_goes_back_to_the_queue(client_for, support_lead, queue) -> None:
    response = client_for(support_lead).post(
        reverse("triage_file", args=[queue["tickets"][0].pk]), {"theme": queue["cards"].pk}
    )

    assert response.status_code == 302 and response["Location"] == reverse("triage")


def test_an_unknown_ticket_is_404(client_for, support_lead, db) -> None:
    assert client_for(support_lead).get(_row(999999), **HTMX).status_code == 404


def test_the_queue_reads_a_page_in_a_fixed_number_of_queries(
    client_for, support_lead, source, active_theme, django_assert_max_num_queries, django_capture_on_commit_callbacks
) -> None:
    from tickets.records import ticket_record_from_dict
    from tickets.services import ingest_records

    with django_capture_on_commit_callbacks(execute=True):
        ingest_records(source=source, records=[
            ticket_record_from_dict({"external_id": f"Q-{i}", "subject": f"Question {i}", "body": "Something odd",
                                     "created_at": "2026-03-01T10:00:00Z", "organization": f"Org {i}", "plan": "pro"})
            for i in range(30)
        ])
    guess = active_theme("Something odd")
    TicketAnalysis.objects.update(best_theme=guess, best_confidence=0.2)
    client = client_for(support_lead)

    # session, user, permissions, the page's count and rows, the model and corrections
    with django_assert_max_num_queries(10):
        response = client.get(reverse("triage"))
    assert len(response.context["page"].object_list) == 20


def test_an_empty_queue_says_what_to_do_next(client_for, support_lead, db) -> None:
    page = client_for(support_lead).get(reverse("triage")).content.decode()

    assert "The queue is empty" in page and reverse("suggested_themes") in page


def test_the_keyboard_script_is_served_with_the_page(client_for, support_lead, queue) -> None:
    page = client_for(support_lead).get(reverse("triage")).content.decode()

    assert "js/curation.js" in page and "data-triage" in page and 'data-action="confirm"' in page


def test_a_plain_filing_post_never_returns_off_site(client_for, support_lead, queue) -> None:
    response = client_for(support_lead).post(reverse("triage_file", args=[queue["tickets"][0].pk]),
                                             {"theme": queue["cards"].pk, "next": "https://evil.example/"})

    assert response.status_code == 302 and response["Location"] == reverse("triage")
