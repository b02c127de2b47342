"""Zendesk Support through a real HTTP server on 127.0.0.1 that behaves like Zendesk's API."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from tests.conftest import require_service
from tests.connectors.fake_zendesk import EXPORT_PATH, TOKEN, FakeZendesk, encode, zendesk_source
from tickets.crypto import secrets_decrypt
from tickets.models import Customer, Message, Organization, Source, SyncRunStatus, SyncTrigger, Ticket
from tickets.services import SyncAlreadyRunning, source_sync, source_test_connection


def _zendesk(serve: Callable[[FakeZendesk], str], **options: Any) -> FakeZendesk:
    zendesk = FakeZendesk(**options)
    serve(zendesk)
    zendesk.add_ticket(
        1,
        "Cannot log in",
        101,
        [(101, "I cannot log in since this morning.", True), (9, "Try resetting it.", True)],
        organization_id=500,
        tags=["login", "web"],
    )
    zendesk.add_ticket(2, "Invoice twice", 102, [(102, "I was charged twice for March.", True)], via={"channel": "web"})
    zendesk.add_ticket(
        3,
        "Export to CSV",
        101,
        [(101, "How do I export my data?", True), (9, "Internal: known gap", False), (9, "Use Settings.", True)],
        organization_id=500,
        status="solved",
        satisfaction_rating={"score": "good"},
    )
    zendesk.add_ticket(4, "Phone call", 102, [(102, "Called about the API limits.", True)], via={"channel": "voice"})
    zendesk.add_ticket(5, "Chat", 101, [(101, "Is there a dark mode?", True)], via={"channel": "chat"})
    return zendesk


@pytest.fixture
def zendesk(serve: Callable[[FakeZendesk], str]) -> FakeZendesk:
    return _zendesk(serve)


@pytest.mark.django_db
def test_it_imports_every_ticket_with_its_conversation_requester_and_organization(
    zendesk: FakeZendesk, sleeps: list[float]
) -> None:
    source = zendesk_source(zendesk)

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED, run.failure
    assert (run.fetched, run.created, run.updated, run.unchanged, run.rejected) == (5, 5, 0, 0, 0)
    tickets = {
        t.external_id: t for t in Ticket.objects.filter(source=source).select_related("requester", "organization")
    }
    assert sorted(tickets) == ["1", "2", "3", "4", "5"]
    login = tickets["1"]
    assert login.subject == "Cannot log in"
    assert login.channel == "email" and login.status == "open" and login.priority == "normal"
    assert login.tags == ["login", "web"]
    assert login.requester.email == "carla@example.com" and login.requester.name == "Carla Customer"
    assert login.organization.name == "Acme Corp"
    assert login.url == f"{zendesk.base_url}/agent/tickets/1"
    assert [(m.author_role, m.author_name, m.body) for m in login.messages.all()] == [
        ("customer", "Carla Customer", "I cannot log in since this morning."),
        ("agent", "Ada Agent", "Try resetting it."),
    ]
    export = tickets["3"]
    assert export.status == "solved" and export.solved_at is not None and export.csat == 5
    # Three comments over two pages of the comments endpoint; the internal note is kept, marked private.
    assert [(m.body, m.is_public) for m in export.messages.all()] == [
        ("How do I export my data?", True),
        ("Internal: known gap", False),
        ("Use Settings.", True),
    ]
    assert (tickets["2"].channel, tickets["4"].channel, tickets["5"].channel) == ("web", "phone", "chat")
    assert Customer.objects.filter(source=source).count() == 2
    assert Organization.objects.filter(source=source).count() == 1
    # Three export pages of two; the cursor of the last one is saved for the next sync.
    export_requests = [r for r in zendesk.requests if r.path == EXPORT_PATH]
    assert len(export_requests) == 3 and export_requests[0].query["start_time"] == "0"
    last = zendesk.tickets[5]
    assert Source.objects.get(pk=source.pk).cursor == {"after_cursor": encode((last["generated_timestamp"], 5))}
    assert all(r.headers["user-agent"].startswith("Threadline/") for r in zendesk.requests)
    assert sleeps == []


@pytest.mark.django_db
def test_a_second_sync_without_changes_changes_nothing(zendesk: FakeZendesk, sleeps: list[float]) -> None:
    source = zendesk_source(zendesk)
    source_sync(source_id=source.pk, sleep=sleeps.append)
    before = list(Ticket.objects.order_by("id").values_list("id", "changed_at", "content_hash"))
    messages_before = Message.objects.count()
    zendesk.requests.clear()

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED
    assert (run.fetched, run.created, run.updated, run.deleted) == (0, 0, 0, 0)
    assert list(Ticket.objects.order_by("id").values_list("id", "changed_at", "content_hash")) == before
    assert Message.objects.count() == messages_before
    # It asked from the saved cursor, not from the beginning.
    assert "cursor" in zendesk.requests[0].query and "start_time" not in zendesk.requests[0].query


@pytest.mark.django_db
def test_an_updated_ticket_is_updated_in_place_and_a_deleted_one_is_removed(
    zendesk: FakeZendesk, sleeps: list[float]
) -> None:
    source = zendesk_source(zendesk)
    source_sync(source_id=source.pk, sleep=sleeps.append)
    invoice = Ticket.objects.get(source=source, external_id="2")
    zendesk.add_comment(2, 9, "Refunded, sorry about that.")
    zendesk.update_ticket(2, status="solved", tags=["billing"])
    zendesk.delete_ticket(4)

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert (run.fetched, run.created, run.updated, run.unchanged, run.deleted) == (2, 0, 1, 0, 1)
    invoice.refresh_from_db()
    assert invoice.status == "solved" and invoice.tags == ["billing"]
    assert [m.body for m in invoice.messages.all()][-1] == "Refunded, sorry about that."
    assert Ticket.objects.filter(source=source, external_id="2").count() == 1
    assert not Ticket.objects.filter(source=source, external_id="4").exists()
    assert Ticket.objects.filter(source=source).count() == 4


@pytest.mark.django_db
def test_a_sync_that_crashes_mid_way_resumes_without_duplicates_or_loss(
    zendesk: FakeZendesk, sleeps: list[float]
) -> None:
    source = zendesk_source(zendesk)
    zendesk.fail_after_pages = 2

    crashed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert crashed.status == SyncRunStatus.FAILED
    assert "Zendesk answered HTTP 503 6 times in a row" in crashed.failure
    assert "resumes where this one stopped" in crashed.failure
    assert crashed.created == 4
    assert sorted(Ticket.objects.filter(source=source).values_list("external_id", flat=True)) == ["1", "2", "3", "4"]
    assert sleeps == [1, 2, 4, 8, 16]  # capped exponential backoff, then it gave up
    saved_cursor = Source.objects.get(pk=source.pk).cursor["after_cursor"]

    zendesk.fail_after_pages = None
    zendesk.update_ticket(1, subject="Cannot log in (2FA)")  # changed while the sync was down
    zendesk.requests.clear()
    resumed = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert resumed.status == SyncRunStatus.SUCCEEDED
    assert zendesk.requests[0].query["cursor"] == saved_cursor
    assert (resumed.created, resumed.updated) == (1, 1)
    assert sorted(Ticket.objects.filter(source=source).values_list("external_id", flat=True)) == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert Ticket.objects.get(source=source, external_id="1").subject == "Cannot log in (2FA)"
    assert Message.objects.filter(ticket__source=source).count() == 8


@pytest.mark.django_db
def test_a_crash_between_a_page_and_its_cursor_loses_nothing(
    zendesk: FakeZendesk, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records of a page and the cursor after it commit together: a crash in between undoes both."""
    import tickets.services.sync as services

    source = zendesk_source(zendesk)
    real_delete = services._tickets_delete
    calls = {"n": 0}

    def crash_on_second_page(source: Source, external_ids: list[str]) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real_delete(source, external_ids)

    monkeypatch.setattr(services, "_tickets_delete", crash_on_second_page)
    with pytest.raises(RuntimeError):
        source_sync(source_id=source.pk, sleep=sleeps.append)
    assert Ticket.objects.filter(source=source).count() == 2  # the second page rolled back with its cursor

    monkeypatch.setattr(services, "_tickets_delete", real_delete)
    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert (run.created, run.unchanged) == (3, 0)
    assert Ticket.objects.filter(source=source).count() == 5


@pytest.mark.django_db
def test_a_rejected_token_stops_the_sync_with_a_message_an_admin_understands(
    zendesk: FakeZendesk, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = zendesk_source(zendesk, token="revoked-token-0000")

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.FAILED
    assert run.failure.startswith("Zendesk rejected the credentials (HTTP 401): the API token was rejected.")
    assert not Ticket.objects.filter(source=source).exists()
    assert Source.objects.get(pk=source.pk).cursor == {}
    assert len(zendesk.requests) == 1  # no retrying a permanent refusal
    assert "revoked-token-0000" not in caplog.text and "revoked-token-0000" not in run.failure


@pytest.mark.django_db
def test_a_429_is_retried_after_the_retry_after_seconds(zendesk: FakeZendesk, sleeps: list[float]) -> None:
    source = zendesk_source(zendesk)
    zendesk.rate_limit_next = 7

    run = source_sync(source_id=source.pk, sleep=sleeps.append)

    assert run.status == SyncRunStatus.SUCCEEDED
    assert sleeps == [7.0]
    assert run.created == 5


@pytest.mark.django_db
def test_a_full_sync_starts_from_the_beginning_and_finds_everything_unchanged(
    zendesk: FakeZendesk, sleeps: list[float]
) -> None:
    source = zendesk_source(zendesk)
    source_sync(source_id=source.pk, sleep=sleeps.append)
    zendesk.requests.clear()

    run = source_sync(source_id=source.pk, full=True, trigger=SyncTrigger.COMMAND, sleep=sleeps.append)

    assert zendesk.requests[0].query["start_time"] == "0"
    assert (run.fetched, run.created, run.updated, run.unchanged) == (5, 0, 0, 5)


@pytest.mark.django_db
def test_the_connection_test_says_who_signed_in_and_how_many_tickets_there_are(
    zendesk: FakeZendesk, sleeps: list[float]
) -> None:
    source = zendesk_source(zendesk)

    assert source_test_connection(source=source, sleep=sleeps.append) == "Signed in as Ada Agent (admin); 5 tickets"


@pytest.mark.django_db
def test_the_api_token_is_stored_encrypted_and_not_in_the_settings(zendesk: FakeZendesk) -> None:
    source = zendesk_source(zendesk)

    assert "api_token" not in source.settings
    assert TOKEN not in source.credentials_encrypted
    assert secrets_decrypt(source.credentials_encrypted) == {"api_token": TOKEN}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_source_never_syncs_twice_at_once(serve: Callable[[FakeZendesk], str], sleeps: list[float]) -> None:
    require_service("PostgreSQL as the test database (DATABASE_URL)", connection.vendor == "postgresql")
    zendesk = _zendesk(serve)
    source = zendesk_source(zendesk)
    zendesk.gate = threading.Event()
    outcome: dict[str, Any] = {}

    def first_sync() -> None:
        try:
            outcome["run"] = source_sync(source_id=source.pk, sleep=sleeps.append)
        finally:
            connection.close()

    worker = threading.Thread(target=first_sync)
    worker.start()
    try:
        assert zendesk.entered.wait(10), "the first sync never reached the help desk"
        with pytest.raises(SyncAlreadyRunning):
            source_sync(source_id=source.pk, sleep=sleeps.append)
    finally:
        zendesk.gate.set()
        worker.join(20)

    assert outcome["run"].status == SyncRunStatus.SUCCEEDED and outcome["run"].created == 5
    assert source.sync_runs.count() == 1
    # Once the first is done, the lock is free again.
    assert source_sync(source_id=source.pk, sleep=sleeps.append).status == SyncRunStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_run_left_running_blocks_or_is_closed_depending_on_the_lock(
    zendesk: FakeZendesk, sleeps: list[float]
) -> None:
    """PostgreSQL's advisory lock dies with a dead worker, so a run still "running" is known dead and closed;
    without it (SQLite, one process) a running run blocks until the task time limit has passed."""
    from datetime import timedelta

    from django.utils import timezone

    from tickets.models import SyncRun

    source = zendesk_source(zendesk)
    stale = SyncRun.objects.create(
        source=source, trigger=SyncTrigger.SCHEDULE, status=SyncRunStatus.RUNNING, started_at=timezone.now()
    )

    if connection.vendor == "postgresql":
        run = source_sync(source_id=source.pk, sleep=sleeps.append)
        stale.refresh_from_db()
        assert run.status == SyncRunStatus.SUCCEEDED
        assert stale.status == SyncRunStatus.FAILED and "worker stopped" in stale.failure
    else:
        with pytest.raises(SyncAlreadyRunning):
            source_sync(source_id=source.pk, sleep=sleeps.append)
        SyncRun.objects.filter(pk=stale.pk).update(started_at=timezone.now() - timedelta(hours=2))
        assert source_sync(source_id=source.pk, sleep=sleeps.append).status == SyncRunStatus.SUCCEEDED
