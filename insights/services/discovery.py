"""Discovery runs: themes found in the triage pool, proposed for review, with their progress."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from django.db import connection, transaction
from django.utils import timezone

from insights.analysis.discovery import Discovery, discover, match_to_existing
from insights.models import (
    AssignmentMethod,
    DiscoveryPhase,
    DiscoveryRun,
    DiscoveryRunStatus,
    ModelVersion,
    Theme,
    ThemeStatus,
    TicketAnalysis,
    TicketTheme,
)
from insights.services.representation import representation_ensure
from insights.services.storage import LOAD_CHUNK, VECTOR_DTYPE, Progress, _ticket_themes_insert_postgres, _vectors_load
from insights.services.versions import model_version_load

DISCOVERY_MAX_POOL = 100_000


def discovery_run_queue() -> DiscoveryRun:
    """Create a discovery run in the ``queued`` phase and hand it to a worker after commit, so
    the caller has its id to follow its progress (``DiscoveryRun.phase`` …)."""
    from config.dispatch import task_dispatch
    from insights.tasks import discover_themes

    run = DiscoveryRun.objects.create(phase=DiscoveryPhase.QUEUED)
    transaction.on_commit(lambda: task_dispatch(discover_themes, run.pk))
    return run


def discovery_run(*, seed: int = 0, run_id: int | None = None) -> DiscoveryRun:
    """Discover themes in the triage pool (tickets nothing explains well) and propose them.

    Existing themes keep their ids and names: their centroids go into discovery, which leaves
    them the tickets they explain and clusters only the rest. Genuinely new clusters become
    suggested themes for a support lead; the run's report says what was kept, what is new and
    which themes look like they should be merged or split.

    ``run_id`` continues a run made by ``discovery_run_queue``; without it a new run is made.
    The run's ``phase`` and ``progress_done`` / ``progress_total`` follow the work as it goes.
    """
    run = DiscoveryRun.objects.get(pk=run_id) if run_id is not None else DiscoveryRun.objects.create()
    if run.status != DiscoveryRunStatus.RUNNING:
        return run  # a redelivered task for a run that already ended
    if not TicketAnalysis.objects.exclude(text="").exists():
        run.status, run.finished_at, run.phase = DiscoveryRunStatus.SUCCEEDED, timezone.now(), DiscoveryPhase.DONE
        run.report = {"pool": 0, "new": [], "kept": {}, "merge": [], "split": []}
        run.save(update_fields=["status", "finished_at", "report", "phase"])
        return run
    try:
        representation = representation_ensure(progress=_run_progress(run, DiscoveryPhase.VECTORISING))
        _theme_centroids_refresh(representation)
        report = _discover_and_propose(run, representation, seed)
    except Exception as exc:
        run.status, run.failure, run.finished_at = DiscoveryRunStatus.FAILED, str(exc), timezone.now()
        run.phase, run.progress_updated_at = DiscoveryPhase.FAILED, timezone.now()
        run.save(update_fields=["status", "failure", "finished_at", "phase", "progress_updated_at"])
        raise
    run.status, run.report, run.finished_at = DiscoveryRunStatus.SUCCEEDED, report, timezone.now()
    run.phase, run.progress_done, run.progress_total = DiscoveryPhase.DONE, run.pool_size, run.pool_size
    run.progress_updated_at = timezone.now()
    run.save(update_fields=[
        "status", "report", "finished_at", "pool_size", "phase", "progress_done", "progress_total",
        "progress_updated_at",
    ])
    return run


def _run_progress(run: DiscoveryRun, phase: str) -> Progress:
    """A ``progress(done, total)`` callback that records ``phase`` on ``run`` as it goes.

    A single-row UPDATE: when the run is not inside a transaction (the worker's case) each call
    is visible to a polling page at once.
    """
    def report(done: int, total: int) -> None:
        run.phase, run.progress_done, run.progress_total = phase, done, total
        run.progress_updated_at = timezone.now()
        DiscoveryRun.objects.filter(pk=run.pk).update(
            phase=phase, progress_done=done, progress_total=total, progress_updated_at=run.progress_updated_at
        )

    return report


def _discover_and_propose(run: DiscoveryRun, representation: ModelVersion, seed: int) -> dict[str, Any]:
    existing = {
        str(pk): np.frombuffer(bytes(centroid or b""), dtype=VECTOR_DTYPE)
        for pk, centroid in Theme.objects.filter(
            status__in=[ThemeStatus.ACTIVE, ThemeStatus.SUGGESTED],
            centroid__isnull=False,
            centroid_representation=str(representation.pk),
        ).values_list("pk", "centroid")
    }
    pool = (
        TicketAnalysis.objects.filter(needs_triage=True, representation_version=representation, vector__isnull=False)
        .exclude(text="")
    )
    expected = min(pool.count(), DISCOVERY_MAX_POOL)
    loading = _run_progress(run, DiscoveryPhase.LOADING)
    loading(0, expected)
    rows = pool.order_by("-ticket_id").values_list("ticket_id", "text", "vector")[:DISCOVERY_MAX_POOL]
    ticket_ids, texts, vectors = _vectors_load(rows.iterator(chunk_size=LOAD_CHUNK), expected=expected,
                                               progress=loading)
    run.pool_size = len(ticket_ids)
    if not len(ticket_ids):
        return {"pool": 0, "new": [], "kept": {}, "merge": [], "split": []}
    DiscoveryRun.objects.filter(pk=run.pk).update(pool_size=run.pool_size)
    # The clustering reports no count (it is one library call): a page shows the phase, not "0 of N".
    _run_progress(run, DiscoveryPhase.CLUSTERING)(0, 0)
    encoder = model_version_load(representation)
    result = discover(vectors, texts, seed=seed, existing=existing or None,
                      merge_duplicates=encoder.splits_paraphrases, encode=encoder.transform)
    del texts
    created = _suggestions_create(run, representation, ticket_ids, vectors, result)
    _run_progress(run, DiscoveryPhase.REPORTING)(0, 1)
    matches = match_to_existing(result, existing) if existing else None
    return {
        "pool": len(ticket_ids),
        "n_themes": result.n_themes,
        "new": [{"id": theme.pk, "name": theme.name, "size": theme.suggested_size} for theme in created],
        "kept": {t.existing_id: t.size for t in result.themes if t.existing_id is not None},
        "merge": [list(ids) for _, ids in matches.merges] if matches else [],
        "split": list(matches.splits) if matches else [],
        "unthemed": int((result.labels < 0).sum()),
    }


def _suggestions_create(
    run: DiscoveryRun, representation: ModelVersion, ticket_ids: np.ndarray, vectors: np.ndarray, result: Discovery
) -> list[Theme]:
    """One suggested theme per new cluster (under a suggested broad area when it has one), with
    its members recorded as discovery assignments so a reviewer sees its size and examples.

    Themes and members are written in one transaction; members as three arrays (ticket, theme,
    confidence), never as one Python object per row."""
    new = [found for found in result.themes if found.existing_id is None]
    _run_progress(run, DiscoveryPhase.ASSIGNING)(0, len(new))
    areas: dict[int, Theme] = {}
    created: list[Theme] = []
    member_tickets: list[np.ndarray] = []
    member_themes: list[np.ndarray] = []
    member_confidences: list[np.ndarray] = []
    with transaction.atomic():
        for found in new:
            parent = None
            if found.parent >= 0 and result.areas:
                if found.parent not in areas:
                    area = result.areas[found.parent]
                    areas[found.parent] = Theme.objects.create(
                        name=area.name, keywords=list(area.keywords), status=ThemeStatus.SUGGESTED,
                        discovery_run=run,
                    )
                parent = areas[found.parent]
            members = np.flatnonzero(result.labels == found.index)
            centroid = np.asarray(found.centroid, dtype=VECTOR_DTYPE)
            theme = Theme.objects.create(
                name=found.name, description=found.description, keywords=list(found.keywords), parent=parent,
                status=ThemeStatus.SUGGESTED,
                centroid=centroid.tobytes(), centroid_representation=str(representation.pk),
                example_ticket_ids=[int(ticket_ids[i]) for i in found.examples], suggested_size=len(members),
                discovery_run=run,
            )
            member_tickets.append(ticket_ids[members])
            member_themes.append(np.full(len(members), theme.pk, dtype=np.int64))
            member_confidences.append(np.clip(vectors[members] @ centroid, 0.0, 1.0).astype(np.float64))
            created.append(theme)
        if created:
            _discovery_members_insert(
                np.concatenate(member_tickets), np.concatenate(member_themes), np.concatenate(member_confidences)
            )
    return created


def _discovery_members_insert(tickets: np.ndarray, themes: np.ndarray, confidences: np.ndarray) -> None:
    if connection.vendor == "postgresql":
        _ticket_themes_insert_postgres(
            tickets.tolist(), themes.tolist(), confidences.tolist(), method=AssignmentMethod.DISCOVERY, version=None,
            ignore_conflicts=True,
        )
        return
    TicketTheme.objects.bulk_create(
        (
            TicketTheme(ticket_id=t, theme_id=th, confidence=c, method=AssignmentMethod.DISCOVERY)
            for t, th, c in zip(tickets.tolist(), themes.tolist(), confidences.tolist(), strict=True)
        ),
        ignore_conflicts=True, batch_size=LOAD_CHUNK,
    )


def _theme_centroids_refresh(representation: ModelVersion) -> None:
    """Recompute each active theme's centroid from its tickets' current vectors.

    One sparse (themes × tickets) membership product over the members' vectors, read as plain
    values: no model instance per ticket."""
    pairs = np.array(
        TicketTheme.objects.filter(theme__status=ThemeStatus.ACTIVE).values_list("theme_id", "ticket_id"),
        dtype=np.int64,
    ).reshape(-1, 2)
    if not len(pairs):
        return
    members = TicketTheme.objects.filter(theme__status=ThemeStatus.ACTIVE).values("ticket_id")
    rows = (
        TicketAnalysis.objects.filter(
            representation_version=representation, vector__isnull=False, ticket_id__in=members
        ).order_by("ticket_id").values_list("ticket_id", "vector")
    )
    ticket_ids, _, vectors = _vectors_load(rows.iterator(chunk_size=LOAD_CHUNK))
    if not len(ticket_ids):
        return
    position = np.searchsorted(ticket_ids, pairs[:, 1])
    position = np.minimum(position, len(ticket_ids) - 1)
    known = ticket_ids[position] == pairs[:, 1]
    theme_keys, theme_index = np.unique(pairs[known, 0], return_inverse=True)
    membership = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=VECTOR_DTYPE), (theme_index, position[known])),
        shape=(len(theme_keys), len(ticket_ids)),
    )
    counts = np.asarray(membership.sum(axis=1), dtype=VECTOR_DTYPE)
    centroids = np.asarray(membership @ vectors) / counts
    norms = np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    centroids = (centroids / norms).astype(VECTOR_DTYPE)
    updated = [
        Theme(pk=int(pk), centroid=centroid.tobytes(), centroid_representation=str(representation.pk))
        for pk, centroid in zip(theme_keys.tolist(), centroids, strict=True)
    ]
    Theme.objects.bulk_update(updated, ["centroid", "centroid_representation"])
