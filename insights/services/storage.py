"""Bulk reads and writes shared by the services: vectors as one matrix, PostgreSQL statements with array parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import numpy as np
import psycopg
from django.db import connection
from django.utils import timezone

from insights.models import ModelVersion, TicketAnalysis, TicketTheme

VECTOR_DTYPE = np.float32

Progress = Callable[[int, int], None]

LOAD_CHUNK = 5000


def vectors_of(analyses: Iterable[TicketAnalysis]) -> np.ndarray:
    rows = [np.frombuffer(bytes(a.vector or b""), dtype=VECTOR_DTYPE) for a in analyses]
    return np.vstack(rows) if rows else np.zeros((0, 0), dtype=VECTOR_DTYPE)


def _execute_binary(sql: str, params: Sequence[Any]) -> None:
    """Run one statement on Django's PostgreSQL connection (same transaction) with its ``%b``
    parameters sent apart from the SQL in binary.

    Django's cursors bind client-side: each array element is quoted into the statement text,
    which the server then parses back (vectors as hex: 2 bytes per byte). Binary parameters made
    writing 5,000 vectors 4–5× faster (bench/theming.py)."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)


def _ticket_themes_insert_postgres(
    tickets: list[int], themes: list[int], confidences: list[float], *, method: str,
    version: ModelVersion | None, ignore_conflicts: bool = False,
) -> None:
    """Insert assignment rows in one statement whose values are three array parameters."""
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    _execute_binary(  # the table name comes from the model, values are parameters
        f"INSERT INTO {TicketTheme._meta.db_table} (ticket_id, theme_id, confidence, method, explanation,"  # noqa: S608
        " model_version_id, assigned_at) SELECT t, th, c, %b, '{}'::jsonb, %b::bigint, %b"
        f" FROM unnest(%b::bigint[], %b::bigint[], %b::float8[]) AS r(t, th, c){conflict}",
        [str(method), version.pk if version else None, timezone.now(), tickets, themes, confidences],
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _vectors_load(
    rows: Iterable[tuple[Any, ...]], *, expected: int = 0, progress: Progress | None = None
) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """Rows of (ticket_id, [text,] vector bytes) → (ids, texts or [], vector matrix), read in chunks
    so that no per-row model instance and no second copy of the bytes is ever held."""
    ids: list[int] = []
    texts: list[Any] = []
    blocks: list[np.ndarray] = []
    iterator = iter(rows)
    while chunk := tuple(islice(iterator, LOAD_CHUNK)):
        ids.extend(row[0] for row in chunk)
        if len(chunk[0]) == 3:
            texts.extend(row[1] for row in chunk)
        joined = b"".join(bytes(row[-1]) for row in chunk)
        blocks.append(np.frombuffer(joined, dtype=VECTOR_DTYPE).reshape(len(chunk), -1))
        if progress:
            progress(len(ids), max(expected, len(ids)))
    vectors = np.vstack(blocks) if blocks else np.zeros((0, 0), dtype=VECTOR_DTYPE)
    return np.asarray(ids, dtype=np.int64), texts, vectors
