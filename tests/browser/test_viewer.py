"""A viewer (the rest of the company) reads every dashboard in Chromium and can change nothing."""

from __future__ import annotations

import pytest

from roadmap.models import BacklogItem, Escalation, EscalationSeverity, ThemeLink
from tests.browser.test_dashboards import _demo_with_themes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_viewer_reads_dashboards_themes_roadmap_and_escalations_without_any_action(
    page, sign_in, viewer, source, support_lead
) -> None:
    themes = _demo_with_themes(source)
    theme = themes["card_declined_abroad"]
    item = BacklogItem.objects.create(title="3-D Secure for cards issued abroad")
    ThemeLink.objects.create(theme=theme, item=item)
    escalation = Escalation.objects.create(theme=theme, severity=EscalationSeverity.HIGH, note="Enterprise churn risk",
                              raised_by=support_lead)
    sign_in(viewer)

    nav = page.get_by_role("navigation", name="Main")
    for section in ("Dashboard", "Themes", "Tickets", "Roadmap", "Escalations"):
        assert nav.get_by_role("link", name=section, exact=True).is_visible()
    for section in ("Triage", "Suggested", "Sources", "Import"):
        assert nav.get_by_role("link", name=section, exact=True).count() == 0

    page.get_by_role("link", name=theme.name).first.click()
    page.get_by_role("heading", name=theme.name).wait_for()
    assert page.get_by_text("3-D Secure for cards issued abroad").is_visible()
    assert page.get_by_text("Escalate theme").count() == 0
    assert page.get_by_text("Create item").count() == 0

    nav.get_by_role("link", name="Roadmap", exact=True).click()
    page.get_by_role("link", name="3-D Secure for cards issued abroad").wait_for()
    assert page.get_by_role("link", name="New item").count() == 0

    nav.get_by_role("link", name="Escalations", exact=True).click()
    page.get_by_text("Enterprise churn risk").first.wait_for()
    page.goto(f"/escalations/{escalation.pk}/")
    page.get_by_text("Enterprise churn risk").first.wait_for()
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    assert page.get_by_role("button", name="Resolve").count() == 0
