"""Processing ingested tickets: text preparation, vectors and theme assignment, idempotent per ticket."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from insights.analysis.text import PreparedText, Turn, prepare_ticket
from insights.models import (
    NO_REQUEST_CLASS,
    AssignmentMethod,
    ModelKind,
    ModelVersion,
    NoRequestMethod,
    Theme,
    ThemeStatus,
    TicketAnalysis,
    TicketTheme,
)
from insights.services.stats import theme_stats_mark_dirty
from insights.services.storage import VECTOR_DTYPE, _execute_binary, _ticket_themes_insert_postgres
from insights.services.versions import model_version_active, model_version_load
from tickets.models import IngestBatch, IngestBatchStatus, Message, Ticket


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
    """Prepare, vectorise and assign ``ticket_ids``; returns how many tickets exist of them.

    Reads plain values, not model instances, and writes the analyses in one statement: at a
    million tickets the ORM's objects cost more than the model's work (bench/assignment.py).
    A ticket whose prepared text asks nothing is flagged no-request here (``_no_request_prepared``).
    """
    tickets = list(Ticket.objects.filter(pk__in=ticket_ids).order_by("pk").values_list("pk", "subject", "content_hash"))
    representation = model_version_active(ModelKind.REPRESENTATION)
    representation_id = representation.pk if representation else None
    current = {
        ticket_id: (content_hash, version_id, _NoRequest(no_request, method, at, needs_triage))
        for ticket_id, content_hash, version_id, no_request, method, at, needs_triage
        in TicketAnalysis.objects.filter(ticket_id__in=ticket_ids).values_list(
            "ticket_id", "content_hash", "representation_version_id", "no_request", "no_request_method",
            "no_request_at", "needs_triage")
    }
    stale = [ticket for ticket in tickets if current.get(ticket[0], (None, None))[:2] != (ticket[2], representation_id)]
    turns = _turns_by_ticket([ticket_id for ticket_id, _, _ in stale])
    now = timezone.now()
    analyses = []
    for ticket_id, subject, content_hash in stale:
        prepared = prepare_ticket(subject, turns.get(ticket_id, []))
        before = current[ticket_id][2] if ticket_id in current else None
        decision = _no_request_prepared(prepared, before, now)
        analyses.append(_PreparedAnalysis(ticket_id, prepared, content_hash, decision))
    vectors: list[bytes | None] = [None] * len(analyses)
    if representation is not None and analyses:
        encoded = model_version_load(representation).transform([a.prepared.text for a in analyses])
        vectors = [np.asarray(vector, dtype=VECTOR_DTYPE).tobytes() for vector in encoded]
    _analyses_store(analyses, vectors, representation)
    if analyses:  # new or changed tickets: their days' unthemed counts change (rebuilt at the next refresh)
        theme_stats_mark_dirty(ticket_ids=[a.ticket_id for a in analyses], soon=False)
    tickets_assign(ticket_ids=[ticket_id for ticket_id, _, _ in tickets])
    return len(tickets)


class _NoRequest(NamedTuple):
    """An analysis' no-request decision and its place in the triage pool."""

    no_request: bool
    method: str
    at: datetime | None
    needs_triage: bool


def _no_request_prepared(prepared: PreparedText, before: _NoRequest | None, now: datetime) -> _NoRequest:
    """The decision once a ticket's text is (re)prepared: a person's stands; otherwise the prepared
    text decides, and a ticket that stops being no-request goes back to the pool until assigned."""
    if before is not None and before.method == NoRequestMethod.MANUAL:
        return before
    flagged = prepared.no_request
    method = NoRequestMethod.TEXT if flagged else ""
    if before is None:
        return _NoRequest(flagged, method, now if flagged else None, not flagged)
    needs_triage = False if flagged else before.no_request or before.needs_triage
    return _NoRequest(flagged, method, now if flagged != before.no_request else before.at, needs_triage)


class _PreparedAnalysis(NamedTuple):
    ticket_id: int
    prepared: PreparedText
    content_hash: str
    decision: _NoRequest


def _turns_by_ticket(ticket_ids: list[int]) -> dict[int, list[Turn]]:
    turns: dict[int, list[Turn]] = {}
    messages = (
        Message.objects.filter(ticket_id__in=ticket_ids)
        .order_by("ticket_id", "created_at", "id")
        .values_list("ticket_id", "author_role", "body", "is_public")
    )
    for ticket_id, role, body, is_public in messages:
        turns.setdefault(ticket_id, []).append(Turn(role=role, body=body, is_public=is_public))
    return turns


def _analyses_store(
    analyses: list[_PreparedAnalysis], vectors: list[bytes | None], representation: ModelVersion | None
) -> None:
    """Insert or replace the analyses; a rewritten one loses its classifier version, so the ticket's
    changed text is assigned again. A person's no-request decision made meanwhile is kept."""
    if not analyses:
        return
    if connection.vendor == "postgresql":
        manual = f"a.no_request_method = '{NoRequestMethod.MANUAL}'"
        _execute_binary(  # the table name comes from the model, values are parameters
            f"INSERT INTO {TicketAnalysis._meta.db_table} AS a (ticket_id, text, sentences, vector,"  # noqa: S608
            " representation_version_id, content_hash, needs_triage, processed_at, triage_arr,"
            " no_request, no_request_method, no_request_at)"
            " SELECT t, x, s::jsonb, v, %b::bigint, h, n, %b, %b, nr, m, at"
            " FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::bytea[], %b::text[], %b::boolean[],"
            " %b::boolean[], %b::text[], %b::timestamptz[]) AS r(t, x, s, v, h, n, nr, m, at)"
            " ON CONFLICT (ticket_id) DO UPDATE SET text = EXCLUDED.text, sentences = EXCLUDED.sentences,"
            " vector = EXCLUDED.vector, representation_version_id = EXCLUDED.representation_version_id,"
            " content_hash = EXCLUDED.content_hash, processed_at = EXCLUDED.processed_at,"
            " classifier_version_id = NULL,"
            f" needs_triage = CASE WHEN {manual} THEN a.needs_triage ELSE EXCLUDED.needs_triage END,"
            f" no_request = CASE WHEN {manual} THEN a.no_request ELSE EXCLUDED.no_request END,"
            f" no_request_at = CASE WHEN {manual} THEN a.no_request_at ELSE EXCLUDED.no_request_at END,"
            f" no_request_method = CASE WHEN {manual} THEN a.no_request_method ELSE EXCLUDED.no_request_method END",
            [
                representation.pk if representation else None, timezone.now(),
                TicketAnalysis._meta.get_field("triage_arr").default,  # "unknown" until the stats refresh copies it
                [a.ticket_id for a in analyses], [a.prepared.text for a in analyses],
                [json.dumps(list(a.prepared.sentences)) for a in analyses], vectors,
                [a.content_hash for a in analyses], [a.decision.needs_triage for a in analyses],
                [a.decision.no_request for a in analyses], [str(a.decision.method) for a in analyses],
                [a.decision.at for a in analyses],
            ],
        )
        return
    TicketAnalysis.objects.bulk_create(
        [
            TicketAnalysis(ticket_id=a.ticket_id, text=a.prepared.text, sentences=list(a.prepared.sentences),
                           vector=vector, representation_version=representation, content_hash=a.content_hash,
                           classifier_version=None, needs_triage=a.decision.needs_triage,
                           no_request=a.decision.no_request, no_request_method=a.decision.method,
                           no_request_at=a.decision.at)
            for a, vector in zip(analyses, vectors, strict=True)
        ],
        update_conflicts=True,
        unique_fields=["ticket"],
        update_fields=["text", "sentences", "vector", "representation_version", "content_hash", "classifier_version",
                       "needs_triage", "no_request", "no_request_method", "no_request_at"],
    )


def tickets_assign(*, ticket_ids: Sequence[int]) -> None:
    """Give tickets their themes with the active assignment model; manual decisions are kept.

    Idempotent per ticket and model version: tickets already assigned by the active version
    are skipped. Without an active model (before any theme is accepted) nothing is assigned and
    every ticket waits in the triage pool for discovery. A model that learnt the reserved
    no-request class (``NO_REQUEST_CLASS``) flags the tickets it puts there above the threshold.
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
        .values_list("ticket_id", "text", "vector", "no_request", "no_request_method", "no_request_at")
    )
    if not pending:
        return
    classifier = model_version_load(classifier_version)
    theme_ids = _active_theme_ids()
    ids, texts, blobs, *decided = zip(*pending, strict=True)
    vectors = np.frombuffer(b"".join(bytes(b) for b in blobs), dtype=VECTOR_DTYPE).reshape(len(ids), -1)
    assignments = classifier.assign(vectors, list(texts), threshold=assignment_threshold())
    _assignments_store(list(ids), assignments, classifier_version, theme_ids, list(zip(*decided, strict=True)))


def assignment_threshold() -> float:
    return float(getattr(settings, "THREADLINE_ASSIGNMENT_THRESHOLD", 0.5))


def _active_theme_ids() -> dict[str, int]:
    return {str(pk): pk for pk in Theme.objects.filter(status=ThemeStatus.ACTIVE).values_list("pk", flat=True)}


class _Outcome(NamedTuple):
    """What one assignment writes on the analysis."""

    best_theme: int | None
    best_confidence: float | None
    needs_triage: bool
    no_request: bool
    method: str
    at: datetime | None


def _assignment_outcome(
    assignment: Any, theme_ids: dict[str, int], *, manual_themes: bool, decided: tuple[bool, str, datetime | None],
    now: datetime,
) -> tuple[list[tuple[int, float]], _Outcome]:
    """The themes the model gives a ticket and what its analysis says afterwards.

    The model's no-request class counts only when it is the best kept key, and never against a
    person (manual themes, or a manual decision either way) or the text preparation's flag."""
    flagged_before, method, at = decided
    kept = [(theme_ids[key], confidence) for key, confidence in assignment.themes if key in theme_ids]
    best_key, best_confidence = assignment.best if assignment.best else (None, None)
    held = method in (NoRequestMethod.TEXT, NoRequestMethod.MANUAL)
    if held:
        flagged = flagged_before
    else:
        flagged = not manual_themes and bool(assignment.themes) and assignment.themes[0][0] == NO_REQUEST_CLASS
        method = NoRequestMethod.MODEL if flagged else ""
    themes = [] if manual_themes or flagged else kept
    outcome = _Outcome(
        best_theme=theme_ids.get(best_key) if best_key else None, best_confidence=best_confidence,
        needs_triage=not manual_themes and not flagged and not kept, no_request=flagged, method=str(method),
        at=now if flagged != flagged_before else at,
    )
    return themes, outcome


def _assignments_store(
    ticket_ids: list[int], assignments: Sequence[Any], version: ModelVersion, theme_ids: dict[str, int],
    decided: list[tuple[bool, str, datetime | None]],
) -> None:
    """Replace the model's rows for these tickets; manual rows stay as people left them."""
    manual = set(
        TicketTheme.objects.filter(ticket_id__in=ticket_ids, method=AssignmentMethod.MANUAL).values_list(
            "ticket_id", flat=True
        )
    )
    now = timezone.now()
    rows: list[tuple[int, int, float]] = []
    outcomes: list[_Outcome] = []
    for ticket_id, assignment, decision in zip(ticket_ids, assignments, decided, strict=True):
        themes, outcome = _assignment_outcome(assignment, theme_ids, manual_themes=ticket_id in manual,
                                              decided=decision, now=now)
        rows.extend((ticket_id, theme_id, confidence) for theme_id, confidence in themes)
        outcomes.append(outcome)
    with transaction.atomic():
        # The model's earlier rows go; so do discovery's rows once their theme is no longer a
        # suggestion (the model owns accepted themes). A suggestion keeps its members until a
        # support lead decides on it, and manual rows are never touched.
        decided_discovery = Q(method=AssignmentMethod.DISCOVERY) & ~Q(theme__status=ThemeStatus.SUGGESTED)
        TicketTheme.objects.filter(ticket_id__in=ticket_ids).filter(
            Q(method=AssignmentMethod.MODEL) | decided_discovery
        ).delete()
        # A no-request ticket is in no theme, a suggestion included.
        flagged = [t for t, outcome in zip(ticket_ids, outcomes, strict=True) if outcome.no_request]
        if flagged:
            TicketTheme.objects.filter(ticket_id__in=flagged, method=AssignmentMethod.DISCOVERY).delete()
        if connection.vendor == "postgresql":
            _assignments_write_postgres(ticket_ids, rows, outcomes, version)
        else:
            TicketTheme.objects.bulk_create(
                TicketTheme(ticket_id=t, theme_id=th, confidence=c, method=AssignmentMethod.MODEL,
                            model_version=version) for t, th, c in rows
            )
            TicketAnalysis.objects.bulk_update(
                [TicketAnalysis(ticket_id=t, classifier_version=version, best_theme_id=o.best_theme,
                                best_confidence=o.best_confidence, needs_triage=o.needs_triage,
                                no_request=o.no_request, no_request_method=o.method, no_request_at=o.at)
                 for t, o in zip(ticket_ids, outcomes, strict=True)],
                ["classifier_version", "best_theme", "best_confidence", "needs_triage", "no_request",
                 "no_request_method", "no_request_at"],
            )
        theme_stats_mark_dirty(ticket_ids=ticket_ids)


def _assignments_write_postgres(
    ticket_ids: list[int], rows: list[tuple[int, int, float]], outcomes: list[_Outcome], version: ModelVersion,
) -> None:
    """The model's rows and the analyses' best theme in two statements with array parameters:
    a few fixed-size placeholders instead of one per value (the ORM's bulk statements spent
    most of assignment time building and parsing SQL, bench/theming.py). A person's no-request
    decision made since the analyses were read is kept."""
    if rows:
        tickets, themes, confidences = (list(column) for column in zip(*rows, strict=True))
        _ticket_themes_insert_postgres(tickets, themes, confidences, method=AssignmentMethod.MODEL, version=version)
    manual = f"a.no_request_method = '{NoRequestMethod.MANUAL}'"
    _execute_binary(
        f"UPDATE {TicketAnalysis._meta.db_table} AS a SET"  # noqa: S608
        " classifier_version_id = %b, best_theme_id = r.b, best_confidence = r.c,"
        f" needs_triage = CASE WHEN {manual} THEN a.needs_triage ELSE r.n END,"
        f" no_request = CASE WHEN {manual} THEN a.no_request ELSE r.nr END,"
        f" no_request_at = CASE WHEN {manual} THEN a.no_request_at ELSE r.at END,"
        f" no_request_method = CASE WHEN {manual} THEN a.no_request_method ELSE r.m END"
        " FROM unnest(%b::bigint[], %b::bigint[], %b::float8[], %b::boolean[], %b::boolean[], %b::text[],"
        " %b::timestamptz[]) AS r(t, b, c, n, nr, m, at)"
        " WHERE a.ticket_id = r.t",
        [version.pk, ticket_ids, [o.best_theme for o in outcomes], [o.best_confidence for o in outcomes],
         [o.needs_triage for o in outcomes], [o.no_request for o in outcomes], [o.method for o in outcomes],
         [o.at for o in outcomes]],
    )
