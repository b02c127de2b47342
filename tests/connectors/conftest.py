"""Fixtures of the connector tests: a local server per fake help desk, and a sleep that only records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.connectors.server import FakeService, Reply, Request, serving

__all__ = ["FakeService", "Reply", "Request"]


@pytest.fixture
def serve() -> Iterator[Callable[[FakeService], str]]:
    """Start ``service`` on a free port of 127.0.0.1 (stopped after the test) and return its base URL."""
    with ExitStack() as stack:
        yield lambda service: stack.enter_context(serving(service))


@pytest.fixture
def sleeps() -> list[float]:
    """Pass ``sleeps.append`` as ``sleep``: the waits a sync asked for, without waiting."""
    return []
