"""Two workers start the sync task of one source at the same moment: one syncs, the other finds the
source's advisory lock held and stops, so the help desk (or tracker) sees one pass.

Each task runs in its own thread with its own PostgreSQL session. The help desk keeps the winner
waiting at its first request until the other task has returned, so the two overlap whichever
thread wins the lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import pytest
from django.db import connection

from roadmap.models import BacklogItem, BacklogSyncRunStatus
from roadmap.sync import backlog_source_configure
from roadmap.tasks import sync_backlog_source
from tests.conftest import require_service
from tests.connectors.fake_zendesk import EXPORT_PATH, FakeZendesk, zendesk_source
from tests.connectors.server import Reply, Request, serving
from tests.roadmap.fake_trackers import REPOSITORY, FakeGitHub
from tickets.models import SyncRunStatus, Ticket
from tickets.tasks import sync_source

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres() -> None:
    require_service("PostgreSQL as the test database (DATABASE_URL)", connection.vendor == "postgresql")


class GatedGitHub(FakeGitHub):
    """GitHub whose answers wait until ``gate`` is set (at most 10 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def handle(self, request: Request) -> Reply:
        self.gate.wait(10)
        return super().handle(request)


def _race(task: Callable[[int], None], source_id: int, gate: threading.Event) -> None:
    """Run ``task(source_id)`` in two threads released together; open ``gate`` once one has returned."""
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait(5)
            task(source_id)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        tasks = [pool.submit(run) for _ in range(2)]
        done, _ = wait(tasks, timeout=20, return_when=FIRST_COMPLETED)
        gate.set()
        assert done, "neither task returned while the help desk held the first one"
        for finished in wait(tasks, timeout=20).done:
            finished.result()


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    zendesk = FakeZendesk()
    with serving(zendesk):
        for ticket_id in range(1, 6):
            zendesk.add_ticket(ticket_id, f"Question {ticket_id}", 101, [(101, f"Question {ticket_id}?", True)])
        yield zendesk


@pytest.fixture
def github() -> Iterator[GatedGitHub]:
    github = GatedGitHub()
    with serving(github):
        github.seed()
        yield github


def _skips(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if "already running" in record.getMessage()]


def test_two_sync_tasks_of_one_help_desk_at_once_make_one_pass(
    zendesk: FakeZendesk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickets.tasks")
    source = zendesk_source(zendesk)
    zendesk.gate = threading.Event()

    _race(sync_source, source.pk, zendesk.gate)

    (run,) = source.sync_runs.all()
    assert run.status == SyncRunStatus.SUCCEEDED and run.created == 5
    assert len(_skips(caplog)) == 1
    exports = [request for request in zendesk.requests if request.path == EXPORT_PATH]
    assert sum("start_time" in request.query for request in exports) == 1  # one pass from the start
    assert Ticket.objects.filter(source=source).count() == 5


def test_two_sync_tasks_of_one_tracker_at_once_make_one_pass(
    github: GatedGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roadmap.tasks")
    source, _ = backlog_source_configure(
        name="Web app issues", kind="github", settings_update=github.settings(), secrets_update=github.secrets()
    )

    _race(sync_backlog_source, source.pk, github.gate)

    (run,) = source.sync_runs.all()
    assert run.status == BacklogSyncRunStatus.SUCCEEDED and run.created == 5
    assert len(_skips(caplog)) == 1
    issue_lists = [request for request in github.requests if request.path == f"/repos/{REPOSITORY}/issues"]
    assert sum("since" not in request.query for request in issue_lists) == 1  # one pass from the start
    assert BacklogItem.objects.filter(backlog_source=source).count() == 5
