"""Signed webhooks: the signing library on its own, then deliveries through HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tickets.connectors.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    StaleTimestamp,
    WebhookRejected,
    sign,
    signed_headers,
    verify,
)
from tickets.crypto import secrets_decrypt, secrets_encrypt
from tickets.models import Source, SourceKind, SyncRun, SyncRunStatus, Ticket
from tickets.services import source_webhook_secret_rotate

SECRET = "s3cret-for-tests"
BODY = b'{"external_id": "T-1"}'
NOW = 1_767_225_600

# --- the library ---------------------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"sha256={expected}"
    assert signed_headers(SECRET, BODY, now=NOW) == {TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: f"sha256={expected}"}


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "now", "error", "message"),
    [
        (str(NOW), sign(SECRET, NOW, BODY), BODY, NOW + 300, None, ""),
        (str(NOW), sign(SECRET, NOW, BODY).upper().replace("SHA256=", "sha256="), BODY, NOW, None, ""),
        (str(NOW), sign(SECRET, NOW, BODY), BODY + b" ", NOW, WebhookRejected, "does not match"),
        (str(NOW), sign("other secret", NOW, BODY), BODY, NOW, WebhookRejected, "does not match"),
        (str(NOW + 1), sign(SECRET, NOW, BODY), BODY, NOW, WebhookRejected, "does not match"),
        (str(NOW), sign(SECRET, NOW, BODY)[7:], BODY, NOW, WebhookRejected, "does not match"),
        (str(NOW), None, BODY, NOW, WebhookRejected, "X-Threadline-Signature header is missing"),
        (None, sign(SECRET, NOW, BODY), BODY, NOW, WebhookRejected, "X-Threadline-Timestamp header is missing"),
        ("2026-01-01", sign(SECRET, NOW, BODY), BODY, NOW, WebhookRejected, "whole Unix seconds"),
        (str(NOW), sign(SECRET, NOW, BODY), BODY, NOW + 301, StaleTimestamp, "301 seconds behind"),
        (str(NOW), sign(SECRET, NOW, BODY), BODY, NOW - 301, StaleTimestamp, "301 seconds ahead of"),
    ],
)
def test_verify_accepts_only_authentic_fresh_deliveries(
    timestamp: str | None, signature: str | None, body: bytes, now: int, error: type | None, message: str
) -> None:
    def check() -> None:
        verify(SECRET, timestamp, signature, body, now=now, tolerance_seconds=300)

    if error is None:
        check()
    else:
        with pytest.raises(error, match=message):
            check()


# --- deliveries ---------------------------------------------------------------------------------------

def ticket(external_id: str = "T-1", **overrides: Any) -> dict[str, Any]:
    return {"external_id": external_id, "body": "Export to CSV times out", "created_at": "2026-03-01T09:30:00Z",
            "requester_email": "lee@example.com", "channel": "chat", **overrides}


@pytest.fixture
def hook_source(db: None) -> tuple[Source, str]:
    source = Source.objects.create(name="my-desk", kind=SourceKind.WEBHOOK)
    return source, source_webhook_secret_rotate(source=source)


def deliver(
    source_ref: str | int, body: bytes, secret: str, *, at: float | None = None, headers: dict[str, str] | None = None
) -> Any:
    # enforce_csrf_checks: a real sender has no CSRF token, so the endpoint must not ask for one.
    client = Client(enforce_csrf_checks=True)
    sent = headers if headers is not None else signed_headers(secret, body, now=at)
    return client.post(f"/api/webhooks/{source_ref}/", data=body, content_type="application/json", headers=sent)


@pytest.mark.django_db
def test_a_signed_delivery_creates_the_ticket_under_a_webhook_run(hook_source: tuple[Source, str]) -> None:
    source, secret = hook_source
    response = deliver("my-desk", json.dumps(ticket()).encode(), secret)

    assert response.status_code == 200, response.content
    assert (response.json()["created"], response.json()["rejected"]) == (1, [])
    stored = Ticket.objects.get(source=source)
    assert (stored.external_id, stored.channel, stored.requester.email) == ("T-1", "chat", "lee@example.com")
    run = SyncRun.objects.get(pk=response.json()["sync_run"])
    assert (run.trigger, run.status, run.started_by) == ("webhook", SyncRunStatus.SUCCEEDED, None)


@pytest.mark.django_db
def test_a_batch_delivery_reports_bad_items_and_keeps_good_ones(hook_source: tuple[Source, str]) -> None:
    source, secret = hook_source
    body = json.dumps({"tickets": [ticket("T-1"), ticket("T-2", csat=9), ticket("T-3")]}).encode()
    response = deliver(source.pk, body, secret)  # by id as well as by name

    assert response.status_code == 207
    assert response.json()["created"] == 2
    assert response.json()["rejected"] == [{"index": 1, "external_id": "T-2", "reason": "csat 9 is outside 1-5"}]


PER_PROCESS_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture
def shared_cache(settings: Any, tmp_path: Any) -> None:
    """A cache every process sees, like Redis: a file cache in a folder of this test's own."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}


@pytest.mark.django_db
def test_without_a_shared_cache_a_replayed_delivery_counts_as_unchanged(
    hook_source: tuple[Source, str], settings: Any
) -> None:
    settings.CACHES = PER_PROCESS_CACHE
    _, secret = hook_source
    body = json.dumps(ticket()).encode()
    headers = signed_headers(secret, body)
    first = deliver("my-desk", body, secret, headers=headers)
    replay = deliver("my-desk", body, secret, headers=headers)

    assert first.status_code == replay.status_code == 200
    assert (replay.json()["created"], replay.json()["updated"], replay.json()["unchanged"]) == (0, 0, 1)
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_with_a_shared_cache_a_replayed_delivery_is_refused(hook_source: tuple[Source, str], shared_cache: None) -> None:
    source, secret = hook_source
    body = json.dumps(ticket()).encode()
    headers = signed_headers(secret, body)
    first = deliver("my-desk", body, secret, headers=headers)
    replay = deliver("my-desk", body, secret, headers=headers)

    assert first.status_code == 200
    assert replay.status_code == 409 and "accepted already" in replay.json()["detail"]
    assert Ticket.objects.count() == 1 and SyncRun.objects.filter(source=source).count() == 1
    # The same tickets signed anew (a sender's honest retry) go through, and change nothing.
    resent = deliver("my-desk", body, secret, headers=signed_headers(secret, body, now=time.time() + 1))
    assert resent.status_code == 200 and resent.json()["unchanged"] == 1


@pytest.mark.django_db
def test_a_delivery_that_failed_to_ingest_can_be_sent_again(
    hook_source: tuple[Source, str], shared_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secret = hook_source
    body = json.dumps(ticket()).encode()
    headers = signed_headers(secret, body)

    def fail(**kwargs: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr("tickets.services.webhooks.ingest_records", fail)
    with pytest.raises(RuntimeError):
        deliver("my-desk", body, secret, headers=headers)
    monkeypatch.undo()

    assert deliver("my-desk", body, secret, headers=headers).status_code == 200
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("make_headers", "message"),
    [
        (lambda secret, body: signed_headers("not-the-secret", body), "does not match the body"),
        (lambda secret, body: {TIMESTAMP_HEADER: str(int(time.time()))}, "X-Threadline-Signature header is missing"),
        (lambda secret, body: {}, "X-Threadline-Timestamp header is missing"),
        (lambda secret, body: signed_headers(secret, body, now=time.time() - 301), "seconds behind"),
        (lambda secret, body: signed_headers(secret, body, now=time.time() + 301), "seconds ahead of"),
    ],
    ids=["wrong-secret", "no-signature", "no-headers", "stale", "from-the-future"],
)
def test_an_unauthenticated_delivery_is_401_and_stores_nothing(
    hook_source: tuple[Source, str], make_headers: Callable[[str, bytes], dict[str, str]], message: str
) -> None:
    _, secret = hook_source
    body = json.dumps(ticket()).encode()
    response = deliver("my-desk", body, secret, headers=make_headers(secret, body))

    assert response.status_code == 401
    assert message in response.json()["detail"]
    assert not Ticket.objects.exists() and not SyncRun.objects.exists()


@pytest.mark.django_db
def test_a_body_changed_after_signing_is_refused(hook_source: tuple[Source, str]) -> None:
    _, secret = hook_source
    body = json.dumps(ticket()).encode()
    headers = signed_headers(secret, body)
    tampered = json.dumps(ticket(body="Give me a refund")).encode()
    assert deliver("my-desk", tampered, secret, headers=headers).status_code == 401


@pytest.mark.django_db
def test_an_unknown_source_is_404(hook_source: tuple[Source, str]) -> None:
    _, secret = hook_source
    response = deliver("nobody", BODY, secret)
    assert response.status_code == 404 and "nobody" in response.json()["detail"]


@pytest.mark.django_db
def test_a_source_without_a_webhook_secret_is_404(source: Source) -> None:
    response = deliver("helpdesk", BODY, "anything")
    assert response.status_code == 404 and "no webhook secret" in response.json()["detail"]


@pytest.mark.django_db
def test_a_disabled_source_is_403(hook_source: tuple[Source, str]) -> None:
    source, secret = hook_source
    source.enabled = False
    source.save(update_fields=["enabled"])
    response = deliver("my-desk", json.dumps(ticket()).encode(), secret)
    assert response.status_code == 403 and "disabled" in response.json()["detail"]
    assert not Ticket.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"external_id=T-1", "not valid UTF-8 JSON"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"tickets": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"external_id": 1' + b"0" * 5000 + b"}", "not valid UTF-8 JSON (Exceeds the limit"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"tickets": {}}', "non-empty array"),
        (json.dumps({"tickets": [ticket()] * 1001}).encode(), "at most 1,000"),
    ],
)
def test_a_signed_body_that_is_not_the_documented_json_is_400(
    hook_source: tuple[Source, str], body: bytes, message: str
) -> None:
    _, secret = hook_source
    response = deliver("my-desk", body, secret)
    assert response.status_code == 400
    assert message in response.json()["detail"]


@pytest.mark.django_db
def test_a_body_over_the_limit_is_413(hook_source: tuple[Source, str], settings: Any) -> None:
    _, secret = hook_source
    settings.THREADLINE_API_MAX_BODY_BYTES = 100
    response = deliver("my-desk", json.dumps(ticket(body="x" * 200)).encode(), secret)
    assert response.status_code == 413


# --- the secret ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rotating_the_secret_retires_the_old_one_and_keeps_other_credentials() -> None:
    source = Source.objects.create(
        name="desk", kind=SourceKind.WEBHOOK, credentials_encrypted=secrets_encrypt({"api_token": "abc"})
    )
    old = source_webhook_secret_rotate(source=source)
    new = source_webhook_secret_rotate(source=source)

    source.refresh_from_db()
    assert old != new and len(new) >= 32
    assert new not in source.credentials_encrypted  # stored encrypted
    assert secrets_decrypt(source.credentials_encrypted) == {"api_token": "abc", "webhook_secret": new}
    body = json.dumps(ticket()).encode()
    assert deliver("desk", body, old).status_code == 401
    assert deliver("desk", body, new).status_code == 200


@pytest.mark.django_db
def test_an_admin_gets_a_new_secret_and_the_url_to_send_to(
    client_for: Callable[[Any], Client], admin_user: Any, hook_source: tuple[Source, str]
) -> None:
    source, _ = hook_source
    response = client_for(admin_user).post(f"/api/sources/{source.pk}/webhook-secret/")

    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "my-desk" and body["webhook_url"] == "http://testserver/api/webhooks/my-desk/"
    assert deliver("my-desk", json.dumps(ticket()).encode(), body["secret"]).status_code == 200


@pytest.mark.django_db
def test_rotating_a_secret_of_an_unknown_source_is_404(
    client_for: Callable[[Any], Client], admin_user: Any
) -> None:
    assert client_for(admin_user).post("/api/sources/nobody/webhook-secret/").status_code == 404


@pytest.mark.django_db
def test_hostile_values_in_a_delivery_are_rejected_by_index_or_stored_safely(hook_source: tuple[Source, str]) -> None:
    source, secret = hook_source
    when = '"created_at": "2026-03-01T09:30:00Z"'
    body = (
        '{"tickets": ['
        '{"external_id": "A", "body": "x", "created_at": 1e999999},'
        '{"external_id": "B\\u0000\\ud800", "body": "x", ' + when + ', "csat": NaN},'
        '{"external_id": "C", "external_id": "D", "body": "x", ' + when + ', "organization": "Acme", "arr": 1e999999},'
        '{"external_id": "E", "body": "x", "created_at": "0001-01-01T00:00:00+01:00"},'
        '{"external_id": "F\\ud800", "body": "a lone \\udc00 half and a NUL\\u0000", ' + when + "}"
        "]}"
    ).encode()
    response = deliver("my-desk", body, secret)

    assert response.status_code == 207, response.content
    rejected = response.json()["rejected"]
    assert [(r["index"], r["external_id"]) for r in rejected] == [(0, "A"), (1, "B\ufffd"), (2, "D"), (3, "E")]
    assert [r["reason"].split(" ")[0] for r in rejected] == ["created_at", "csat", "arr", "created_at"]
    stored = Ticket.objects.get(source=source)
    assert stored.external_id == "F\ufffd"
    assert stored.messages.get().body == "a lone \ufffd half and a NUL"
    assert SyncRun.objects.get(source=source).errors[1]["external_id"] == "B\ufffd"
