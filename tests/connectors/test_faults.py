"""A help desk that misbehaves on the wire, and a database that drops the sync's connection.

What test_http_client.py (a mock transport) and test_zendesk.py (persistent 503, one 429) cover is not
repeated here: these faults come from a real HTTP server on 127.0.0.1 (a timeout the client runs
into, a JSON body cut in the middle, a body shorter than its Content-Length) and from PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from django.db import OperationalError, connection, connections

import config.http
import tests.connectors.server as fake_server
from tests.conftest import require_service
from tests.connectors.fake_zendesk import EXPORT_PATH, FakeZendesk, encode, zendesk_source
from tests.connectors.server import FakeService, Reply, Request
from tickets.models import Message, Source, SyncRun, SyncRunStatus, Ticket
from tickets.services import source_sync

CLIENT_TIMEOUT_SECONDS = 0.2
COMMENTS_OF_ALL_TICKETS = 8


class FaultyZendesk(FakeZendesk):
    """Zendesk whose next answers on a path are the faults queued for it (None: answer normally).

    ``before_export`` is called with the number of export pages served so far, before each export
    request is answered: the hook that reaches outside the help desk (drops a database connection).
    """

    def __init__(self) -> None:
        super().__init__(page_size=2)
        self.faults: dict[str, list[str | None]] = {}
        self.before_export: Callable[[int], None] | None = None

    def next_fault(self, path: str) -> str | None:
        with self.lock:
            queued = self.faults.get(path)
            return queued.pop(0) if queued else None

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def handle(self, request: Request) -> Reply:
        if request.path == EXPORT_PATH and self.before_export is not None:
            self.before_export(self.export_pages_served)
        return super().handle(request)


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    """Answer and close the connection, saying so: a client that reused it would meet a reset of our making."""
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json; charset=utf-8", "Connection": "close", **headers}.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _misbehave(handler: BaseHTTPRequestHandler, fault: str) -> None:
    cut = b'{"tickets": [{"id": 3, "subject": "Expo'
    if fault == "500":
        _send(handler, 500, b'{"error": "InternalError"}', {"Content-Length": "26"})
    elif fault == "429":
        _send(handler, 429, b"{}", {"Content-Length": "2", "Retry-After": "3"})
    elif fault == "cut":  # a complete HTTP message whose JSON ends mid-way
        _send(handler, 200, cut, {"Content-Length": str(len(cut))})
    elif fault == "short":  # fewer bytes than announced, then the connection closes
        _send(handler, 200, cut, {"Content-Length": str(len(cut) + 500)})
    elif fault == "timeout":
        time.sleep(CLIENT_TIMEOUT_SECONDS * 5)
    else:
        raise AssertionError(f"unknown fault {fault!r}")
    handler.close_connection = True


def _faulty_handler(service: FaultyZendesk, plain: Callable[[FakeService], type[BaseHTTPRequestHandler]]) -> type:
    """The fake server's request handler, answering with ``service``'s queued faults first."""

    class Handler(plain(service)):  # type: ignore[misc]
        def _serve_or_fail(self) -> None:
            path = self.path.split("?")[0]
            fault = service.next_fault(path)
            if fault is None:
                self._serve()
                return
            query = httpx.URL(self.path).params
            service.record(Request(self.command, path, dict(query.items()), {}, b""))
            _misbehave(self, fault)

        do_GET = do_POST = do_PUT = _serve_or_fail

    return Handler


@pytest.fixture
def zendesk(serve: Callable[[FakeService], str], monkeypatch: pytest.MonkeyPatch) -> FaultyZendesk:
    plain = fake_server._handler
    monkeypatch.setattr(fake_server, "_handler", lambda service: _faulty_handler(service, plain))
    monkeypatch.setattr(config.http, "DEFAULT_TIMEOUT", httpx.Timeout(CLIENT_TIMEOUT_SECONDS))
    zendesk = FaultyZendesk()
    serve(zendesk)
    zendesk.add_ticket(1, "Cannot log in", 101, [(101, "I cannot log in.", True), (9, "Reset it.", True)])
    zendesk.add_ticket(2, "Invoice twice", 102, [(102, "I was charged twice.", True)])
    zendesk.add_ticket(3, "Export", 101, [(101, "Export?", True), (9, "Internal", False), (9, "Settings.", True)])
    zendesk.add_ticket(4, "Phone call", 102, [(102, "Called about the API limits.", True)])
    zendesk.add_ticket(5, "Chat", 101, [(101, "Is there a dark mode?", True)])
    return zendesk


def _cursor_after(zendesk: FakeZendesk, ticket_id: int) -> str:
    return encode((zendesk.tickets[ticket_id]["generated_timestamp"], ticket_id))


def _export_cursors(zendesk: FakeZendesk) -> list[str]:
    """What each export request started from: ``start`` for the first, else its cursor."""
    return [r.query.get("cursor", "start") for r in zendesk.requests if r.path == EXPORT_PATH]


def _stored(source: Source) -> list[str]:
    return sorted(Ticket.objects.filter(source=source).values_list("external_id", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["500", "timeout", "cut", "short"])
def test_a_fault_that_passes_is_retried_with_backoff_and_nothing_is_doubled(
    zendesk: FaultyZendesk, sleeps: list[float], fault: str
) -> None:
    source = zendesk_source(zendesk)
    zendesk.faults[EXPORT_PATH] = [None, fault, fault]  # the second page fails twice, then comes

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED, run.failure
    assert sleeps == [1, 2]
    page_2 = _cursor_after(zendesk, 2)
    assert _export_cursors(zendesk) == ["start", page_2, page_2, page_2, _cursor_after(zendesk, 4)]
    assert (run.created, run.updated, run.unchanged) == (5, 0, 0)
    assert _stored(source) == ["1", "2", "3", "4", "5"]
    assert Message.objects.filter(ticket__source=source).count() == COMMENTS_OF_ALL_TICKETS


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        ("timeout", "Zendesk could not be reached after 6 attempts (ReadTimeout)"),
        ("short", "Zendesk could not be reached after 6 attempts (RemoteProtocolError)"),
        ("cut", "Zendesk sent an answer with its JSON cut short 6 times in a row"),
        ("429", "Zendesk kept answering 'too many requests'"),
    ],
)
def test_a_fault_that_persists_fails_the_run_plainly_keeps_the_cursor_and_the_next_sync_resumes(
    zendesk: FaultyZendesk, sleeps: list[float], fault: str, failure: str
) -> None:
    source = zendesk_source(zendesk)
    zendesk.faults[EXPORT_PATH] = [None] + [fault] * 20

    failed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert failed.status == SyncRunStatus.FAILED
    assert failed.failure == f"{failure}; the next sync resumes where this one stopped."
    assert _stored(source) == ["1", "2"]
    assert Source.objects.get(pk=source.pk).cursor["after_cursor"] == _cursor_after(zendesk, 2)

    zendesk.faults.clear()
    zendesk.requests.clear()
    resumed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert resumed.status == SyncRunStatus.SUCCEEDED
    assert _export_cursors(zendesk)[0] == _cursor_after(zendesk, 2)
    assert (resumed.created, resumed.updated, resumed.unchanged) == (3, 0, 0)
    assert _stored(source) == ["1", "2", "3", "4", "5"]


@pytest.mark.django_db
def test_a_page_whose_last_conversation_cannot_be_read_is_not_committed_in_part(
    zendesk: FaultyZendesk, sleeps: list[float]
) -> None:
    source = zendesk_source(zendesk)
    zendesk.faults["/api/v2/tickets/4/comments.json"] = ["500"] * 6  # ticket 3's comments came; 4's never

    failed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert failed.status == SyncRunStatus.FAILED
    assert failed.failure.startswith("Zendesk answered HTTP 500 6 times in a row")
    assert _stored(source) == ["1", "2"]  # not ticket 3 of the page that failed
    assert Source.objects.get(pk=source.pk).cursor["after_cursor"] == _cursor_after(zendesk, 2)

    resumed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert (resumed.created, resumed.unchanged) == (3, 0)
    assert Message.objects.filter(ticket__source=source).count() == COMMENTS_OF_ALL_TICKETS


def _terminate_backend(pid: int) -> None:
    """Drop the session ``pid`` from another session, as a database restart or failover would,
    and wait until it is gone."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(100):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == 0:
                    return
                time.sleep(0.05)
        raise AssertionError(f"session {pid} outlived pg_terminate_backend")
    finally:
        other.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_connection_dropped_mid_sync_fails_the_run_and_the_next_sync_resumes(
    zendesk: FaultyZendesk, sleeps: list[float]
) -> None:
    require_service("PostgreSQL as the test database (DATABASE_URL)", connection.vendor == "postgresql")
    source = zendesk_source(zendesk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (sync_session,) = cursor.fetchone()

    def drop_the_sync_session_after_the_first_page(pages_served: int) -> None:
        if pages_served == 1:
            _terminate_backend(sync_session)

    zendesk.before_export = drop_the_sync_session_after_the_first_page
    with pytest.raises(OperationalError) as raised:
        source_sync(source_id=source.pk, sleep=sleeps.append)

    zendesk.before_export = None
    run = SyncRun.objects.get(source=source)
    assert run.status == SyncRunStatus.FAILED, f"{run.status}; the sync raised {raised.value!r}"
    assert run.failure == (
        "The database connection was lost during the sync; the next sync resumes from the last saved page."
    )
    assert run.created == 2
    assert _stored(source) == ["1", "2"]

    zendesk.requests.clear()
    resumed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert resumed.status == SyncRunStatus.SUCCEEDED
    assert _export_cursors(zendesk)[0] == _cursor_after(zendesk, 2)  # it did not start over
    assert (resumed.created, resumed.updated, resumed.unchanged) == (3, 0, 0)
    assert _stored(source) == ["1", "2", "3", "4", "5"]
    assert Message.objects.filter(ticket__source=source).count() == COMMENTS_OF_ALL_TICKETS
