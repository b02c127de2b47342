"""A product manager's walk through the roadmap in Chromium: the board, unaddressed demand, an item
created from a theme in one click, and a shipped item's impact — with screenshots of each page."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from insights.models import AssignmentMethod, Theme, ThemeStatus, TicketTheme
from insights.services import theme_stats_mark_dirty, theme_stats_refresh
from roadmap.models import BacklogItem
from roadmap.services import backlog_item_create
from tests.browser.conftest import screenshot
from tickets.demo import FADING_PROBLEM, demo_records, demo_timeline, demo_truth
from tickets.demo_catalog import AREAS, PROBLEMS
from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TICKETS = 3000
BACKLOG = [
    (FADING_PROBLEM, "Refresh Zapier OAuth tokens before they expire", "bug", "shipped"),
    ("password_reset_email_missing", "Send password reset emails through the transactional provider", "bug",
     "in_progress"),
    ("csv_export_truncated", "Stream CSV exports without the 10,000-row limit", "feature", "planned"),
    ("card_declined_abroad", "Support 3-D Secure for cards issued abroad", "feature", "planned"),
    ("slack_duplicates", "Deduplicate Slack notifications on retries", "bug", "idea"),
    ("report_timezone", "Let each report choose its own time zone", "feature", "wont_do"),
]


def _demo_roadmap(source, pm) -> None:
    """Demo traffic ending today in one theme per demo problem (the demo's truth stands in for a
    trained model), and a backlog whose Zapier fix shipped the day that problem started to fade."""
    today = timezone.localdate()
    ingest_records(source=source, records=demo_records(count=TICKETS, seed=7, today=today))
    truth = demo_truth(count=TICKETS, seed=7, today=today)
    areas = {a.key: Theme.objects.create(name=a.name, status=ThemeStatus.ACTIVE) for a in AREAS}
    themes = {p.key: Theme.objects.create(name=p.title, status=ThemeStatus.ACTIVE, parent=areas[p.area])
              for p in PROBLEMS}
    rng = random.Random(7)
    TicketTheme.objects.bulk_create([
        TicketTheme(ticket_id=ticket_id, theme=themes[key], method=AssignmentMethod.MODEL,
                    confidence=round(rng.uniform(0.62, 0.98), 2))
        for ticket_id, external_id in source.tickets.values_list("id", "external_id") for key in truth[external_id]
    ])
    theme_stats_mark_dirty(ticket_ids=list(source.tickets.values_list("id", flat=True)))
    while theme_stats_refresh():
        pass
    shipped_at = datetime.combine(demo_timeline(today).fade_date, time(12), tzinfo=UTC)
    for index, (problem, title, kind, status) in enumerate(BACKLOG):
        backlog_item_create(user=pm, title=title, kind=kind, status=status, owner=pm, themes=[themes[problem]],
                            external_key=f"PROD-{101 + index}",
                            shipped_at=shipped_at if status == "shipped" else None)


def test_a_product_manager_turns_unaddressed_demand_into_a_backlog_item(page, sign_in, source,
                                                                        product_manager) -> None:
    product_manager.first_name, product_manager.last_name = "Pat", "Product"
    product_manager.save()
    _demo_roadmap(source, product_manager)
    sign_in(product_manager)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Roadmap").click()
    page.wait_for_url("**/roadmap/")
    assert page.get_by_role("link", name="Stream CSV exports without the 10,000-row limit").is_visible()
    screenshot(page, "roadmap")

    page.get_by_role("link", name="Unaddressed demand").first.click()
    page.wait_for_url("**/roadmap/unaddressed/**")
    largest = page.locator("section", has=page.get_by_role("heading", name="Largest"))
    first_theme = largest.locator("tbody tr").first.locator("td").first.locator("a").first.inner_text()
    assert first_theme not in {p for p, *_ in BACKLOG}
    screenshot(page, "unaddressed")

    largest.get_by_role("button", name=f"Create an item from {first_theme}").click()
    done = largest.locator("tr.unaddressed-done")
    done.wait_for()
    assert "Created" in done.inner_text() and first_theme in done.inner_text()
    done.get_by_role("link", name=first_theme).click()
    page.wait_for_url("**/roadmap/items/*/")
    assert page.get_by_role("heading", level=1).inner_text() == first_theme
    created = BacklogItem.objects.get(title=first_theme)
    assert [link.theme.name for link in created.theme_links.all()] == [first_theme]

    page.get_by_role("link", name="Roadmap").first.click()
    page.wait_for_url("**/roadmap/**")
    idea_row = page.locator("tbody.board-idea tr", has=page.get_by_role("link", name=first_theme))
    assert idea_row.count() == 1

    page.get_by_role("link", name="Refresh Zapier OAuth tokens before they expire").click()
    page.wait_for_url("**/roadmap/items/*/**")
    verdict = page.locator(".ship-impact .verdict").inner_text()
    assert verdict.startswith("Down "), verdict
    page.locator(".ship-impact .js-plotly-plot").wait_for()
    screenshot(page, "backlog-item")


def test_a_product_manager_links_a_theme_to_an_item_from_the_theme_page(page, sign_in, source,
                                                                        product_manager) -> None:
    theme = Theme.objects.create(name="CSV export cut off", status=ThemeStatus.ACTIVE)
    Theme.objects.create(name="Login loops", status=ThemeStatus.ACTIVE)
    ingest_records(source=source, records=[ticket_record_from_dict({
        "external_id": f"CSV-{n}", "subject": "Export stops at 10,000 rows", "body": "The CSV export is cut off.",
        "created_at": (timezone.now() - timedelta(days=n + 1)).isoformat(), "requester_email": f"c{n}@acme.test",
    }) for n in range(3)])
    TicketTheme.objects.bulk_create([TicketTheme(ticket=ticket, theme=theme, method=AssignmentMethod.MANUAL,
                                                 confidence=1.0) for ticket in source.tickets.all()])
    theme_stats_mark_dirty(ticket_ids=list(source.tickets.values_list("id", flat=True)))
    while theme_stats_refresh():
        pass
    item = backlog_item_create(user=product_manager, title="Stream CSV exports", status="planned")
    backlog_item_create(user=product_manager, title="Fix login redirects", status="idea")
    sign_in(product_manager)

    page.goto(f"/themes/{theme.pk}/")
    assert "Linked to no backlog item" in page.content()
    page.get_by_label("Backlog item").select_option(label="Stream CSV exports (planned)")
    page.get_by_role("button", name="Link", exact=True).click()
    page.wait_for_url(f"**/themes/{theme.pk}/**")
    linked = page.locator("ul.theme-backlog")
    linked.get_by_role("link", name="Stream CSV exports").wait_for()
    assert "Linked to no backlog item" not in page.content()
    assert "now counts as demand for" in page.locator(".flash, .messages").first.inner_text()
    screenshot(page, "theme-linked-to-item")
    assert [link.theme_id for link in item.theme_links.all()] == [theme.pk]

    linked.get_by_role("link", name="Stream CSV exports").click()
    page.wait_for_url(f"**/roadmap/items/{item.pk}/**")
    themes = page.locator("section.card", has=page.get_by_role("heading", name="Linked themes"))
    assert themes.get_by_role("link", name="CSV export cut off").is_visible()
    assert "3" in themes.locator("tbody tr").first.inner_text()  # its three tickets count as demand
    screenshot(page, "item-linked-from-theme")


def test_a_product_manager_tags_a_shipped_items_tickets_in_zendesk(page, sign_in, product_manager) -> None:
    from tests.connectors.fake_zendesk import EMAIL, TOKEN, FakeZendesk
    from tests.connectors.server import serving
    from tickets.crypto import secrets_encrypt
    from tickets.models import Source, SourceKind

    fake = FakeZendesk()
    with serving(fake):
        desk = Source.objects.create(
            name="Zendesk EU", kind=SourceKind.ZENDESK,
            settings={"subdomain": "acme", "email": EMAIL, "base_url": fake.base_url},
            credentials_encrypted=secrets_encrypt({"api_token": TOKEN}))
        theme = Theme.objects.create(name="CSV export cut off", status=ThemeStatus.ACTIVE)
        for n in (41, 42, 43):
            fake.add_ticket(n, "Export stops at 10,000 rows", 101, [(101, "The CSV export is cut off.", True)])
        ingest_records(source=desk, records=[ticket_record_from_dict({
            "external_id": str(n), "subject": "Export stops at 10,000 rows", "body": "The CSV export is cut off.",
            "created_at": (timezone.now() - timedelta(days=n - 30)).isoformat(), "requester_email": f"c{n}@acme.test",
        }) for n in (41, 42, 43)])
        TicketTheme.objects.bulk_create([TicketTheme(ticket=ticket, theme=theme, method=AssignmentMethod.MANUAL,
                                                     confidence=1.0) for ticket in desk.tickets.all()])
        item = backlog_item_create(user=product_manager, title="Stream CSV exports", status="shipped",
                                   shipped_at=timezone.now() - timedelta(days=2), themes=[theme])
        sign_in(product_manager)

        page.goto(f"/roadmap/items/{item.pk}/")
        form = page.locator("form.tag-back")
        assert "Tag these 3 tickets in the help desk (Zendesk EU)" in form.inner_text()
        assert form.get_by_role("textbox").input_value() == f"threadline-shipped-{item.pk}"
        form.get_by_role("textbox").fill("csv-streaming-shipped")
        form.get_by_role("button", name="Tag tickets").click()
        page.get_by_text("Tagged 3 tickets in Zendesk EU.").wait_for()
        assert "Tagged 3 tickets in Zendesk EU with csv-streaming-shipped" in page.locator(".history").inner_text()
        screenshot(page, "backlog-item-tagged")

    assert fake.tag_updates == [([41, 42, 43], ["csv-streaming-shipped"])]
