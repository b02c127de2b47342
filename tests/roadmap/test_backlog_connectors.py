"""Backlog connectors (GitHub Issues, Jira Cloud, Linear) through real HTTP servers on 127.0.0.1.

The same story runs on each tracker (tests.roadmap.fake_trackers): a first sync creates the items
with mapped statuses, a sync with nothing new changes nothing, a closed issue becomes shipped, a
sync that breaks off resumes without doubles, a bad token says so, a source's own mapping wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from roadmap.connectors.base import BacklogRecord, status_for
from roadmap.connectors.jira import adf_to_text, jql_for
from roadmap.models import BacklogItem, BacklogItemChange, BacklogSource, BacklogSyncRun, BacklogSyncRunStatus
from roadmap.services import backlog_item_create
from roadmap.sync import (
    SYNC_LOCK_NAMESPACE,
    BacklogSourceDisabled,
    BacklogSyncAlreadyRunning,
    backlog_source_configure,
    backlog_source_sync,
    backlog_source_test_connection,
    backlog_sources_due_for_sync,
)
from tests.conftest import require_service
from tests.connectors.server import serving
from tests.roadmap.fake_trackers import TRACKERS, FakeGitHub, FakeJira, FakeLinear, FakeTracker
from tickets.connectors.base import ConfigurationError, PermanentError
from tickets.crypto import secrets_decrypt


@pytest.fixture
def servers() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(params=sorted(TRACKERS))
def tracker(request: pytest.FixtureRequest, servers: ExitStack) -> FakeTracker:
    fake = TRACKERS[request.param]()
    servers.enter_context(serving(fake))
    fake.seed()
    return fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _source(fake: FakeTracker, *, token: str | None = None, mapping: dict[str, str] | None = None) -> BacklogSource:
    source, _ = backlog_source_configure(
        name=f"{fake.kind} backlog", kind=fake.kind, settings_update=fake.settings(),
        secrets_update=fake.secrets(token), status_mapping=mapping,
    )
    return source


def _statuses(source: BacklogSource, fake: FakeTracker) -> dict[int, str]:
    by_key = dict(BacklogItem.objects.filter(backlog_source=source).values_list("external_key", "status"))
    return {n: by_key[fake.key(n)] for n in range(1, 6) if fake.key(n) in by_key}


@pytest.mark.django_db
def test_it_creates_an_item_per_issue_with_the_mapped_status_kind_and_tracker_link(
    tracker: FakeTracker, sleeps: list[float]
) -> None:
    source = _source(tracker)

    run = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert run.status == BacklogSyncRunStatus.SUCCEEDED, run.failure
    assert (run.fetched, run.created, run.updated, run.unchanged) == (5, 5, 0, 0)
    assert BacklogItem.objects.count() == 5  # GitHub's pull request is not a backlog item
    assert _statuses(source, tracker) == tracker.default_statuses
    items = {item.external_key: item for item in BacklogItem.objects.all()}
    assert items[tracker.key(2)].kind == "bug" and items[tracker.key(3)].kind == "docs"
    assert items[tracker.key(1)].kind == "feature"
    docs = items[tracker.key(3)]
    assert docs.title == "Document webhooks" and docs.description.startswith("About document webhooks.")
    assert docs.shipped_at == tracker.closed_at(3)
    assert docs.external_url.startswith("https://") and docs.backlog_source == source
    assert items[tracker.key(4)].shipped_at is None
    created = BacklogItemChange.objects.filter(item=docs).get()
    assert created.action == "created" and created.user is None
    vendor = {"github": "GitHub", "jira": "Jira", "linear": "Linear"}[tracker.kind]
    assert created.note == f"synced from {vendor}"
    # Five issues, two a page: the vendor's pagination was followed (GitHub re-asks from the newest
    # issue read instead of page N+1, so each of its pages overlaps the one before by an issue).
    assert tracker.pages_served == (5 if tracker.kind == "github" else 3)


@pytest.mark.django_db
def test_a_sync_with_nothing_new_changes_nothing(tracker: FakeTracker, sleeps: list[float]) -> None:
    source = _source(tracker)
    backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)
    history = BacklogItemChange.objects.count()
    stamps = dict(BacklogItem.objects.values_list("pk", "updated_at"))

    run = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert run.status == BacklogSyncRunStatus.SUCCEEDED, run.failure
    assert (run.created, run.updated) == (0, 0)
    assert run.fetched <= 1  # at most the issue at the cursor's own instant comes again
    assert BacklogItemChange.objects.count() == history
    assert dict(BacklogItem.objects.values_list("pk", "updated_at")) == stamps


@pytest.mark.django_db
def test_it_asks_the_tracker_only_for_what_changed_since_the_last_sync(
    tracker: FakeTracker, sleeps: list[float]
) -> None:
    source = _source(tracker)
    backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    tracker.retitle(1, "Dark mode for the dashboard")
    run = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert run.status == BacklogSyncRunStatus.SUCCEEDED, run.failure
    assert run.updated == 1 and run.created == 0 and run.fetched <= 2
    item = BacklogItem.objects.get(external_key=tracker.key(1))
    assert item.title == "Dark mode for the dashboard"
    edit = BacklogItemChange.objects.filter(item=item).last()
    assert edit is not None and (edit.action, edit.after, edit.user) == ("edited", "title", None)
    if isinstance(tracker, FakeJira):
        assert 'updated >= "2026/01/01 00:' in tracker.jqls[-1]
    if isinstance(tracker, FakeLinear):
        assert tracker.filters[-1]["updatedAt"]["gt"].startswith("2026-01-01T00:")
    if isinstance(tracker, FakeGitHub):
        assert tracker.requests[-1].query["since"].startswith("2026-01-01T00:")


@pytest.mark.django_db
def test_a_closed_issue_becomes_shipped_at_its_close_time(tracker: FakeTracker, sleeps: list[float]) -> None:
    source = _source(tracker)
    backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    tracker.ship(1)
    run = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert run.status == BacklogSyncRunStatus.SUCCEEDED, run.failure
    item = BacklogItem.objects.get(external_key=tracker.key(1))
    assert item.status == "shipped" and item.shipped_at == tracker.closed_at(1)
    change = BacklogItemChange.objects.filter(item=item, action="status").get()
    assert (change.before, change.after, change.user) == ("Idea", "Shipped", None)
    assert change.note.startswith("synced from ")


@pytest.mark.django_db
def test_a_sync_that_breaks_off_resumes_from_its_last_page_without_doubles(
    tracker: FakeTracker, sleeps: list[float]
) -> None:
    source = _source(tracker)
    tracker.fail_after_pages = 1

    failed = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert failed.status == BacklogSyncRunStatus.FAILED
    assert "the next sync resumes where this one stopped" in failed.failure
    assert failed.created == 2 and BacklogItem.objects.count() == 2
    source.refresh_from_db()
    assert source.cursor  # the first page's cursor was saved with its items

    tracker.fail_after_pages = None
    tracker.ship(5)  # and something changes meanwhile
    resumed = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert resumed.status == BacklogSyncRunStatus.SUCCEEDED, resumed.failure
    assert BacklogItem.objects.count() == 5
    assert sorted(BacklogItem.objects.values_list("external_key", flat=True)) == sorted(
        tracker.key(n) for n in range(1, 6)
    )
    # An issue changed while the sync ran is stored by this sync or, when the tracker's order had
    # already passed it (Linear: newest first), by the next one.
    backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)
    assert _statuses(source, tracker) == {**tracker.default_statuses, 5: "shipped"}
    assert BacklogItem.objects.count() == 5


@pytest.mark.django_db
def test_it_waits_out_a_429_as_retry_after_says(tracker: FakeTracker, sleeps: list[float]) -> None:
    source = _source(tracker)
    tracker.rate_limit_next = 7

    run = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert run.status == BacklogSyncRunStatus.SUCCEEDED, run.failure
    assert sleeps == [7.0] and run.created == 5


@pytest.mark.django_db
def test_a_rejected_token_fails_the_sync_with_a_message_an_admin_can_act_on(
    tracker: FakeTracker, sleeps: list[float]
) -> None:
    source = _source(tracker, token="wrong-token")

    run = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert run.status == BacklogSyncRunStatus.FAILED
    assert "rejected the credentials (HTTP 401)" in run.failure and "source's settings" in run.failure
    assert "wrong-token" not in run.failure
    assert BacklogItem.objects.count() == 0 and sleeps == []
    with pytest.raises(PermanentError, match="rejected"):
        backlog_source_test_connection(backlog_source=source, sleep=sleeps.append)


@pytest.mark.django_db
def test_a_sources_own_status_mapping_wins_over_the_defaults(tracker: FakeTracker, sleeps: list[float]) -> None:
    source = _source(tracker, mapping=tracker.custom_mapping)

    backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert _statuses(source, tracker) == tracker.custom_statuses


@pytest.mark.django_db
def test_the_connection_test_says_who_it_signed_in_as(tracker: FakeTracker, sleeps: list[float]) -> None:
    message = backlog_source_test_connection(backlog_source=_source(tracker), sleep=sleeps.append)

    expected = {"github": "Connected to acme/webapp: 3 open issues", "jira": "Signed in as Ada Admin; project WEB",
                "linear": "Signed in as Ada Admin in Acme"}[tracker.kind]
    assert message.startswith(expected)


@pytest.mark.django_db
def test_a_full_sync_reads_everything_again_and_updates_in_place(tracker: FakeTracker, sleeps: list[float]) -> None:
    source = _source(tracker)
    backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    run = backlog_source_sync(backlog_source_id=source.pk, full=True, sleep=sleeps.append)

    assert (run.fetched, run.created, run.updated, run.unchanged) == (5, 0, 0, 5)
    assert BacklogItem.objects.count() == 5


# --- GitHub specifics ---------------------------------------------------------------------------


@pytest.fixture
def github(servers: ExitStack) -> FakeGitHub:
    fake = FakeGitHub()
    servers.enter_context(serving(fake))
    fake.seed()
    return fake


@pytest.mark.django_db
def test_github_answers_304_to_the_stored_etag_once_nothing_changed(github: FakeGitHub, sleeps: list[float]) -> None:
    source = _source(github)
    backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)
    backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)  # learns the ETag at the new since
    source.refresh_from_db()
    assert source.cursor["etag"] and source.cursor["etag_since"] == source.cursor["since"]

    quiet = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert github.not_modified == 1 and github.requests[-1].headers["if-none-match"] == source.cursor["etag"]
    assert (quiet.status, quiet.fetched, quiet.created, quiet.updated) == (BacklogSyncRunStatus.SUCCEEDED, 0, 0, 0)

    github.ship(1)
    changed = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert github.not_modified == 1 and changed.updated == 1
    assert BacklogItem.objects.get(external_key=github.key(1)).status == "shipped"


@pytest.mark.django_db
def test_github_sends_the_token_as_a_bearer_header_and_asks_for_every_state(
    github: FakeGitHub, sleeps: list[float]
) -> None:
    backlog_source_sync(backlog_source_id=_source(github).pk, sleep=sleeps.append)

    first = github.requests[0]
    assert first.headers["authorization"] == "Bearer ghp_fake_token_4711"
    assert first.headers["accept"] == "application/vnd.github+json"
    assert first.query == {"state": "all", "sort": "updated", "direction": "asc", "per_page": "100"}
    assert [r.query.get("since") for r in github.requests] == [
        None, "2026-01-01T00:02:00Z", "2026-01-01T00:03:00Z", "2026-01-01T00:04:00Z", "2026-01-01T00:05:00Z"
    ]


@pytest.mark.django_db
def test_github_loses_no_issue_when_one_is_updated_while_the_pages_are_read(
    github: FakeGitHub, sleeps: list[float]
) -> None:
    """The list is paged by offset: issue 1 moving to the end would push issue 3 onto page 1, already read."""
    github.after_first_page = lambda: github.retitle(1, "Dark mode, everywhere")

    run = backlog_source_sync(backlog_source_id=_source(github).pk, sleep=sleeps.append)

    assert run.status == BacklogSyncRunStatus.SUCCEEDED and run.created == 5
    assert BacklogItem.objects.get(external_key=github.key(1)).title == "Dark mode, everywhere"


@pytest.mark.django_db
def test_github_follows_the_link_header_while_a_whole_page_shares_one_instant(
    github: FakeGitHub, sleeps: list[float]
) -> None:
    for number in (1, 2, 3, 4):  # a bulk edit: four issues changed in the same second
        github.issues[number]["updated_at"] = "2026-01-01T00:01:00Z"

    run = backlog_source_sync(backlog_source_id=_source(github).pk, sleep=sleeps.append)

    assert (run.created, run.fetched) == (5, 5)
    # Pages 1 and 2 of since=00:01 hold nothing newer than 00:01: their Link leads on.
    assert [(r.query.get("since"), r.query.get("page")) for r in github.requests] == [
        (None, None), ("2026-01-01T00:01:00Z", None), ("2026-01-01T00:01:00Z", "2"), ("2026-01-01T00:01:00Z", "3"),
    ]


@pytest.mark.django_db
def test_github_secondary_rate_limit_is_waited_out_but_a_plain_403_is_a_readable_refusal(
    github: FakeGitHub, sleeps: list[float]
) -> None:
    source = _source(github)
    github.secondary_limit_next = 30

    run = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    assert run.status == BacklogSyncRunStatus.SUCCEEDED and sleeps == [30.0]

    github.forbidden_next = True
    refused = backlog_source_sync(backlog_source_id=source.pk, full=True, sleep=sleeps.append)

    assert refused.status == BacklogSyncRunStatus.FAILED
    assert "refused access to /repos/acme/webapp/issues (HTTP 403)" in refused.failure


@pytest.mark.django_db
def test_a_reopened_issue_leaves_shipped_and_loses_its_ship_time(github: FakeGitHub, sleeps: list[float]) -> None:
    source = _source(github)
    backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    github.update(3, state="open", state_reason="reopened", closed_at=None)
    backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)

    item = BacklogItem.objects.get(external_key=github.key(3))
    assert item.status == "idea" and item.shipped_at is None
    assert item.changes.filter(action="status").get().before == "Shipped"


@pytest.mark.django_db
def test_github_primary_rate_limit_waits_until_the_budget_resets(github: FakeGitHub, sleeps: list[float]) -> None:
    github.primary_limit_next = 40

    run = backlog_source_sync(backlog_source_id=_source(github).pk, sleep=sleeps.append)

    assert run.status == BacklogSyncRunStatus.SUCCEEDED and run.created == 5
    assert len(sleeps) == 1 and 30 < sleeps[0] <= 40


# --- Jira and Linear specifics ------------------------------------------------------------------


@pytest.mark.django_db
def test_jira_descriptions_in_atlassian_document_format_become_plain_text(servers: ExitStack,
                                                                           sleeps: list[float]) -> None:
    jira = FakeJira()
    servers.enter_context(serving(jira))
    jira.seed()

    backlog_source_sync(backlog_source_id=_source(jira).pk, sleep=sleeps.append)

    item = BacklogItem.objects.get(external_key="WEB-1")
    assert item.description == "About dark mode.\nReported by @Carla"
    assert item.external_url == "https://acme.atlassian.net/browse/WEB-1"
    assert jira.jqls[0] == 'project = "WEB" ORDER BY updated ASC, key ASC'


def test_jql_dates_are_written_in_the_api_accounts_time_zone() -> None:
    settings = {"project": "web", "timezone": "Europe/Berlin"}

    assert jql_for(settings, {}) == 'project = "WEB" ORDER BY updated ASC, key ASC'
    assert jql_for(settings, {"updated": "2026-07-01T22:30:59Z"}) == (
        'project = "WEB" AND updated >= "2026/07/02 00:30" ORDER BY updated ASC, key ASC'
    )
    with pytest.raises(ConfigurationError, match="time zone 'Mars/Olympus' is unknown"):
        jql_for({"project": "WEB", "timezone": "Mars/Olympus"}, {"updated": "2026-07-01T22:30:59Z"})
    with pytest.raises(ConfigurationError, match="is not a Jira key"):
        jql_for({"project": "WEB; DROP"}, {})


def test_adf_keeps_line_breaks_links_and_plain_strings() -> None:
    doc = {"type": "doc", "content": [
        {"type": "heading", "content": [{"type": "text", "text": "Steps"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "one"}, {"type": "hardBreak"},
                                          {"type": "inlineCard", "attrs": {"url": "https://x.test/a"}}]},
    ]}
    assert adf_to_text(doc) == "Steps\none\nhttps://x.test/a"
    assert adf_to_text("  plain  ") == "plain" and adf_to_text(None) == ""


@pytest.mark.django_db
def test_linear_rate_limited_graphql_error_is_waited_out(servers: ExitStack, sleeps: list[float]) -> None:
    linear = FakeLinear()
    servers.enter_context(serving(linear))
    linear.seed()
    linear.graphql_rate_limit_next = True

    run = backlog_source_sync(backlog_source_id=_source(linear).pk, sleep=sleeps.append)

    assert run.status == BacklogSyncRunStatus.SUCCEEDED, run.failure
    assert run.created == 5 and len(sleeps) == 1
    assert linear.requests[0].headers["authorization"] == "lin_api_fake_key_4711"


# --- mapping, configuration, adoption, command ---------------------------------------------------


def test_status_lookup_goes_from_the_most_specific_state_to_the_category() -> None:
    record = BacklogRecord(external_key="WEB-9", title="t", description="", kind="feature", state="Done (Won't Do)",
                           states=("Done", "resolution:Won't Do", "category:done"), url="", updated_at=None)
    defaults = {"category:done": "shipped", "resolution:won't do": "wont_do"}
    assert status_for(record, defaults, {}) == "wont_do"
    assert status_for(record, defaults, {"DONE": "Shipped"}) == "shipped"  # names match whatever their case
    assert status_for(record, {}, {}) == "idea"


@pytest.mark.django_db
def test_a_mapping_to_a_status_we_do_not_have_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'released', which is not one of"):
        backlog_source_configure(name="gh", kind="github", status_mapping={"closed": "released"})


@pytest.mark.django_db
def test_secrets_are_stored_encrypted_and_never_as_settings(github: FakeGitHub) -> None:
    source = _source(github)

    assert "ghp_fake_token_4711" not in source.credentials_encrypted and "token" not in source.settings
    assert secrets_decrypt(source.credentials_encrypted) == {"token": "ghp_fake_token_4711"}
    with pytest.raises(ValueError, match="is a secret"):
        backlog_source_configure(name="gh2", kind="github", settings_update={"token": "x"})


@pytest.mark.django_db
def test_an_item_typed_in_by_hand_with_the_trackers_key_is_adopted_not_doubled(
    github: FakeGitHub, sleeps: list[float], product_manager: object
) -> None:
    by_hand = backlog_item_create(user=product_manager, title="Dark mode", external_key="acme/webapp#1")

    backlog_source_sync(backlog_source_id=_source(github).pk, sleep=sleeps.append)

    by_hand.refresh_from_db()
    assert by_hand.backlog_source is not None and BacklogItem.objects.count() == 5
    assert by_hand.created_by == product_manager


@pytest.mark.django_db
def test_a_disabled_source_is_not_synced(github: FakeGitHub) -> None:
    source, _ = backlog_source_configure(name="off", kind="github", settings_update=github.settings(), enabled=False)

    with pytest.raises(BacklogSourceDisabled):
        backlog_source_sync(backlog_source_id=source.pk)
    assert backlog_sources_due_for_sync() == []


@pytest.mark.django_db
def test_sync_backlog_command_prints_the_counts_and_fails_loudly(github: FakeGitHub) -> None:
    source = _source(github)
    out = StringIO()

    call_command("sync_backlog", source.name, stdout=out)

    assert "Succeeded" in out.getvalue() and "created 5, updated 0, unchanged 0" in out.getvalue()
    with pytest.raises(CommandError, match="no backlog source named 'nope'"):
        call_command("sync_backlog", "nope")
    backlog_source_configure(name=source.name, kind="github", secrets_update={"token": "bad"})
    with pytest.raises(CommandError, match="rejected the credentials"):
        call_command("sync_backlog", source.name, "--full", stdout=StringIO())


@pytest.mark.django_db
def test_due_sources_are_queued_and_synced_on_the_ingest_queue(
    github: FakeGitHub, django_capture_on_commit_callbacks: object
) -> None:
    from roadmap.sync import backlog_sources_sync_due_queue
    from roadmap.tasks import sync_backlog_source

    source, _ = backlog_source_configure(name="scheduled", kind="github", settings_update=github.settings(),
                                         secrets_update=github.secrets(), sync_interval_minutes=15)
    assert sync_backlog_source.queue == "ingest"

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        assert backlog_sources_sync_due_queue() == [source.pk]

    assert BacklogItem.objects.filter(backlog_source=source).count() == 5
    assert backlog_sources_due_for_sync() == []  # it just ran


# --- one sync per source at a time -------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_left_running_blocks_or_is_closed_depending_on_the_lock(github: FakeGitHub, sleeps: list[float]) -> None:
    """PostgreSQL's advisory lock dies with a dead worker, so a run still "running" is known dead and closed;
    without it (SQLite, one process) a running run blocks until the task time limit has passed."""
    source = _source(github)
    stale = BacklogSyncRun.objects.create(source=source, trigger="schedule")

    if connection.vendor == "postgresql":
        run = backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)
        stale.refresh_from_db()
        assert run.status == BacklogSyncRunStatus.SUCCEEDED
        assert stale.status == BacklogSyncRunStatus.FAILED and "worker stopped" in stale.failure
    else:
        with pytest.raises(BacklogSyncAlreadyRunning):
            backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)
        BacklogSyncRun.objects.filter(pk=stale.pk).update(started_at=timezone.now() - timedelta(hours=2))
        assert backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append).status == "succeeded"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_source_never_syncs_twice_at_once(github: FakeGitHub, sleeps: list[float]) -> None:
    require_service("PostgreSQL as the test database (DATABASE_URL)", connection.vendor == "postgresql")
    source = _source(github)
    other = connections.create_connection("default")  # another worker, holding the source's lock
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [SYNC_LOCK_NAMESPACE, source.pk])
        with pytest.raises(BacklogSyncAlreadyRunning):
            backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append)
        assert github.requests == [] and source.sync_runs.count() == 0
    finally:
        other.close()  # the lock goes with the session, as when a worker dies

    assert backlog_source_sync(backlog_source_id=source.pk, sleep=sleeps.append).created == 5


@pytest.mark.django_db
def test_an_admin_adds_a_source_with_its_token_encrypted_and_tests_the_connection(github: FakeGitHub) -> None:
    admin_client = Client()
    admin_client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    response = admin_client.post("/django-admin/roadmap/backlogsource/add/", {
        "name": "Web app issues", "kind": "github", "settings": json.dumps(github.settings()),
        "status_mapping": json.dumps({"closed:not_planned": "Won't do"}), "sync_interval_minutes": "30",
        "enabled": "on", "secret": "ghp_fake_token_4711",
    })

    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == "/django-admin/roadmap/backlogsource/", response["Location"]
    source = BacklogSource.objects.get(name="Web app issues")
    assert secrets_decrypt(source.credentials_encrypted) == {"token": "ghp_fake_token_4711"}
    assert source.status_mapping == {"closed:not_planned": "wont_do"}
    page = admin_client.post("/django-admin/roadmap/backlogsource/", {
        "action": "test_connection", "_selected_action": [source.pk]}, follow=True)
    assert "Web app issues: Connected to acme/webapp" in page.content.decode()

    refused = admin_client.post("/django-admin/roadmap/backlogsource/add/", {
        "name": "Bad", "kind": "github", "settings": "{}", "status_mapping": json.dumps({"open": "soon"}),
        "enabled": "on", "secret": "",
    })
    assert refused.status_code == 200 and "which is not one of" in refused.content.decode()
