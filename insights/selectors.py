"""Reads of the insights app."""

from __future__ import annotations

from dataclasses import dataclass

from insights.analysis.classification import explain
from insights.models import AssignmentMethod, TicketAnalysis, TicketTheme
from insights.services import model_version_load, vectors_of


@dataclass(frozen=True)
class AssignmentReason:
    """Why a ticket is in a theme, in words a support lead can check."""

    method: str
    confidence: float
    terms: tuple[tuple[str, float], ...] = ()
    sentence: str | None = None
    by: str = ""


def ticket_theme_reason(*, ticket_theme: TicketTheme) -> AssignmentReason:
    """The terms and sentence that made the model choose this theme (computed on demand from the
    model version that assigned it), or who decided it for a manual assignment."""
    if ticket_theme.method == AssignmentMethod.MANUAL:
        person = ticket_theme.assigned_by
        by = (person.get_full_name() or person.email) if person else ""
        return AssignmentReason(method="manual", confidence=1.0, by=by)
    version = ticket_theme.model_version
    analysis = TicketAnalysis.objects.filter(ticket_id=ticket_theme.ticket_id, vector__isnull=False).first()
    if version is None or analysis is None:
        return AssignmentReason(method=ticket_theme.method, confidence=ticket_theme.confidence)
    model = model_version_load(version)
    if str(ticket_theme.theme_id) not in model.themes:
        return AssignmentReason(method=ticket_theme.method, confidence=ticket_theme.confidence)
    why = explain(model, vectors_of([analysis])[0], analysis.text, str(ticket_theme.theme_id))
    return AssignmentReason(
        method=ticket_theme.method, confidence=ticket_theme.confidence, terms=why.terms, sentence=why.sentence
    )
