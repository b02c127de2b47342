"""The support lead's and the product manager's flows in a real browser: triage by keyboard and by
click, accept a suggested theme, escalate a ticket, link the escalation to a backlog item."""

from __future__ import annotations

from typing import Any

import pytest

from insights.models import AssignmentMethod, Theme, ThemeStatus, TicketAnalysis, TicketTheme
from insights.services import classifier_retrain, ticket_retag
from roadmap.models import BacklogItem, Escalation
from roadmap.services import escalation_raise, escalation_update
from tests.browser.conftest import screenshot
from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONVERSATIONS = {
    "Card declined abroad": [
        ("Card declined in Spain", "My card is declined every time I pay in Spain.", "Northwind", 240_000),
        ("Payment fails abroad", "Paying with my card fails when I travel to Portugal.", "Globex", 18_000),
        ("Declined card on holiday", "The card gets declined at shops abroad, works at home.", "Initech", 9_500),
        ("Foreign card payment refused", "Card payment refused in Italy, bank says it is fine.", "Acme", 52_000),
    ],
    "CSV export cut off": [
        ("CSV export stops at 10,000 rows", "The CSV export stops at 10,000 rows, we need all of them.", "Acme",
         52_000),
        ("Export incomplete", "Our export file is cut off after 10000 lines.", "Globex", 18_000),
        ("Missing rows in export", "Rows are missing from the CSV export of last month.", "Northwind", 240_000),
        ("CSV download truncated", "The CSV download is truncated for big reports.", "Umbrella", 7_200),
    ],
    "SSO login loop": [
        ("Okta sends me back to login", "Signing in with Okta sends me back to the login page.", "Initech", 9_500),
        ("SSO loop", "SSO login loops forever after the Okta screen.", "Northwind", 240_000),
        ("Cannot sign in with SAML", "SAML sign in redirects to the login page again.", "Umbrella", 7_200),
        ("Login loop with Azure AD", "Azure AD single sign-on keeps looping back to login.", "Acme", 52_000),
    ],
}
UNSURE = [
    ("Charged in euros but card refused", "Card was refused at checkout in euros.", "Hooli", 310_000),
    ("Report export is short", "The exported report is missing the last rows.", "Globex", 18_000),
    ("Dark mode request", "Would love a dark mode for the dashboard.", "Acme", 52_000),
    ("Invoices in another currency", "Can invoices be issued in Swiss francs?", "Initech", 9_500),
]
# Left to the model: the ticket page shows the theme it chose and why.
MODEL_THEMED = [
    ("Card declined in France", "Hi, my card was declined again when I paid abroad in France. Card works at home.",
     "Northwind", 240_000),
]
SUGGESTED = [
    ("Webhook retries missing", "Webhooks are not retried when our endpoint is down.", "Northwind", 240_000),
    ("Webhook delivery failed", "Webhook delivery failed and never came back.", "Umbrella", 7_200),
    ("No webhook retry", "We lost events: no retry after a webhook timeout.", "Acme", 52_000),
]


def _record(index: int, subject: str, body: str, org: str, arr: int) -> Any:
    return ticket_record_from_dict({
        "external_id": f"S-{index}", "subject": subject, "created_at": f"2026-03-{1 + index % 27:02d}T09:00:00Z",
        "organization": org, "arr": arr, "plan": "enterprise" if arr > 100_000 else "pro",
        "channel": "chat" if index % 2 else "email", "requester_name": f"Customer {index}",
        "requester_email": f"customer{index}@{org.lower()}.test",
        "messages": [
            {"body": body, "role": "customer"},
            {"body": "Thanks for reaching out! I have passed this to the team.", "role": "agent",
             "author_name": "Jo from Support"},
        ],
    })


@pytest.fixture
def workspace(source, support_lead, settings, tmp_path) -> dict[str, Any]:
    """Three themes a lead already curated, a trained model, four unsure tickets, one suggestion."""
    settings.DATA_DIR = tmp_path
    rows = [row for rows in CONVERSATIONS.values() for row in rows] + UNSURE + SUGGESTED + MODEL_THEMED
    ingest_records(source=source, records=[_record(i, *row) for i, row in enumerate(rows)])
    tickets = {t.subject: t for t in source.tickets.all()}
    themes = {name: Theme.objects.create(name=name, status=ThemeStatus.ACTIVE) for name in CONVERSATIONS}
    for name, conversations in CONVERSATIONS.items():
        for subject, *_ in conversations:
            ticket_retag(ticket=tickets[subject], themes=[themes[name]], user=support_lead)
    classifier_retrain()
    guesses = ["Card declined abroad", "CSV export cut off", None, None]
    for (subject, *_), guess in zip(UNSURE, guesses, strict=True):
        TicketAnalysis.objects.filter(ticket=tickets[subject]).update(
            needs_triage=True, best_theme=themes[guess] if guess else None, best_confidence=0.34 if guess else None
        )
    suggestion = Theme.objects.create(
        name="webhook retry delivery", keywords=["webhook", "retry", "delivery", "endpoint"],
        status=ThemeStatus.SUGGESTED, example_ticket_ids=[tickets[s].pk for s, *_ in SUGGESTED],
        suggested_size=len(SUGGESTED),
    )
    for subject, *_ in SUGGESTED:
        TicketTheme.objects.create(ticket=tickets[subject], theme=suggestion, confidence=0.8,
                                   method=AssignmentMethod.DISCOVERY)
    return {"tickets": tickets, "themes": themes, "suggestion": suggestion}


def test_a_support_lead_triages_reviews_and_escalates_and_a_pm_links_it(
    page, sign_in, support_lead, product_manager, workspace
) -> None:
    tickets, themes = workspace["tickets"], workspace["themes"]
    sign_in(support_lead)

    page.get_by_role("link", name="Triage", exact=True).click()
    page.get_by_text("4 tickets the model could not theme").wait_for()
    page.get_by_role("link", name="Most affected first").click()
    first = page.locator("[data-triage-row]").first
    assert "Charged in euros but card refused" in first.inner_text()  # Hooli has the largest ARR
    screenshot(page, "triage")

    # Keyboard: 1 confirms the model's guess on the current row, and the cursor moves on.
    page.keyboard.press("1")
    page.locator(f"#triage-row-{tickets['Charged in euros but card refused'].pk}[data-mode=done]").wait_for()
    page.locator("[data-triage-row].is-current:not([data-mode=done])").wait_for()
    # j skips "Dark mode request" (Acme); t opens the theme picker on Globex's ticket, typing filters
    # the themes and Enter files it.
    page.keyboard.press("j")
    page.locator("[data-triage-row].is-current:focus").wait_for()  # the keyboard focus moves with the highlight
    page.keyboard.press("t")
    # The picker is focused once htmx has swapped it in and bound its form (htmx:load): typing
    # before that would race the binding and Enter would post the form without htmx.
    page.locator("input[data-filter-select]:focus").wait_for()
    page.get_by_placeholder("Type to filter").fill("csv")
    page.keyboard.press("Enter")
    export_row = page.locator("[data-triage-row][data-mode=done]", has_text="CSV export cut off")
    export_row.wait_for()
    # Click: a new theme for a ticket nothing fits.
    dark = page.locator("[data-triage-row]", has_text="Dark mode request")
    dark.get_by_role("button", name="New theme").click()
    dark_row = page.locator(f"#triage-row-{tickets['Dark mode request'].pk}")
    dark_row.locator("input[name=name]:focus").wait_for()  # swapped in and bound by htmx
    dark_row.get_by_label("New theme").fill("Dark mode")
    dark_row.get_by_role("button", name="Create and file").click()
    page.locator(f"#triage-row-{tickets['Dark mode request'].pk}[data-mode=done]").wait_for()

    assert TicketTheme.objects.get(ticket=tickets["Charged in euros but card refused"]).theme == (
        themes["Card declined abroad"]
    )
    assert TicketTheme.objects.get(ticket=tickets["Report export is short"]).theme == themes["CSV export cut off"]
    assert TicketTheme.objects.get(ticket=tickets["Dark mode request"]).theme.name == "Dark mode"

    page.get_by_role("link", name="Suggested", exact=True).click()
    page.get_by_role("heading", name="webhook retry delivery").wait_for()
    screenshot(page, "suggested-themes")
    page.get_by_role("button", name="Accept").click()
    page.get_by_text("Accepted “webhook retry delivery”").wait_for()
    workspace["suggestion"].refresh_from_db()
    assert workspace["suggestion"].status == ThemeStatus.ACTIVE

    page.goto(f"/tickets/{tickets['Card declined in France'].pk}/")
    page.get_by_text("my card was declined again").wait_for()
    page.locator("summary", has_text="Escalate").click()
    page.get_by_text("Blocks many customers").click()
    page.get_by_label("Note for product").fill("Northwind (our largest account) cannot pay abroad; renewal in May.")
    page.get_by_role("button", name="Escalate to product").click()
    page.get_by_text("escalation raised").wait_for()
    escalation = Escalation.objects.get()  # the only one so far
    assert (escalation.ticket, escalation.severity, escalation.raised_by) == (
        tickets["Card declined in France"], "high", support_lead
    )
    page.reload()
    screenshot(page, "ticket")

    page.get_by_role("button", name="Sign out").click()
    item = BacklogItem.objects.create(title="Retry declined cards with 3-D Secure", status="planned")
    # Two more from earlier in the week, so the list shows what a working week looks like.
    sso = escalation_raise(user=support_lead, theme=themes["SSO login loop"], severity="critical",
                           note="Three enterprise customers cannot sign in with Okta since this morning's release.")
    escalation_update(escalation=sso, user=product_manager, status="acknowledged", note="Rolling back the release.")
    escalation_raise(user=support_lead, theme=themes["CSV export cut off"], severity="medium",
                     note="Finance teams hit the 10,000-row export limit at every month end.")
    sign_in(product_manager)
    page.get_by_role("link", name="Escalations", exact=True).click()
    page.get_by_role("link", name="Card declined in France").wait_for()
    screenshot(page, "escalations")
    page.get_by_role("link", name="Card declined in France").click()
    page.get_by_label("Backlog item").select_option(str(item.pk))
    page.get_by_role("button", name="Link to backlog").click()
    page.get_by_text("linked it to").wait_for()
    escalation.refresh_from_db()
    assert (escalation.backlog_item, escalation.status) == (item, "acknowledged")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "escalation")


def test_a_support_lead_marks_no_request_by_keyboard_and_from_the_ticket_page(
    page, sign_in, support_lead, workspace
) -> None:
    sign_in(support_lead)
    page.goto("/triage/")
    first = page.locator("[data-triage-row]").first
    row_id = first.get_attribute("id") or ""
    ticket_id = int(row_id.rsplit("-", 1)[1])

    # x marks the current row as no request and the cursor moves on; k goes back, u undoes it.
    page.keyboard.press("x")
    page.locator(f"#{row_id}[data-mode=no_request]").wait_for()
    page.locator("[data-triage-row].is-current:not([data-mode=no_request])").wait_for()
    assert TicketAnalysis.objects.get(ticket_id=ticket_id).no_request
    page.keyboard.press("k")
    page.keyboard.press("u")
    page.locator(f"#{row_id}[data-mode=view]").wait_for()
    assert not TicketAnalysis.objects.get(ticket_id=ticket_id).no_request

    # The ticket page swaps its Themes card in place.
    ticket = workspace["tickets"]["Dark mode request"]
    page.goto(f"/tickets/{ticket.pk}/")
    page.get_by_role("button", name="Mark as no request").click()
    page.get_by_text("The customer asked nothing here").wait_for()
    assert TicketAnalysis.objects.get(ticket=ticket).no_request
    page.get_by_role("button", name="It asks something: undo").click()
    page.get_by_role("button", name="Mark as no request").wait_for()
    assert not TicketAnalysis.objects.get(ticket=ticket).no_request


def test_a_support_lead_renames_a_theme_in_place_on_the_themes_list(page, sign_in, support_lead, workspace) -> None:
    themes = workspace["themes"]
    theme = themes["Card declined abroad"]
    sign_in(support_lead)
    page.goto("/themes/")

    cell = page.locator(f"#theme-name-{theme.pk}")
    cell.get_by_role("button", name="Rename “Card declined abroad”").click()
    field = page.locator(f"#rename-{theme.pk}:focus")  # swapped in by htmx and focused
    field.wait_for()
    field.fill("Card payments refused in other countries")
    page.keyboard.press("Enter")
    page.locator(f"#theme-name-{theme.pk}", has_text="renamed from “Card declined abroad”").wait_for()

    theme.refresh_from_db()
    assert theme.name == "Card payments refused in other countries"
    assert page.locator(f"#theme-name-{theme.pk} a").inner_text() == "Card payments refused in other countries"
