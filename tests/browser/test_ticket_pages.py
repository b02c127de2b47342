from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _some_tickets(source) -> None:
    rows = [
        {"external_id": f"B-{i}", "subject": subject, "body": body, "created_at": f"2026-03-{i + 1:02d}T10:00:00Z",
         "requester_email": f"user{i}@acme.test", "requester_name": f"User {i}", "organization": "Acme",
         "plan": "pro", "channel": "chat" if i % 2 else "email", "status": "solved", "csat": 4,
         "messages": [{"body": body, "role": "customer"}, {"body": "Thanks, looking into it.", "role": "agent",
                                                           "author_name": "Jo"}]}
        for i, (subject, body) in enumerate([
            ("Card declined abroad", "Hi, my card keeps getting declined when I pay in Spain."),
            ("CSV export cut off", "The export stops at 10,000 rows, we need all of them."),
            ("SSO login loop", "Signing in with Okta sends me back to the login page."),
        ])
    ]
    ingest_records(source=source, records=[ticket_record_from_dict(r) for r in rows])


def test_a_product_manager_browses_tickets_and_reads_a_conversation(page, sign_in, product_manager, source) -> None:
    _some_tickets(source)
    sign_in(product_manager)
    page.goto("/overview/")
    screenshot(page, "overview")

    page.get_by_role("link", name="Tickets", exact=True).click()
    page.get_by_role("link", name="CSV export cut off").wait_for()
    page.get_by_label("Channel").select_option("chat")
    page.get_by_role("button", name="Filter").click()
    assert page.get_by_role("link", name="Card declined abroad").count() == 0
    page.get_by_role("link", name="Clear").click()
    screenshot(page, "tickets")

    page.get_by_role("link", name="SSO login loop").click()
    page.get_by_text("Signing in with Okta sends me back").wait_for()
    assert page.get_by_text("Thanks, looking into it.").is_visible()
    # A product manager does not import data.
    assert page.get_by_role("link", name="Import").count() == 0
    assert page.get_by_role("link", name="Sources").count() == 0
