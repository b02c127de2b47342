"""A lock held across many transactions: what keeps one source from syncing twice at once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


@contextmanager
def advisory_lock(namespace: int, key: int) -> Iterator[bool]:
    """Yield whether this process holds the lock ``(namespace, key)``.

    On PostgreSQL a session-level advisory lock, held across the caller's transactions and released
    by the database if the process dies. Elsewhere (SQLite, one process) it always yields True: the
    caller's claim of its run under a row lock is the guard there.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
        (locked,) = cursor.fetchone()
    try:
        yield bool(locked)
    finally:
        if locked:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])
            except DatabaseError:
                # The connection is gone, and the lock with it; don't hide the error that got us here.
                logger.warning("could not release advisory lock (%s, %s)", namespace, key, exc_info=True)
