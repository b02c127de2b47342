"""Discovery over the triage pool of real (generated) support traffic, end to end."""

from __future__ import annotations

from datetime import date

import pytest

from insights.models import DiscoveryRunStatus, Theme, ThemeStatus, TicketAnalysis
from insights.services import classifier_retrain, discovery_run, theme_accept
from tickets.demo import demo_records
from tickets.services import ingest_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(source, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ingest_records(source=source, records=demo_records(count=400, seed=3, today=date(2026, 3, 30)))


def test_the_first_discovery_proposes_named_themes_for_review(demo) -> None:
    run = discovery_run()

    assert run.status == DiscoveryRunStatus.SUCCEEDED and run.pool_size > 350
    suggested = Theme.objects.filter(status=ThemeStatus.SUGGESTED, parent__isnull=False)
    assert suggested.count() >= 5
    for theme in suggested:
        assert 2 <= len(theme.name.split()) <= 5 or theme.name
        assert theme.suggested_size == theme.ticket_themes.count() > 0
        assert theme.example_ticket_ids
    assert {t["id"] for t in run.report["new"]} >= set(suggested.values_list("pk", flat=True))


def test_accepted_themes_keep_their_ids_on_the_next_run(demo, support_lead, django_capture_on_commit_callbacks) -> None:
    discovery_run()
    accepted = list(Theme.objects.filter(status=ThemeStatus.SUGGESTED, parent__isnull=False))
    for theme in accepted:
        theme_accept(theme=theme, user=support_lead)
    with django_capture_on_commit_callbacks(execute=True):
        classifier_retrain()
    themed = TicketAnalysis.objects.filter(needs_triage=False).count()
    assert themed > 200

    second = discovery_run()

    assert Theme.objects.filter(pk__in=[t.pk for t in accepted], status=ThemeStatus.ACTIVE).count() == len(accepted)
    assert second.pool_size < 400 - 200
    assert set(second.report["kept"]) <= {str(t.pk) for t in accepted}
