"""The assignment model: trained from people's labels and discovery's members, activated if not worse."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from insights.analysis.classification import classifier_train, should_activate
from insights.models import (
    NO_REQUEST_CLASS,
    AssignmentMethod,
    ModelKind,
    ModelVersion,
    NoRequestMethod,
    ThemeStatus,
    TicketAnalysis,
    TicketTheme,
)
from insights.services.representation import representation_ensure
from insights.services.storage import LOAD_CHUNK, _chunks, _vectors_load
from insights.services.versions import model_version_active, model_version_save

# Model assignments at least this confident count as labels when retraining; below it they are
# the model's own guesses and would only teach it its mistakes.
SELF_LABEL_CONFIDENCE = 0.9

RETRAIN_POOL = 5000

# Training rows per theme beyond people's own labels (all of which are always kept): discovery
# members and confident model assignments are sampled down to this many per theme, seeded.
# Training time grows with every row (two multinomial regressions, fitted twice for the
# calibration holdout), while a theme's linear models gain little past a hundred examples; at
# 100,000 tickets this bounds ~96,000 discovery rows to ~17,000 (bench/theming.py).
RETRAIN_PER_THEME = 100

REASSIGN_CHUNK = 2000


def classifier_retrain(*, seed: int = 0) -> ModelVersion | None:
    """Train a new assignment model from the tickets of active themes, and activate it if its
    held-out accuracy is not worse than the active model's (or the set of themes changed).

    Labels are people's decisions (all of them, weighted up), discovery's members of accepted
    themes and the model's confident assignments (up to ``RETRAIN_PER_THEME`` of these per
    theme, a seeded sample). Returns the new version, or None when fewer than two active
    themes have tickets. An activated model re-assigns every ticket in the background.
    """
    label_rows = _training_label_rows()
    if not label_rows.exists() and not _no_request_marked().exists():
        return None
    representation = representation_ensure()
    labels, manual = _training_labels(label_rows)
    chosen = _training_sample(labels, manual, per_theme=RETRAIN_PER_THEME, seed=seed)
    ticket_ids, texts, vectors = _analyses_vectors(chosen, representation)
    if len({theme for t in ticket_ids.tolist() for theme in labels[t]}) < 2:
        return None
    pool_ids, pool_texts, pool_vectors = _unlabelled_sample(representation, labelled=set(labels))
    is_manual = [t in manual for t in ticket_ids.tolist()]
    model = classifier_train(
        vectors, texts, [sorted(labels[t]) for t in ticket_ids.tolist()], seed=seed, manual=is_manual,
        pool_vectors=pool_vectors if len(pool_ids) else None, pool_texts=pool_texts if len(pool_ids) else None,
    )
    active = model_version_active(ModelKind.CLASSIFIER)
    activate = _classifier_should_replace(model.metrics, list(model.themes), active)
    version = model_version_save(
        kind=ModelKind.CLASSIFIER, backend=representation.backend, artifact=model,
        metrics={**model.metrics, "theme_keys": list(model.themes), "labelled_tickets": len(labels)},
        training_size=len(ticket_ids), manual_labels=sum(is_manual), activate=activate,
        note="" if activate else "kept the active model: this one was worse on held-out tickets",
    )
    if activate:
        transaction.on_commit(tickets_reassign_all)
    return version


def _training_label_rows() -> QuerySet[TicketTheme]:
    return TicketTheme.objects.filter(theme__status=ThemeStatus.ACTIVE).filter(
        Q(method__in=[AssignmentMethod.MANUAL, AssignmentMethod.DISCOVERY])
        | Q(method=AssignmentMethod.MODEL, confidence__gte=SELF_LABEL_CONFIDENCE)
    )


def _no_request_marked() -> QuerySet[TicketAnalysis]:
    """People's no-request decisions: the only examples of the no-request class (the text
    preparation's flags are empty texts, and the model's own would only teach it its mistakes)."""
    return TicketAnalysis.objects.filter(no_request=True, no_request_method=NoRequestMethod.MANUAL)


def _training_labels(rows: QuerySet[TicketTheme]) -> tuple[dict[int, set[str]], set[int]]:
    labels: dict[int, set[str]] = defaultdict(set)
    manual: set[int] = set()
    for ticket_id, theme_id, method in rows.values_list("ticket_id", "theme_id", "method").iterator():
        labels[ticket_id].add(str(theme_id))
        if method == AssignmentMethod.MANUAL:
            manual.add(ticket_id)
    for ticket_id in _no_request_marked().values_list("ticket_id", flat=True).iterator():
        labels[ticket_id] = {NO_REQUEST_CLASS}  # marking removed its themes; a stray label would contradict it
        manual.add(ticket_id)
    return labels, manual


def _training_sample(labels: dict[int, set[str]], manual: set[int], *, per_theme: int, seed: int) -> list[int]:
    """Every manually labelled ticket, plus up to ``per_theme`` of the others per theme.

    Deterministic for the same labels and seed: themes and tickets are visited in sorted order
    with one seeded generator. A ticket sampled for one theme brings all its labels along.
    """
    by_theme: dict[str, list[int]] = defaultdict(list)
    for ticket_id in sorted(labels):
        if ticket_id not in manual:
            for theme in labels[ticket_id]:
                by_theme[theme].append(ticket_id)
    rng = np.random.default_rng(seed)
    chosen = set(manual)
    for theme in sorted(by_theme):
        candidates = by_theme[theme]
        if len(candidates) > per_theme:
            candidates = [candidates[i] for i in sorted(rng.choice(len(candidates), size=per_theme, replace=False))]
        chosen.update(candidates)
    return sorted(chosen)


def _analyses_vectors(
    ticket_ids: Sequence[int], representation: ModelVersion
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(ticket ids, texts, vectors) of those of ``ticket_ids`` vectorised by ``representation``,
    in ticket order, read as plain values in chunks."""
    def rows() -> Iterator[tuple[Any, ...]]:
        for chunk in _chunks(sorted(ticket_ids), LOAD_CHUNK):
            yield from TicketAnalysis.objects.filter(
                ticket_id__in=chunk, representation_version=representation, vector__isnull=False
            ).order_by("ticket_id").values_list("ticket_id", "text", "vector")

    return _vectors_load(rows())


def _unlabelled_sample(
    representation: ModelVersion, *, labelled: set[int]
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A seeded sample of tickets in the triage pool: unlabelled context for label spreading."""
    candidates = np.array(
        [
            ticket_id for ticket_id in TicketAnalysis.objects.filter(
                needs_triage=True, representation_version=representation
            ).order_by("ticket_id").values_list("ticket_id", flat=True).iterator(chunk_size=LOAD_CHUNK)
            if ticket_id not in labelled
        ],
        dtype=np.int64,
    )
    if len(candidates) > RETRAIN_POOL:
        candidates = np.random.default_rng(0).choice(candidates, size=RETRAIN_POOL, replace=False)
    return _analyses_vectors(candidates.tolist(), representation)


def _classifier_should_replace(metrics: dict[str, float], themes: list[str], active: ModelVersion | None) -> bool:
    if active is None or sorted(active.metrics.get("theme_keys", [])) != sorted(themes):
        return True  # a model that knows other themes cannot be compared; the newest knows the current ones
    return should_activate(metrics.get("holdout_accuracy", 0.0), active.metrics.get("holdout_accuracy"))


def tickets_reassign_all() -> None:
    """Queue re-assignment of every vectorised ticket with the active model, in chunks."""
    from config.dispatch import task_dispatch
    from insights.tasks import assign_tickets

    analysed = TicketAnalysis.objects.filter(vector__isnull=False).order_by("ticket_id")
    ticket_ids = list(analysed.values_list("ticket_id", flat=True))
    for start in range(0, len(ticket_ids), REASSIGN_CHUNK):
        task_dispatch(assign_tickets, ticket_ids[start : start + REASSIGN_CHUNK])


STRUCTURAL_CHANGES = ("accept", "create", "merge", "split", "archive", "dismiss")
# People's decisions about single tickets: the corrections the next training learns.
CORRECTION_ACTIONS = ("retag", "confirm", "no_request", "request")


def classifier_retrain_if_needed() -> ModelVersion | None:
    """Retrain when people changed the set of themes, or made enough corrections, since the
    active model was trained (``THREADLINE_RETRAIN_AFTER_CORRECTIONS``)."""
    from insights.models import ThemeChange

    active = model_version_active(ModelKind.CLASSIFIER)
    changes = ThemeChange.objects.all()
    if active is not None:
        changes = changes.filter(created_at__gt=active.created_at)
    structural = changes.filter(action__in=STRUCTURAL_CHANGES).exists()
    corrections = changes.filter(action__in=CORRECTION_ACTIONS).count()
    if active is not None and not structural and corrections < settings.THREADLINE_RETRAIN_AFTER_CORRECTIONS:
        return None
    return classifier_retrain()
