from __future__ import annotations

import pytest
from django.utils import timezone

from tests.browser.conftest import screenshot
from tests.connectors.fake_zendesk import EMAIL, TOKEN, FakeZendesk
from tests.connectors.server import serving
from tickets.crypto import secrets_decrypt
from tickets.models import Source, SyncRun, SyncRunStatus, SyncTrigger, Ticket
from tickets.services import source_configure

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_connects_zendesk_tests_it_and_syncs_it(page, sign_in, admin_user) -> None:
    fake = FakeZendesk()
    fake.add_ticket(1, "Cannot log in", 101, [(101, "I cannot log in since the update.", True)])
    fake.add_ticket(2, "Refund", 102, [(102, "Refund please.", True), (9, "Done, refunded.", True)])
    fake.add_ticket(3, "Export", 101, [(101, "The CSV export stops at 10%.", True)])
    with serving(fake) as base_url:
        sign_in(admin_user)
        page.get_by_role("link", name="Sources", exact=True).click()
        page.get_by_text("No sources yet").wait_for()
        page.get_by_label("Kind of source").select_option("zendesk")
        page.get_by_role("button", name="Add source").click()

        page.get_by_role("heading", name="Add a Zendesk Support source").wait_for()
        page.get_by_label("Name").fill("Zendesk EU")
        page.get_by_label("Subdomain").fill("acme")
        page.get_by_label("Agent email").fill(EMAIL)
        page.get_by_label("API token").fill(TOKEN)
        page.get_by_label("Base URL").fill(base_url)
        page.get_by_label("Sync every (minutes)").fill("30")
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "source-form")
        page.get_by_role("button", name="Add source").click()

        page.get_by_text("Source “Zendesk EU” added.").wait_for()
        assert TOKEN not in page.content()
        page.get_by_role("button", name="Test connection").click()
        page.get_by_text("Signed in as Ada Agent (admin); 3 tickets").wait_for()

        page.get_by_role("button", name="Sync now").click()
        status = page.locator("#sync-status")
        status.get_by_text("Succeeded").wait_for()
        assert status.locator(".stat", has_text="created").locator("b").inner_text() == "3"
        assert status.locator(".stat", has_text="fetched").locator("b").inner_text() == "3"
        history = page.locator("table.source-runs tbody tr")
        assert history.count() == 1
        assert "Started by hand" in history.first.inner_text() and admin_user.email in history.first.inner_text()
        page.get_by_role("button", name="Test connection").click()
        page.get_by_text("Signed in as Ada Agent").wait_for()
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "source")

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Sources").click()
        row = page.locator("table.source-table tbody tr", has_text="Zendesk EU")
        assert "every 30 min" in row.inner_text() and "Succeeded" in row.inner_text()
        screenshot(page, "sources")

    source = Source.objects.get(name="Zendesk EU")
    assert secrets_decrypt(source.credentials_encrypted) == {"api_token": TOKEN}
    assert Ticket.objects.filter(source=source).count() == 3


def test_the_source_page_follows_a_running_sync_until_it_finishes(page, sign_in, admin_user) -> None:
    source, _ = source_configure(
        name="Support inbox", kind="zendesk", settings_update={"subdomain": "acme", "email": EMAIL}, secrets_update={}
    )
    run = SyncRun.objects.create(
        source=source,
        trigger=SyncTrigger.SCHEDULE,
        status=SyncRunStatus.RUNNING,
        started_at=timezone.now(),
        fetched=400,
        created=380,
        updated=20,
        progress_done=400,
        progress_total=1200,
    )
    sign_in(admin_user)
    page.goto(f"/sources/{source.pk}/")
    status = page.locator("#sync-status")
    status.get_by_text("400 fetched of about 1,200 (33%)").wait_for()
    assert "Running" in page.locator("table.source-runs tbody tr").first.inner_text()
    screenshot(page, "source-syncing")

    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRunStatus.SUCCEEDED, finished_at=timezone.now(), fetched=1200, created=1150, updated=50,
        progress_done=1200,
    )

    status.get_by_text("Succeeded").wait_for()
    assert status.locator(".stat", has_text="created").locator("b").inner_text() == "1,150"
    # The history reloads itself when the followed run is done.
    page.locator("table.source-runs tbody tr", has_text="Succeeded").wait_for()
    assert "1,200" in page.locator("table.source-runs tbody tr").first.inner_text()


def test_an_admin_adds_a_webhook_source_and_sees_its_secret_once(page, sign_in, admin_user) -> None:
    sign_in(admin_user)
    page.goto("/sources/")
    page.get_by_label("Kind of source").select_option("webhook")
    page.get_by_role("button", name="Add source").click()
    page.get_by_label("Name").fill("Status page")
    page.get_by_role("button", name="Add source").click()
    page.get_by_text("No signing secret yet").wait_for()

    page.get_by_role("button", name="Create secret").click()

    secret = page.get_by_label("New webhook secret").input_value()
    assert len(secret) >= 40 and "/api/webhooks/Status%20page/" in page.get_by_label("Delivery URL").input_value()
    screenshot(page, "source-webhook")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="Status page").click()
    page.get_by_text("A signing secret is set.").wait_for()
    assert secret not in page.content()
