from __future__ import annotations

import numpy as np
import pytest

from insights.models import ModelKind, TicketAnalysis
from insights.services import analyses_vectorise, representation_fit, tickets_analyse, vectors_of
from tickets.models import IngestBatch, IngestBatchStatus

pytestmark = pytest.mark.django_db


def test_every_ingested_ticket_is_prepared_and_redacted(tickets) -> None:
    assert all(b.status == IngestBatchStatus.PROCESSED for b in IngestBatch.objects.all())
    analysis = TicketAnalysis.objects.get(ticket__external_id="T-0")
    assert "declined when I pay abroad" in analysis.text
    assert analysis.vector is None and analysis.needs_triage  # no representation fitted yet


def test_fitting_a_representation_vectorises_every_ticket_once(tickets, django_capture_on_commit_callbacks) -> None:
    version = representation_fit()

    assert version.kind == ModelKind.REPRESENTATION and version.is_active
    analyses = list(TicketAnalysis.objects.order_by("ticket_id"))
    vectors = vectors_of(analyses)
    assert vectors.shape[0] == 6
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # Processing the same tickets again recomputes nothing.
    before = [bytes(a.vector) for a in analyses]
    tickets_analyse(ticket_ids=[t.pk for t in tickets])
    assert [bytes(a.vector) for a in TicketAnalysis.objects.order_by("ticket_id")] == before


def test_personal_data_never_reaches_the_stored_text(source, django_capture_on_commit_callbacks) -> None:
    from tickets.records import ticket_record_from_dict
    from tickets.services import ingest_records

    record = ticket_record_from_dict({
        "external_id": "P-1", "created_at": "2026-03-01", "subject": "Refund",
        "body": "Please refund card 4111 1111 1111 1111, mail me at jo@example.com or call +44 20 7946 0355.",
    })
    with django_capture_on_commit_callbacks(execute=True):
        ingest_records(source=source, records=[record])

    text = TicketAnalysis.objects.get().text
    assert "4111" not in text and "jo@example.com" not in text and "7946" not in text
    assert "[card]" in text and "[email]" in text and "[phone]" in text


def test_vectorising_walks_every_ticket_in_pages_and_reports_progress(tickets, monkeypatch) -> None:
    version = representation_fit()
    first = [bytes(a.vector) for a in TicketAnalysis.objects.order_by("ticket_id")]
    TicketAnalysis.objects.update(vector=None, representation_version=None)
    monkeypatch.setattr("insights.services.representation.VECTORISE_CHUNK", 4)
    progress: list[tuple[int, int]] = []

    done = analyses_vectorise(version=version, progress=lambda d, t: progress.append((d, t)))

    assert done == 6 and progress == [(4, 6), (6, 6)]
    analyses = list(TicketAnalysis.objects.order_by("ticket_id"))
    assert all(a.representation_version_id == version.pk for a in analyses)
    assert [bytes(a.vector) for a in analyses] == first
    assert analyses_vectorise(version=version) == 0
