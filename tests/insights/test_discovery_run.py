"""Discovery over the triage pool of real (generated) support traffic, end to end."""

from __future__ import annotations

from datetime import date

import pytest

from insights.models import (
    AssignmentMethod,
    DiscoveryPhase,
    DiscoveryRun,
    DiscoveryRunStatus,
    Theme,
    ThemeStatus,
    TicketAnalysis,
    TicketTheme,
)
from insights.services import classifier_retrain, discovery_run, discovery_run_queue, theme_accept
from insights.services import discovery as discovery_services
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
    # Every granular theme (an area is a theme with children; a theme may have no area).
    accepted = list(Theme.objects.filter(status=ThemeStatus.SUGGESTED, children__isnull=True))
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


def test_members_are_recorded_with_their_similarity_as_confidence(demo) -> None:
    run = discovery_run()

    rows = TicketTheme.objects.filter(theme__discovery_run=run)
    assert rows.count() == sum(t["size"] for t in run.report["new"])
    assert set(rows.values_list("method", flat=True)) == {AssignmentMethod.DISCOVERY}
    assert all(0.0 <= c <= 1.0 for c in rows.values_list("confidence", flat=True))
    assert rows.values("ticket_id", "theme_id").distinct().count() == rows.count()


def test_a_page_can_follow_a_queued_run_phase_by_phase(demo, monkeypatch, django_capture_on_commit_callbacks) -> None:
    seen: list[DiscoveryRun] = []
    discover = discovery_services.discover

    def watched(*args, **kwargs):
        # What a polling page reads from the database while the clustering is under way.
        seen.append(DiscoveryRun.objects.get())
        return discover(*args, **kwargs)

    monkeypatch.setattr(discovery_services, "discover", watched)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = discovery_run_queue()
    assert (run.phase, run.progress_percent) == (DiscoveryPhase.QUEUED, 0)

    for callback in callbacks:
        callback()  # the worker picks the task up

    run.refresh_from_db()
    during = seen[0]
    assert during.phase == DiscoveryPhase.CLUSTERING and during.status == DiscoveryRunStatus.RUNNING
    assert during.pool_size == run.pool_size > 350 and 0 < during.progress_percent < 100
    assert run.status == DiscoveryRunStatus.SUCCEEDED and run.phase == DiscoveryPhase.DONE
    assert run.progress_percent == 100 and run.progress_updated_at is not None
    assert DiscoveryRun.objects.count() == 1


def test_a_failed_run_says_where_it_stopped(demo, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(discovery_services, "discover", broken)
    with pytest.raises(RuntimeError):
        discovery_run()

    run = DiscoveryRun.objects.get()
    assert (run.status, run.phase, run.failure) == (DiscoveryRunStatus.FAILED, DiscoveryPhase.FAILED, "out of memory")
    assert not Theme.objects.filter(discovery_run=run).exists()


def test_a_redelivered_task_leaves_a_finished_run_alone(demo) -> None:
    run = discovery_run()
    themes = Theme.objects.count()

    again = discovery_run(run_id=run.pk)

    assert again.pk == run.pk and again.status == DiscoveryRunStatus.SUCCEEDED
    assert Theme.objects.count() == themes and DiscoveryRun.objects.count() == 1


def test_suggestions_keep_their_members_when_the_model_reassigns_tickets(
    demo, support_lead, django_capture_on_commit_callbacks
) -> None:
    """Retraining reassigns every ticket; a suggestion nobody decided on yet must not lose the
    tickets discovery found for it, while an accepted theme's discovery rows give way to the model."""
    discovery_run()
    suggested = list(Theme.objects.filter(status=ThemeStatus.SUGGESTED, parent__isnull=False).order_by("pk"))
    accepted, waiting = suggested[: len(suggested) // 2], suggested[len(suggested) // 2 :]
    members_before = {t.pk: t.ticket_themes.count() for t in waiting}
    for theme in accepted:
        theme_accept(theme=theme, user=support_lead)

    with django_capture_on_commit_callbacks(execute=True):
        classifier_retrain()

    assert {t.pk: t.ticket_themes.count() for t in waiting} == members_before
    assert not TicketTheme.objects.filter(theme__in=accepted, method=AssignmentMethod.DISCOVERY).exists()
    assert TicketTheme.objects.filter(theme__in=accepted, method=AssignmentMethod.MODEL).exists()
