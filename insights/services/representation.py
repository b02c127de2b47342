"""The representation model: fitted on a sample of texts, then every ticket's vector computed once."""

from __future__ import annotations

import logging

import numpy as np
from django.conf import settings
from django.db import connection

from insights.analysis.representation import representation_create
from insights.models import ModelKind, ModelVersion, TicketAnalysis
from insights.services.storage import VECTOR_DTYPE, Progress, _chunks, _execute_binary
from insights.services.versions import model_version_active, model_version_load, model_version_save

logger = logging.getLogger(__name__)

VECTORISE_CHUNK = 5000


def representation_fit(
    *, backend: str | None = None, sample: int = 50_000, seed: int = 0, progress: Progress | None = None
) -> ModelVersion:
    """Fit the configured representation on (a sample of) the prepared texts, activate it and
    vectorise every ticket with it (``progress(done, total)`` after each chunk).

    Run when there is none yet (the first discovery does it) or deliberately, e.g. after the
    backend setting changed: vectors are otherwise never recomputed.
    """
    name = backend or settings.THREADLINE_REPRESENTATION
    options = {"model_path": settings.THREADLINE_MINILM_PATH or None} if name == "minilm" else {}
    texts = _texts_sample(sample, seed)
    reason = settings.THREADLINE_REPRESENTATION_REASON if backend is None else "asked for by name"
    logger.info("representation: fitting %s on %d texts (%s)", name, len(texts), reason)
    representation = representation_create(name, **options).fit(texts)
    version = model_version_save(
        kind=ModelKind.REPRESENTATION, backend=name, artifact=representation,
        metrics={"fitted_on": len(texts)}, training_size=len(texts), activate=True,
    )
    analyses_vectorise(version=version, progress=progress)
    return version


def _texts_sample(size: int, seed: int) -> list[str]:
    """Up to ``size`` prepared texts, a seeded uniform sample, in ticket order."""
    ticket_ids = np.array(TicketAnalysis.objects.order_by("ticket_id").values_list("ticket_id", flat=True))
    if len(ticket_ids) > size:
        ticket_ids = np.sort(np.random.default_rng(seed).choice(ticket_ids, size=size, replace=False))
    texts: list[str] = []
    for chunk in _chunks(ticket_ids.tolist(), VECTORISE_CHUNK):
        texts.extend(
            TicketAnalysis.objects.filter(ticket_id__in=chunk).order_by("ticket_id").values_list("text", flat=True)
        )
    return texts


def representation_ensure(*, progress: Progress | None = None) -> ModelVersion:
    return model_version_active(ModelKind.REPRESENTATION) or representation_fit(progress=progress)


def analyses_vectorise(*, version: ModelVersion, progress: Progress | None = None) -> int:
    """Give every analysis not yet in ``version`` its vector; returns how many were computed.

    Walks the analyses in ticket order (keyset pages: each page starts where the last ended,
    so no page re-reads the rows already done) and reads only the id and text.
    """
    representation = model_version_load(version)
    pending = TicketAnalysis.objects.exclude(representation_version=version)
    total = pending.count() if progress else 0
    done, after = 0, -1
    while True:
        page = list(
            pending.filter(ticket_id__gt=after).order_by("ticket_id").values_list("ticket_id", "text")[:VECTORISE_CHUNK]
        )
        if not page:
            return done
        ticket_ids, texts = (list(column) for column in zip(*page, strict=True))
        vectors = np.asarray(representation.transform(texts), dtype=VECTOR_DTYPE)
        _vectors_store(ticket_ids, vectors, version)
        done, after = done + len(page), ticket_ids[-1]
        if progress:
            progress(done, max(total, done))


def _vectors_store(ticket_ids: list[int], vectors: np.ndarray, version: ModelVersion) -> None:
    """Write one vector per ticket; on PostgreSQL one UPDATE … FROM unnest of two arrays."""
    blobs = [row.tobytes() for row in vectors]
    if connection.vendor == "postgresql":
        _execute_binary(  # the table name comes from the model, values are parameters
            f"UPDATE {TicketAnalysis._meta.db_table} AS a"  # noqa: S608
            " SET vector = r.v, representation_version_id = %b"
            " FROM unnest(%b::bigint[], %b::bytea[]) AS r(t, v) WHERE a.ticket_id = r.t",
            [version.pk, ticket_ids, blobs],
        )
        return
    TicketAnalysis.objects.bulk_update(
        [TicketAnalysis(ticket_id=t, vector=v, representation_version=version)
         for t, v in zip(ticket_ids, blobs, strict=True)],
        ["vector", "representation_version"],
    )
