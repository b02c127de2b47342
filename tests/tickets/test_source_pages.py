"""The sources admin pages through HTTP: list, form, source page, test connection, sync now with its
progress, enable/disable, webhook secret, run history. Zendesk is played by a local fake server;
tasks run inline once the request's transaction commits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from tests.connectors.fake_zendesk import EMAIL, TOKEN, FakeZendesk
from tests.connectors.server import serving
from tickets.connectors.base import SettingField
from tickets.crypto import secrets_decrypt
from tickets.forms import SourceForm
from tickets.models import Source, SourceKind, SyncRun, SyncRunStatus, SyncTrigger
from tickets.selectors import source_webhook_secret
from tickets.services import source_configure

pytestmark = pytest.mark.django_db

LIST = reverse("source_list")


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    fake = FakeZendesk()
    fake.add_ticket(1, "Cannot log in", 101, [(101, "I cannot log in.", True)])
    fake.add_ticket(2, "Refund", 102, [(102, "Refund please.", True), (9, "Done.", True)])
    fake.add_ticket(3, "Export", 101, [(101, "Export stops at 10%.", True)])
    with serving(fake):
        yield fake


@pytest.fixture
def acme(zendesk: FakeZendesk) -> Source:
    source, _ = source_configure(
        name="Acme",
        kind=SourceKind.ZENDESK,
        settings_update={"subdomain": "acme", "email": EMAIL, "base_url": zendesk.base_url},
        secrets_update={"api_token": TOKEN},
    )
    return source


def form_data(zendesk: FakeZendesk, **overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Acme",
        "subdomain": "acme",
        "email": EMAIL,
        "api_token": TOKEN,
        "start_time": "",
        "base_url": zendesk.base_url,
        "sync_every": "15",
        "enabled": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def text(response: Any) -> str:
    return response.content.decode()


# Who may open what ---------------------------------------------------------------------------------


def test_only_admins_may_open_the_source_pages_and_use_their_actions(
    client_for, admin_user, support_lead, product_manager, viewer, outsider, acme
) -> None:
    run = SyncRun.objects.create(source=acme, trigger=SyncTrigger.MANUAL, status=SyncRunStatus.SUCCEEDED)
    pages = [
        LIST,
        reverse("source_new") + "?kind=zendesk",
        reverse("source_detail", args=[acme.pk]),
        reverse("source_edit", args=[acme.pk]),
        reverse("source_history", args=[acme.pk]),
        reverse("source_run", args=[acme.pk, run.pk]),
        reverse("source_sync_status", args=[acme.pk]) + "?after=0",
    ]
    actions = [
        reverse("source_test", args=[acme.pk]),
        reverse("source_sync", args=[acme.pk]),
        reverse("source_toggle", args=[acme.pk]),
    ]
    admin = client_for(admin_user)
    for url in pages:
        assert admin.get(url).status_code == 200, url
    for user in (support_lead, product_manager, viewer, outsider):
        client = client_for(user)
        for url in pages:
            assert client.get(url).status_code == 403, (user.email, url)
        for url in actions:
            assert client.post(url, {"enabled": "0"}).status_code == 403, (user.email, url)
    anonymous = client_for(None)
    for url in pages + actions:
        response = anonymous.post(url) if url in actions else anonymous.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
    acme.refresh_from_db()
    assert acme.enabled and SyncRun.objects.count() == 1


def test_the_nav_shows_sources_to_admins_only(client_for, admin_user, support_lead) -> None:
    assert f'href="{LIST}"' in text(client_for(admin_user).get(reverse("ticket_list")))
    assert f'href="{LIST}"' not in text(client_for(support_lead).get(reverse("ticket_list")))


# The list ------------------------------------------------------------------------------------------


def test_the_empty_list_says_how_to_add_a_source(client_for, admin_user) -> None:
    page = text(client_for(admin_user).get(LIST))
    assert "No sources yet" in page
    for kind in ("zendesk", "intercom", "freshdesk", "helpscout", "zammad", "imap", "upload", "webhook"):
        assert f'<option value="{kind}">' in page
    assert reverse("import_upload") in page


def test_the_list_shows_each_source_with_its_last_run_and_next_sync(client_for, admin_user, acme) -> None:
    source_configure(name="Acme", kind="zendesk", settings_update={}, secrets_update={}, sync_interval_minutes=30)
    run = SyncRun.objects.create(
        source=acme, trigger=SyncTrigger.SCHEDULE, status=SyncRunStatus.PARTIAL, fetched=1234, created=1200, rejected=34
    )
    Source.objects.create(name="Legacy export", kind=SourceKind.UPLOAD)

    page = text(client_for(admin_user).get(LIST))

    assert "Acme" in page and "Zendesk Support" in page and "every 30 min" in page
    assert "1,234" in page and "Finished with rejected records" in page
    assert reverse("source_run", args=[acme.pk, run.pk]) in page
    assert "in 30\xa0minutes" in page or "29\xa0minutes" in page
    assert 'aria-label="Sync Acme now"' in page
    assert "Legacy export" in page and "never" in page


def test_a_source_never_synced_is_due_now(client_for, admin_user, acme) -> None:
    source_configure(name="Acme", kind="zendesk", settings_update={}, secrets_update={}, sync_interval_minutes=5)
    assert "due now" in text(client_for(admin_user).get(LIST))


def test_the_list_takes_the_same_queries_for_many_sources(
    client_for, admin_user, django_assert_max_num_queries
) -> None:
    for index in range(12):
        source = Source.objects.create(name=f"desk {index}", kind=SourceKind.ZENDESK, sync_interval_minutes=10)
        SyncRun.objects.create(source=source, trigger=SyncTrigger.MANUAL, status=SyncRunStatus.SUCCEEDED, fetched=3)
    client = client_for(admin_user)
    client.get(LIST)
    # session, user, permissions (2), the role, sources with their annotations, their last runs,
    # hand-offs waiting for the broker (the admins' banner)
    with django_assert_max_num_queries(8):
        page = text(client.get(LIST))
    assert page.count('aria-label="Sync desk') == 12


# The form ------------------------------------------------------------------------------------------


def test_the_form_explains_each_setting_and_hides_the_token(client_for, admin_user) -> None:
    page = text(client_for(admin_user).get(reverse("source_new") + "?kind=zendesk"))
    assert "Add a Zendesk Support source" in page
    assert "The part before .zendesk.com" in page and "Admin Center" in page
    assert 'type="password" name="api_token"' in page


def test_an_unknown_kind_goes_back_to_the_list(client_for, admin_user) -> None:
    response = client_for(admin_user).get(reverse("source_new") + "?kind=demo", follow=True)
    assert response.redirect_chain[-1][0] == LIST and "Choose the kind of source" in text(response)


def test_an_admin_adds_a_source_and_the_token_is_stored_encrypted(client_for, admin_user, zendesk) -> None:
    client = client_for(admin_user)
    response = client.post(reverse("source_new") + "?kind=zendesk", form_data(zendesk))

    source = Source.objects.get(name="Acme")
    assert response.status_code == 302 and response["Location"] == reverse("source_detail", args=[source.pk])
    assert source.kind == "zendesk" and source.sync_interval_minutes == 15 and source.enabled
    assert source.settings == {"subdomain": "acme", "email": EMAIL, "base_url": zendesk.base_url}
    assert secrets_decrypt(source.credentials_encrypted) == {"api_token": TOKEN}
    assert TOKEN not in source.credentials_encrypted


def test_the_token_is_never_rendered_back(client_for, admin_user, acme) -> None:
    client = client_for(admin_user)
    urls = [
        LIST,
        reverse("source_detail", args=[acme.pk]),
        reverse("source_edit", args=[acme.pk]),
        reverse("source_history", args=[acme.pk]),
    ]
    for url in urls:
        assert TOKEN not in text(client.get(url)), url
    edit = text(client.get(reverse("source_edit", args=[acme.pk])))
    assert "saved ••• (leave empty to keep)" in edit and "Remove the saved api token" in edit
    invalid = client.post(reverse("source_edit", args=[acme.pk]), {"api_token": "new-token", "subdomain": ""})
    assert invalid.status_code == 200 and "new-token" not in text(invalid)


def test_a_secret_left_empty_is_kept_and_the_other_settings_are_updated(client_for, admin_user, acme, zendesk) -> None:
    response = client_for(admin_user).post(
        reverse("source_edit", args=[acme.pk]),
        form_data(zendesk, name="Renamed?", api_token="", subdomain="acme-eu", base_url="", sync_every="0", enabled=None),
    )

    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.name == "Acme"  # the name cannot change
    assert acme.settings == {"subdomain": "acme-eu", "email": EMAIL}
    assert secrets_decrypt(acme.credentials_encrypted) == {"api_token": TOKEN}
    assert acme.sync_interval_minutes is None and not acme.enabled


def test_a_new_token_replaces_the_saved_one(client_for, admin_user, acme, zendesk) -> None:
    client_for(admin_user).post(reverse("source_edit", args=[acme.pk]), form_data(zendesk, api_token="fresh-token"))
    acme.refresh_from_db()
    assert secrets_decrypt(acme.credentials_encrypted) == {"api_token": "fresh-token"}


def test_a_saved_required_secret_cannot_be_removed_without_a_new_one(client_for, admin_user) -> None:
    source, _ = source_configure(
        name="Mail",
        kind="imap",
        settings_update={"host": "imap.example.com", "username": "help@example.com"},
        secrets_update={"password": "hunter2"},
    )
    data = {"host": "imap.example.com", "username": "help@example.com", "enabled": "on", "clear__password": "on"}

    refused = client_for(admin_user).post(reverse("source_edit", args=[source.pk]), data)

    assert refused.status_code == 200 and "The password is required; enter a new one" in text(refused)
    source.refresh_from_db()
    assert secrets_decrypt(source.credentials_encrypted) == {"password": "hunter2"}


def test_the_form_removes_an_optional_secret_when_its_box_is_ticked() -> None:
    fields = (SettingField("host", "Host", "The host."), SettingField("proxy_token", "Proxy token", "Optional.", False, True))
    source = Source(name="Mail", kind="imap", settings={"host": "h"})

    form = SourceForm(
        {"host": "h", "clear__proxy_token": "on"}, connector_fields=fields, source=source, saved_secrets={"proxy_token"}
    )

    assert form.is_valid(), form.errors
    assert form.secrets_update() == {"proxy_token": ""} and form.settings_update() == {"host": "h"}
    kept = SourceForm({"host": "h"}, connector_fields=fields, source=source, saved_secrets={"proxy_token"})
    assert kept.is_valid() and kept.secrets_update() == {}


def test_missing_required_settings_are_explained_next_to_their_fields(client_for, admin_user, zendesk) -> None:
    response = client_for(admin_user).post(
        reverse("source_new") + "?kind=zendesk", form_data(zendesk, name="", email="", api_token="", sync_every="-5")
    )
    page = text(response)
    assert response.status_code == 200 and not Source.objects.exists()
    assert "Please correct the fields marked below." in page
    assert page.count("This field is required.") == 3
    assert "greater than or equal to 0" in page


def test_a_second_source_with_the_same_name_is_refused(client_for, admin_user, acme, zendesk) -> None:
    response = client_for(admin_user).post(reverse("source_new") + "?kind=zendesk", form_data(zendesk))
    assert response.status_code == 200 and "A source with this name exists already" in text(response)
    assert Source.objects.count() == 1


def test_an_upload_source_has_only_a_name_and_a_switch(client_for, admin_user) -> None:
    client = client_for(admin_user)
    page = text(client.get(reverse("source_new") + "?kind=upload"))
    assert "sync_every" not in page and 'type="password"' not in page
    assert client.post(reverse("source_new") + "?kind=upload", {"name": "Legacy", "enabled": "on"}).status_code == 302
    source = Source.objects.get(name="Legacy")
    assert source.kind == "upload" and source.sync_interval_minutes is None
    detail = text(client.get(reverse("source_detail", args=[source.pk])))
    assert reverse("import_upload") in detail and "Test connection" not in detail and "Sync now" not in detail


# The source page -----------------------------------------------------------------------------------


def test_the_source_page_summarises_the_settings_without_secrets(client_for, admin_user, acme, zendesk) -> None:
    page = text(client_for(admin_user).get(reverse("source_detail", args=[acme.pk])))
    assert zendesk.base_url in page and EMAIL in page and "saved" in page and TOKEN not in page
    assert "Test connection" in page and "Sync now" in page and "Full resync" in page
    assert "No runs yet" in page


def test_test_connection_says_what_it_found(client_for, admin_user, acme) -> None:
    response = client_for(admin_user).post(reverse("source_test", args=[acme.pk]), HTTP_HX_REQUEST="true")
    assert "Connected." in text(response) and "Signed in as Ada Agent (admin); 3 tickets" in text(response)


def test_test_connection_explains_a_rejected_token(client_for, admin_user, acme) -> None:
    source_configure(name="Acme", kind="zendesk", settings_update={}, secrets_update={"api_token": "wrong"})
    page = text(client_for(admin_user).post(reverse("source_test", args=[acme.pk])))
    assert "Connection failed." in page and "rejected" in page and "wrong" not in page


def test_sync_now_runs_the_sync_and_the_page_follows_it(
    client_for, admin_user, acme, django_capture_on_commit_callbacks
) -> None:
    client = client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("source_sync", args=[acme.pk]))

    run = SyncRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("source_detail", args=[acme.pk]) + "?after=0"
    assert run.status == SyncRunStatus.SUCCEEDED and run.created == 3 and run.started_by == admin_user
    page = text(client.get(response["Location"]))
    assert "Sync queued." in page and reverse("source_sync_status", args=[acme.pk]) + "?after=0" in page
    status = client.get(reverse("source_sync_status", args=[acme.pk]) + "?after=0", HTTP_HX_REQUEST="true")
    assert status["HX-Trigger"] == "sync-finished" and "hx-trigger=\"every 1s\"" not in text(status)
    assert "Succeeded" in text(status) and '<b>3</b><span>created</span>' in text(status)
    history = text(client.get(reverse("source_history", args=[acme.pk])))
    assert "Started by hand" in history and admin_user.email in history and "Succeeded" in history


def test_a_full_resync_fetches_everything_again(client_for, admin_user, acme, django_capture_on_commit_callbacks) -> None:
    client = client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("source_sync", args=[acme.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("source_sync", args=[acme.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("source_sync", args=[acme.pk]), {"full": "1"})

    incremental, full = SyncRun.objects.order_by("pk")[1:]
    assert incremental.fetched < 3
    assert (full.fetched, full.unchanged, full.created) == (3, 3, 0)


def test_the_status_waits_for_a_worker_until_the_run_exists(client_for, admin_user, acme) -> None:
    earlier = SyncRun.objects.create(source=acme, trigger=SyncTrigger.MANUAL, status=SyncRunStatus.SUCCEEDED)
    client = client_for(admin_user)
    url = reverse("source_sync_status", args=[acme.pk]) + f"?after={earlier.pk}"

    waiting = text(client.get(url, HTTP_HX_REQUEST="true"))
    assert "Waiting for a background worker" in waiting and f"?after={earlier.pk}" in waiting

    run = SyncRun.objects.create(
        source=acme, trigger=SyncTrigger.MANUAL, status=SyncRunStatus.RUNNING, fetched=40, progress_done=40, progress_total=200
    )
    running = client.get(url, HTTP_HX_REQUEST="true")
    assert "40 fetched of about 200 (20%)" in text(running) and "HX-Trigger" not in running
    assert reverse("source_run", args=[acme.pk, run.pk]) in text(running) and 'every 1s' in text(running)


def test_a_running_sync_is_followed_when_the_page_opens(client_for, admin_user, acme) -> None:
    SyncRun.objects.create(source=acme, trigger=SyncTrigger.SCHEDULE, status=SyncRunStatus.RUNNING, fetched=7)
    page = text(client_for(admin_user).get(reverse("source_detail", args=[acme.pk])))
    assert "Sync in progress" in page and "7 fetched" in page


def test_a_disabled_source_cannot_be_synced(client_for, admin_user, acme, django_capture_on_commit_callbacks) -> None:
    client = client_for(admin_user)
    client.post(reverse("source_toggle", args=[acme.pk]), {"enabled": "0"})
    acme.refresh_from_db()
    assert not acme.enabled

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("source_sync", args=[acme.pk]), follow=True)
    assert "This source is disabled; enable it to sync." in text(response) and not SyncRun.objects.exists()

    client.post(reverse("source_toggle", args=[acme.pk]), {"enabled": "1"})
    acme.refresh_from_db()
    assert acme.enabled and secrets_decrypt(acme.credentials_encrypted) == {"api_token": TOKEN}


def test_a_failed_sync_shows_the_reason_for_the_admin(
    client_for, admin_user, acme, django_capture_on_commit_callbacks
) -> None:
    source_configure(name="Acme", kind="zendesk", settings_update={}, secrets_update={"api_token": "wrong"})
    client = client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("source_sync", args=[acme.pk]))
    run = SyncRun.objects.get()
    assert run.status == SyncRunStatus.FAILED
    page = text(client.get(reverse("source_run", args=[acme.pk, run.pk])))
    assert escape(run.failure) in page and "rejected" in run.failure


def test_the_run_page_lists_the_tickets_that_could_not_be_read(client_for, admin_user, acme) -> None:
    run = SyncRun.objects.create(
        source=acme,
        trigger=SyncTrigger.MANUAL,
        status=SyncRunStatus.PARTIAL,
        started_at=timezone.now() - timedelta(seconds=185),
        finished_at=timezone.now(),
        rejected=1,
        errors=[{"external_id": "77", "reason": "the ticket has no messages"}],
    )
    page = text(client_for(admin_user).get(reverse("source_run", args=[acme.pk, run.pk])))
    assert "the ticket has no messages" in page and "took 3 min 5 s" in page
    other = Source.objects.create(name="Other", kind=SourceKind.UPLOAD)
    assert client_for(admin_user).get(reverse("source_run", args=[other.pk, run.pk])).status_code == 404


def test_the_history_is_paginated_in_a_fixed_number_of_queries(
    client_for, admin_user, acme, django_assert_max_num_queries
) -> None:
    SyncRun.objects.bulk_create(
        SyncRun(source=acme, trigger=SyncTrigger.MANUAL, status=SyncRunStatus.SUCCEEDED, started_by=admin_user)
        for _ in range(45)
    )
    client = client_for(admin_user)
    url = reverse("source_history", args=[acme.pk])
    client.get(url)
    # session, user, permissions (2), the role, the source, the count, one page of runs with their users,
    # hand-offs waiting for the broker (the admins' banner)
    with django_assert_max_num_queries(9):
        first = text(client.get(url))
    assert first.count(admin_user.email) == 20 and "Page 1 of 3" in first
    assert "Page 3 of 3" in text(client.get(url + "?page=3"))
    with django_assert_max_num_queries(12):
        client.get(reverse("source_detail", args=[acme.pk]))


# Webhook sources -----------------------------------------------------------------------------------


def test_a_webhook_source_shows_its_url_and_its_new_secret_once(client_for, admin_user) -> None:
    source = Source.objects.create(name="Status page", kind=SourceKind.WEBHOOK)
    client = client_for(admin_user)
    page = text(client.get(reverse("source_detail", args=[source.pk])))
    assert "http://testserver/api/webhooks/Status%20page/" in page and "No signing secret yet" in page

    rotated = client.post(reverse("source_webhook_rotate", args=[source.pk]))
    secret = source_webhook_secret(source=Source.objects.get(pk=source.pk))
    assert rotated.status_code == 200 and secret in text(rotated) and rotated["Cache-Control"] == "no-store"

    again = text(client.get(reverse("source_detail", args=[source.pk])))
    assert secret not in again and "A signing secret is set." in again and "Rotate secret" in again


def test_only_webhook_sources_have_a_webhook_secret(client_for, admin_user, acme) -> None:
    assert client_for(admin_user).post(reverse("source_webhook_rotate", args=[acme.pk])).status_code == 404


def test_credentials_encrypted_with_a_lost_key_are_reported_not_crashed_on(client_for, admin_user, acme, zendesk) -> None:
    Source.objects.filter(pk=acme.pk).update(credentials_encrypted="gAAAAAB-not-a-token-of-our-keys")
    client = client_for(admin_user)

    detail = text(client.get(reverse("source_detail", args=[acme.pk])))
    tested = text(client.post(reverse("source_test", args=[acme.pk])))
    saved = client.post(reverse("source_edit", args=[acme.pk]), form_data(zendesk, api_token="new"))

    for page in (detail, tested, text(saved)):
        assert "cannot be decrypted with the configured keys" in page
    assert saved.status_code == 200


def test_a_source_whose_secrets_were_all_removed_is_not_reported_unreadable(client_for, admin_user, acme) -> None:
    source_configure(name="Acme", kind="zendesk", settings_update={}, secrets_update={"api_token": ""})
    page = text(client_for(admin_user).get(reverse("source_detail", args=[acme.pk])))
    assert "cannot be decrypted" not in page and "not set" in page
