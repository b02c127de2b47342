"""Processing ingested tickets: text preparation, vectors and theme assignment, idempotent per ticket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from insights.analysis.text import Turn, prepare_ticket
from insights.models import AssignmentMethod, ModelKind, ModelVersion, Theme, ThemeStatus, TicketAnalysis, TicketTheme
from insights.services.stats import theme_stats_mark_dirty
from insights.services.storage import VECTOR_DTYPE, _execute_binary, _ticket_themes_insert_postgres
from insights.services.versions import model_version_active, model_version_load
from tickets.models import IngestBatch, IngestBatchStatus, Ticket


def ingest_batch_process(*, batch_id: int) -> IngestBatch:
    """Take one committed ingest batch through text preparation, vectors and theme assignment.

    Safe to run twice (late acknowledgement may redeliver it): a processed batch is returned as
    it is, and per ticket the work is skipped when neither its content nor the models changed.
    The batch row is locked so two workers never process the same batch at once.
    """
    with transaction.atomic():
        batch = IngestBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == IngestBatchStatus.PROCESSED:
            return batch
        batch.processed_count = tickets_analyse(ticket_ids=batch.ticket_ids)
        batch.status = IngestBatchStatus.PROCESSED
        batch.processed_at = timezone.now()
        batch.save(update_fields=["processed_count", "status", "processed_at"])
    return batch


def tickets_analyse(*, ticket_ids: Sequence[int]) -> int:
    """Prepare, vectorise and assign ``ticket_ids``; returns how many tickets exist of them."""
    tickets = list(
        Ticket.objects.filter(pk__in=ticket_ids).prefetch_related("messages").select_related("analysis")
    )
    representation = model_version_active(ModelKind.REPRESENTATION)
    analyses = [_analysis_prepared(ticket, representation) for ticket in tickets]
    stale = [analysis for analysis in analyses if analysis is not None]
    if representation is not None:
        _vectorise(stale, representation)
    TicketAnalysis.objects.bulk_create(
        stale,
        update_conflicts=True,
        unique_fields=["ticket"],
        update_fields=["text", "sentences", "vector", "representation_version", "content_hash"],
    )
    tickets_assign(ticket_ids=[t.pk for t in tickets])
    return len(tickets)


def _analysis_prepared(ticket: Ticket, representation: ModelVersion | None) -> TicketAnalysis | None:
    """A fresh analysis for ``ticket``, or None when the stored one is still current."""
    current = getattr(ticket, "analysis", None)
    if (
        current is not None
        and current.content_hash == ticket.content_hash
        and current.representation_version_id == (representation.pk if representation else None)
    ):
        return None
    prepared = prepare_ticket(
        ticket.subject,
        [Turn(role=m.author_role, body=m.body, is_public=m.is_public) for m in ticket.messages.all()],
    )
    return TicketAnalysis(
        ticket=ticket,
        text=prepared.text,
        sentences=list(prepared.sentences),
        content_hash=ticket.content_hash,
    )


def _vectorise(analyses: list[TicketAnalysis], representation: ModelVersion) -> None:
    if not analyses:
        return
    vectors = model_version_load(representation).transform([a.text for a in analyses])
    for analysis, vector in zip(analyses, vectors, strict=True):
        analysis.vector = np.asarray(vector, dtype=VECTOR_DTYPE).tobytes()
        analysis.representation_version = representation


def tickets_assign(*, ticket_ids: Sequence[int]) -> None:
    """Give tickets their themes with the active assignment model; manual decisions are kept.

    Idempotent per ticket and model version: tickets already assigned by the active version
    are skipped. Without an active model (before any theme is accepted) nothing is assigned and
    every ticket waits in the triage pool for discovery.
    """
    classifier_version = model_version_active(ModelKind.CLASSIFIER)
    if classifier_version is None:
        return
    # Only the columns the model reads: whole rows (sentences JSON, model instances) cost more
    # than the prediction itself.
    pending = list(
        TicketAnalysis.objects.filter(ticket_id__in=ticket_ids, vector__isnull=False)
        .exclude(classifier_version=classifier_version)
        .order_by("ticket_id")
        .values_list("ticket_id", "text", "vector")
    )
    if not pending:
        return
    classifier = model_version_load(classifier_version)
    theme_ids = _active_theme_ids()
    ids, texts, blobs = zip(*pending, strict=True)
    vectors = np.frombuffer(b"".join(bytes(b) for b in blobs), dtype=VECTOR_DTYPE).reshape(len(ids), -1)
    assignments = classifier.assign(vectors, list(texts), threshold=assignment_threshold())
    _assignments_store(list(ids), assignments, classifier_version, theme_ids)


def assignment_threshold() -> float:
    return float(getattr(settings, "THREADLINE_ASSIGNMENT_THRESHOLD", 0.5))


def _active_theme_ids() -> dict[str, int]:
    return {str(pk): pk for pk in Theme.objects.filter(status=ThemeStatus.ACTIVE).values_list("pk", flat=True)}


def _assignments_store(
    ticket_ids: list[int], assignments: Sequence[Any], version: ModelVersion, theme_ids: dict[str, int]
) -> None:
    """Replace the model's rows for these tickets; manual rows stay as people left them."""
    manual = set(
        TicketTheme.objects.filter(ticket_id__in=ticket_ids, method=AssignmentMethod.MANUAL).values_list(
            "ticket_id", flat=True
        )
    )
    rows: list[tuple[int, int, float]] = []
    best_themes: list[int | None] = []
    best_confidences: list[float | None] = []
    triage: list[bool] = []
    for ticket_id, assignment in zip(ticket_ids, assignments, strict=True):
        kept = [(theme_ids[key], confidence) for key, confidence in assignment.themes if key in theme_ids]
        best_key, best_confidence = assignment.best if assignment.best else (None, None)
        best_themes.append(theme_ids.get(best_key) if best_key else None)
        best_confidences.append(best_confidence)
        is_manual = ticket_id in manual
        triage.append(not is_manual and not kept)
        if not is_manual:
            rows.extend((ticket_id, theme_id, confidence) for theme_id, confidence in kept)
    with transaction.atomic():
        # The model's earlier rows go; so do discovery's rows once their theme is no longer a
        # suggestion (the model owns accepted themes). A suggestion keeps its members until a
        # support lead decides on it, and manual rows are never touched.
        decided_discovery = Q(method=AssignmentMethod.DISCOVERY) & ~Q(theme__status=ThemeStatus.SUGGESTED)
        TicketTheme.objects.filter(ticket_id__in=ticket_ids).filter(
            Q(method=AssignmentMethod.MODEL) | decided_discovery
        ).delete()
        if connection.vendor == "postgresql":
            _assignments_write_postgres(ticket_ids, rows, best_themes, best_confidences, triage, version)
        else:
            TicketTheme.objects.bulk_create(
                TicketTheme(ticket_id=t, theme_id=th, confidence=c, method=AssignmentMethod.MODEL,
                            model_version=version) for t, th, c in rows
            )
            TicketAnalysis.objects.bulk_update(
                [TicketAnalysis(ticket_id=t, classifier_version=version, best_theme_id=b, best_confidence=c,
                                needs_triage=n)
                 for t, b, c, n in zip(ticket_ids, best_themes, best_confidences, triage, strict=True)],
                ["classifier_version", "best_theme", "best_confidence", "needs_triage"],
            )
        theme_stats_mark_dirty(ticket_ids=ticket_ids)


def _assignments_write_postgres(
    ticket_ids: list[int], rows: list[tuple[int, int, float]], best_themes: list[int | None],
    best_confidences: list[float | None], triage: list[bool], version: ModelVersion,
) -> None:
    """The model's rows and the analyses' best theme in two statements with array parameters:
    a few fixed-size placeholders instead of one per value (the ORM's bulk statements spent
    most of assignment time building and parsing SQL, bench/theming.py)."""
    if rows:
        tickets, themes, confidences = (list(column) for column in zip(*rows, strict=True))
        _ticket_themes_insert_postgres(tickets, themes, confidences, method=AssignmentMethod.MODEL, version=version)
    _execute_binary(
        f"UPDATE {TicketAnalysis._meta.db_table} AS a SET"  # noqa: S608
        " classifier_version_id = %b, best_theme_id = r.b,"
        " best_confidence = r.c, needs_triage = r.n"
        " FROM unnest(%b::bigint[], %b::bigint[], %b::float8[], %b::boolean[]) AS r(t, b, c, n)"
        " WHERE a.ticket_id = r.t",
        [version.pk, ticket_ids, best_themes, best_confidences, triage],
    )
