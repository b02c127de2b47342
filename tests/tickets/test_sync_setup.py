"""Setting up and running help-desk syncs: add_source, sync_source, the schedule and the task."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.connectors.fake_zendesk import EMAIL, TOKEN, FakeZendesk
from tests.connectors.server import serving
from tickets.crypto import secrets_decrypt
from tickets.models import Source, SourceKind, SyncRun, SyncRunStatus, SyncTrigger, Ticket
from tickets.services import (
    SourceDisabled,
    source_configure,
    source_sync,
    source_sync_queue,
    sources_due_for_sync,
    sources_sync_due_queue,
)
from tickets.tasks import sync_source


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    fake = FakeZendesk()
    fake.add_ticket(1, "Cannot log in", 101, [(101, "I cannot log in.", True)])
    fake.add_ticket(2, "Refund", 102, [(102, "Refund please.", True), (9, "Done.", True)])
    with serving(fake):
        yield fake


@pytest.mark.django_db
def test_add_source_stores_settings_in_clear_and_the_token_encrypted() -> None:
    output = _run(
        "add_source",
        "Acme",
        "--kind",
        "zendesk",
        "--set",
        "subdomain=acme",
        "--set",
        f"email={EMAIL}",
        "--set",
        f"api_token={TOKEN}",
        "--every",
        "15",
    )

    source = Source.objects.get(name="Acme")
    assert source.kind == SourceKind.ZENDESK and source.sync_interval_minutes == 15
    assert source.settings == {"subdomain": "acme", "email": EMAIL}
    assert secrets_decrypt(source.credentials_encrypted) == {"api_token": TOKEN}
    assert TOKEN not in output and "stored encrypted: api_token" in output
    assert "Created source 'Acme' (Zendesk Support)" in output


@pytest.mark.django_db
def test_add_source_updates_an_existing_source_and_keeps_its_other_secrets() -> None:
    _run("add_source", "Acme", "--kind", "zendesk", "--set", f"api_token={TOKEN}", "--set", "subdomain=acme")

    output = _run("add_source", "Acme", "--kind", "zendesk", "--set", "subdomain=acme-eu", "--disable")

    source = Source.objects.get(name="Acme")
    assert source.settings == {"subdomain": "acme-eu"} and not source.enabled
    assert secrets_decrypt(source.credentials_encrypted) == {"api_token": TOKEN}
    assert output.startswith("Updated source 'Acme'") and "still missing before it can sync: email" in output


@pytest.mark.django_db
def test_add_source_refuses_keys_the_kind_does_not_have_and_a_kind_change() -> None:
    with pytest.raises(CommandError, match="zendesk sources have no setting 'password'"):
        _run("add_source", "Acme", "--kind", "zendesk", "--set", "password=x")
    _run("add_source", "Acme", "--kind", "zendesk", "--set", "subdomain=acme")
    with pytest.raises(CommandError, match="its kind cannot change"):
        _run("add_source", "Acme", "--kind", "freshdesk")


@pytest.mark.django_db
def test_sync_source_runs_inline_and_prints_the_counts(zendesk: FakeZendesk, monkeypatch: pytest.MonkeyPatch) -> None:
    _run(
        "add_source",
        "Acme",
        "--kind",
        "zendesk",
        "--set",
        f"email={EMAIL}",
        "--set",
        f"api_token={TOKEN}",
        "--set",
        f"base_url={zendesk.base_url}",
    )

    output = _run("sync_source", "Acme")

    assert "Acme (run " in output and "Succeeded" in output
    assert "fetched 2, created 2, updated 0, unchanged 0, deleted 0, failed 0" in output
    assert SyncRun.objects.get().trigger == SyncTrigger.COMMAND
    assert "fetched 2, created 0, updated 0, unchanged 2" in _run("sync_source", "Acme", "--full")


@pytest.mark.django_db
def test_sync_source_fails_with_the_reason(zendesk: FakeZendesk) -> None:
    _run(
        "add_source",
        "Acme",
        "--kind",
        "zendesk",
        "--set",
        f"email={EMAIL}",
        "--set",
        "api_token=wrong",
        "--set",
        f"base_url={zendesk.base_url}",
    )

    with pytest.raises(CommandError, match="the API token was rejected"):
        _run("sync_source", "Acme")
    with pytest.raises(CommandError, match="There is no source named 'Nope'"):
        _run("sync_source", "Nope")


@pytest.mark.django_db
def test_a_disabled_source_is_not_synced(zendesk: FakeZendesk) -> None:
    source, _ = source_configure(name="Acme", kind="zendesk", settings_update={}, secrets_update={}, enabled=False)

    with pytest.raises(SourceDisabled):
        source_sync(source_id=source.pk)
    with pytest.raises(SourceDisabled):
        source_sync_queue(source=source)


@pytest.mark.django_db
def test_a_source_without_credentials_fails_with_what_is_missing() -> None:
    source, _ = source_configure(name="Acme", kind="zendesk", settings_update={"subdomain": "acme"}, secrets_update={})

    run = source_sync(source_id=source.pk)

    assert run.status == SyncRunStatus.FAILED
    assert run.failure == "The agent email is missing; add it in the source's settings."


@pytest.mark.django_db
def test_sync_now_queues_the_task_after_the_commit_and_it_syncs(
    zendesk: FakeZendesk, admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    source, _ = source_configure(
        name="Acme",
        kind="zendesk",
        settings_update={"email": EMAIL, "base_url": zendesk.base_url},
        secrets_update={"api_token": TOKEN},
    )

    with django_capture_on_commit_callbacks() as callbacks:
        source_sync_queue(source=source, started_by=admin_user)
    assert not SyncRun.objects.exists()  # nothing runs before the commit

    callbacks[0]()

    run = SyncRun.objects.get(source=source)
    assert (run.status, run.trigger, run.started_by, run.created) == (
        SyncRunStatus.SUCCEEDED,
        SyncTrigger.MANUAL,
        admin_user,
        2,
    )
    assert Ticket.objects.filter(source=source).count() == 2


@pytest.mark.django_db
def test_the_schedule_queues_only_sources_that_are_due(
    zendesk: FakeZendesk, django_capture_on_commit_callbacks: Any
) -> None:
    def make(name: str, **fields: Any) -> Source:
        return Source.objects.create(
            name=name, kind=SourceKind.ZENDESK, settings={"email": EMAIL, "base_url": zendesk.base_url}, **fields
        )

    never_synced = make("never", sync_interval_minutes=30)
    recently = make("recent", sync_interval_minutes=30)
    SyncRun.objects.create(source=recently, trigger=SyncTrigger.SCHEDULE, status=SyncRunStatus.SUCCEEDED)
    long_ago = make("stale", sync_interval_minutes=30)
    old = SyncRun.objects.create(source=long_ago, trigger=SyncTrigger.SCHEDULE, status=SyncRunStatus.SUCCEEDED)
    SyncRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=31))
    make("unscheduled")
    make("disabled", sync_interval_minutes=5, enabled=False)
    Source.objects.create(name="uploads", kind=SourceKind.UPLOAD, sync_interval_minutes=5)

    assert {s.name for s in sources_due_for_sync()} == {"never", "stale"}
    with django_capture_on_commit_callbacks(execute=True):
        queued = sources_sync_due_queue()

    assert sorted(queued) == sorted([never_synced.pk, long_ago.pk])
    # They ran (without credentials they fail, and say why), so neither is due any more.
    assert (
        SyncRun.objects.filter(source=never_synced, trigger=SyncTrigger.SCHEDULE).get().status == SyncRunStatus.FAILED
    )
    assert sources_due_for_sync() == []


@pytest.mark.django_db
def test_the_task_skips_a_disabled_or_missing_source_quietly() -> None:
    source = Source.objects.create(name="off", kind=SourceKind.ZENDESK, enabled=False)

    sync_source(source.pk)
    sync_source(987654)

    assert not SyncRun.objects.exists()


def test_the_beat_schedule_queues_due_syncs_every_minute(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["queue-due-source-syncs"]
    assert entry == {"task": "tickets.tasks.queue_due_syncs", "schedule": 60}


@pytest.mark.django_db
def test_a_sync_cut_by_the_task_time_limit_says_so_and_keeps_what_it_stored(
    zendesk: FakeZendesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    import tickets.services.sync as sync

    source, _ = source_configure(
        name="Acme",
        kind="zendesk",
        settings_update={"email": EMAIL, "base_url": zendesk.base_url},
        secrets_update={"api_token": TOKEN},
    )
    zendesk.add_ticket(3, "Third", 101, [(101, "Third page.", True)])
    real_ingest = sync.ingest_records
    pages = iter([real_ingest, SoftTimeLimitExceeded()])

    def ingest_until_the_limit(**kwargs: Any) -> Any:
        step = next(pages)
        if isinstance(step, Exception):
            raise step
        return step(**kwargs)

    monkeypatch.setattr(sync, "ingest_records", ingest_until_the_limit)

    run = source_sync(source_id=source.pk, sleep=lambda seconds: None)

    assert run.status == SyncRunStatus.FAILED
    assert "task time limit" in run.failure and "resumes from the last saved page" in run.failure
    assert run.created == 2 and Ticket.objects.filter(source=source).count() == 2
