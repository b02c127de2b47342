"""From accepted themes and people's corrections to a trained, versioned assignment model."""

from __future__ import annotations

import pytest

from insights.models import AssignmentMethod, ModelKind, ModelVersion, Theme, ThemeStatus, TicketAnalysis, TicketTheme
from insights.services import classifier_retrain, representation_fit, ticket_retag, tickets_assign

pytestmark = pytest.mark.django_db

PROBLEMS = {
    "Card declined abroad": ["my card is declined abroad", "card payment fails in spain", "declined card when travelling",
                             "card refused at a shop in france", "payment declined on holiday abroad"],
    "CSV export cut off": ["csv export stops at 10000 rows", "export is cut off", "the csv file is incomplete",
                           "export only has part of the rows", "exported csv missing rows"],
}


@pytest.fixture
def labelled(source, django_capture_on_commit_callbacks):
    from tickets.records import ticket_record_from_dict
    from tickets.services import ingest_records

    records = [
        ticket_record_from_dict({"external_id": f"{name[:4]}-{i}", "body": text, "created_at": "2026-03-01"})
        for name, texts in PROBLEMS.items() for i, text in enumerate(texts)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        ingest_records(source=source, records=records)
    representation_fit()
    themes = {name: Theme.objects.create(name=name, status=ThemeStatus.ACTIVE) for name in PROBLEMS}
    for name, theme in themes.items():
        for ticket in source.tickets.filter(external_id__startswith=name[:4]):
            TicketTheme.objects.create(ticket=ticket, theme=theme, confidence=0.8, method=AssignmentMethod.DISCOVERY)
    return themes


def test_retraining_makes_an_active_version_that_assigns_new_tickets(labelled, source, django_capture_on_commit_callbacks) -> None:
    from tickets.records import ticket_record_from_dict
    from tickets.services import ingest_records

    with django_capture_on_commit_callbacks(execute=True):
        version = classifier_retrain()
    assert version is not None and version.is_active and version.kind == ModelKind.CLASSIFIER
    assert version.training_size == 10 and "holdout_accuracy" in version.metrics

    with django_capture_on_commit_callbacks(execute=True):
        ingest_records(source=source, records=[ticket_record_from_dict(
            {"external_id": "new-1", "body": "my card was declined while abroad in italy", "created_at": "2026-03-02"})])
    analysis = TicketAnalysis.objects.get(ticket__external_id="new-1")
    assert analysis.classifier_version == version
    assert analysis.best_theme == labelled["Card declined abroad"]


def test_a_ticket_whose_text_changes_is_assigned_again(labelled, source, django_capture_on_commit_callbacks) -> None:
    from tickets.records import ticket_record_from_dict
    from tickets.services import ingest_records

    def ingest(body: str) -> TicketAnalysis:
        record = ticket_record_from_dict({"external_id": "moved-1", "body": body, "created_at": "2026-03-02"})
        with django_capture_on_commit_callbacks(execute=True):
            ingest_records(source=source, records=[record])
        return TicketAnalysis.objects.get(ticket__external_id="moved-1")

    with django_capture_on_commit_callbacks(execute=True):
        classifier_retrain()
    assert ingest("my card was declined while abroad in italy").best_theme == labelled["Card declined abroad"]

    changed = ingest("the csv export stops early and rows are missing")

    assert changed.best_theme == labelled["CSV export cut off"]
    assert list(TicketTheme.objects.filter(ticket_id=changed.pk).values_list("theme__name", flat=True)) == [
        "CSV export cut off"
    ]


def test_the_model_never_overwrites_a_persons_decision(labelled, source, support_lead) -> None:
    ticket = source.tickets.get(external_id="Card-0")
    ticket_retag(ticket=ticket, themes=[labelled["CSV export cut off"]], user=support_lead)
    classifier_retrain()

    tickets_assign(ticket_ids=[ticket.pk])

    assert list(TicketTheme.objects.filter(ticket=ticket).values_list("theme__name", "method")) == [
        ("CSV export cut off", "manual")
    ]


def test_a_worse_model_is_kept_inactive(labelled) -> None:
    first = classifier_retrain()
    first.metrics["holdout_accuracy"] = 1.01  # pretend the active model is unbeatable
    first.save(update_fields=["metrics"])

    second = classifier_retrain()

    assert not second.is_active and "worse" in second.note
    assert ModelVersion.objects.get(kind=ModelKind.CLASSIFIER, is_active=True) == first


def test_retraining_waits_for_enough_corrections(labelled, source, support_lead, settings) -> None:
    from insights.services import classifier_retrain_if_needed

    settings.THREADLINE_RETRAIN_AFTER_CORRECTIONS = 2
    assert classifier_retrain_if_needed() is not None  # no model yet
    assert classifier_retrain_if_needed() is None  # nothing changed since

    ticket_retag(ticket=source.tickets.get(external_id="Card-1"), themes=[labelled["Card declined abroad"]], user=support_lead)
    assert classifier_retrain_if_needed() is None
    ticket_retag(ticket=source.tickets.get(external_id="CSV -1"), themes=[labelled["CSV export cut off"]], user=support_lead)
    assert classifier_retrain_if_needed() is not None


def test_an_assignment_says_which_words_drove_it(labelled, source, support_lead, django_capture_on_commit_callbacks) -> None:
    from insights.selectors import ticket_theme_reason
    from tickets.records import ticket_record_from_dict
    from tickets.services import ingest_records

    with django_capture_on_commit_callbacks(execute=True):
        classifier_retrain()
        ingest_records(source=source, records=[ticket_record_from_dict(
            {"external_id": "why-1", "body": "Hello. My card is declined abroad again.", "created_at": "2026-03-02"})])
    assigned = TicketTheme.objects.get(ticket__external_id="why-1")

    reason = ticket_theme_reason(ticket_theme=assigned)

    assert reason.method == "model" and reason.confidence == assigned.confidence
    assert {"declined", "abroad"} & {term for term, _ in reason.terms}
    ticket_retag(ticket=assigned.ticket, themes=[labelled["Card declined abroad"]], user=support_lead)
    manual = ticket_theme_reason(ticket_theme=TicketTheme.objects.get(ticket__external_id="why-1"))
    assert (manual.method, manual.by) == ("manual", support_lead.email)


def test_training_keeps_every_manual_label_and_caps_the_rest_per_theme(labelled, source, support_lead, monkeypatch) -> None:
    monkeypatch.setattr("insights.services.learning.RETRAIN_PER_THEME", 2)
    ticket_retag(ticket=source.tickets.get(external_id="Card-0"), themes=[labelled["CSV export cut off"]],
                 user=support_lead)
    ticket_retag(ticket=source.tickets.get(external_id="Card-1"), themes=[labelled["Card declined abroad"]],
                 user=support_lead)

    first = classifier_retrain(seed=3)
    second = classifier_retrain(seed=3)

    assert first is not None and second is not None
    # Two manual labels, plus two sampled discovery members for each of the two themes.
    assert (first.training_size, first.manual_labels) == (2 + 2 * 2, 2)
    assert first.metrics["labelled_tickets"] == 10
    assert second.metrics["holdout_accuracy"] == first.metrics["holdout_accuracy"]
