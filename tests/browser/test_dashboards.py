"""A product manager's walk through the dashboards in Chromium, with screenshots of each page."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from insights.models import AssignmentMethod, Theme, ThemeStatus, TicketAnalysis, TicketTheme
from insights.services import spikes_check, theme_stats_mark_dirty, theme_stats_refresh
from roadmap.models import BacklogItem, ThemeLink
from tests.browser.conftest import screenshot
from tickets.demo import SPIKE_DAYS_AGO, demo_records, demo_truth
from tickets.demo_catalog import AREAS, PROBLEMS, PROBLEMS_BY_KEY
from tickets.services import ingest_records

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TICKETS = 1200


def _demo_with_themes(source) -> dict[str, Theme]:
    """Demo traffic ending today, each ticket in the themes of the problems it raises (the demo's
    truth stands in for a trained model), statistics and spikes computed by the real services."""
    today = timezone.localdate()
    ingest_records(source=source, records=demo_records(count=TICKETS, seed=3, today=today))
    truth = demo_truth(count=TICKETS, seed=3, today=today)
    areas = {a.key: Theme.objects.create(name=a.name, status=ThemeStatus.ACTIVE) for a in AREAS}
    themes = {p.key: Theme.objects.create(name=p.title, status=ThemeStatus.ACTIVE, parent=areas[p.area])
              for p in PROBLEMS}
    rng = random.Random(3)
    sentences = dict(TicketAnalysis.objects.values_list("ticket__external_id", "sentences"))
    rows = []
    for ticket_id, external_id in source.tickets.values_list("id", "external_id"):
        said = sentences.get(external_id) or [""]
        rows += [TicketTheme(ticket_id=ticket_id, theme=themes[key], method=AssignmentMethod.MODEL,
                             confidence=round(rng.uniform(0.62, 0.98), 2),
                             explanation={"sentence": _closest(said, PROBLEMS_BY_KEY[key]), "terms": []})
                 for key in truth[external_id]]
    TicketTheme.objects.bulk_create(rows)
    theme_stats_mark_dirty(ticket_ids=list(source.tickets.values_list("id", flat=True)))
    while theme_stats_refresh():
        pass
    for days_ago in range(SPIKE_DAYS_AGO + 3, SPIKE_DAYS_AGO - 8, -1):
        spikes_check(on=today - timedelta(days=days_ago))
    return themes


def _words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z']+", text.lower()) if len(word) > 3}


def _closest(sentences: list[str], problem) -> str:
    """The sentence sharing most words with what the problem's customers say (the model's stand-in)."""
    vocabulary = _words(" ".join([problem.title, *problem.subjects, *problem.says]))
    return max(sentences, key=lambda sentence: len(_words(sentence) & vocabulary))


def test_a_product_manager_explores_themes_from_the_dashboard(page, sign_in, product_manager, source) -> None:
    themes = _demo_with_themes(source)
    cards = themes["card_declined_abroad"]
    item = BacklogItem.objects.create(title="3-D Secure checkout for foreign cards", status="planned",
                                      external_key="PAY-142")
    ThemeLink.objects.create(theme=cards, item=item, linked_by=product_manager)

    sign_in(product_manager)
    page.get_by_role("heading", name="Top themes").wait_for()
    page.locator(".chart .plotly").first.wait_for()
    page.wait_for_function("!document.querySelector('.pending')")  # the customers column, loaded by htmx
    screenshot(page, "dashboard")

    # A shorter period: picking a preset applies it and lands in a shareable URL.
    page.get_by_label("Period").select_option("7")
    page.wait_for_url(re.compile(r"period=7"))
    assert page.get_by_label("Period").input_value() == "7"
    page.get_by_label("Period").select_option("90")
    page.wait_for_url(re.compile(r"period=90"))

    # Drill into the busiest theme, then open the tickets behind its number.
    top = page.locator(".dash-grid table").first.locator("tbody tr").first
    name = top.locator("td").first.locator("a").inner_text()
    top.locator("td").first.locator("a").click()
    page.get_by_role("heading", name=name, exact=True).wait_for()
    assert "period=90" in page.url
    page.get_by_role("heading", name="Representative tickets").wait_for()
    assert page.locator(".excerpt mark").count() > 0
    page.locator(".kpis a.stat").first.click()
    page.get_by_role("heading", name="Tickets").wait_for()
    assert "theme=" in page.url and "created_after=" in page.url
    assert page.locator("table.table tbody tr").count() > 0
    page.get_by_text(f"Theme: {name}").wait_for()  # the list says what it is a drill-down of
    page.get_by_label("Channel").select_option("chat")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"channel=chat"))
    assert "theme=" in page.url  # refining keeps the theme and the period

    page.goto(f"/themes/{cards.pk}/?period=90")
    page.get_by_text("3-D Secure checkout for foreign cards").wait_for()
    screenshot(page, "theme")

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Themes").click()
    page.get_by_role("heading", name="Themes").wait_for()
    page.get_by_label("Search").fill("card")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"q=card"))
    page.get_by_role("link", name="Reset").click()
    page.locator("thead").get_by_role("link", name="Tickets").click()  # busiest first
    page.wait_for_url(re.compile(r"sort=-volume"))
    screenshot(page, "themes")

    nav.get_by_role("link", name="Dashboard").click()
    page.get_by_role("link", name="Compare periods").click()
    page.get_by_role("heading", name="Grew").wait_for()
    screenshot(page, "compare")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename.startswith("threadline-compare-")
