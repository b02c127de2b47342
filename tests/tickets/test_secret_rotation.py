"""Rotating the encryption key of connector secrets: new key first, re-encrypt, drop the old key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from roadmap.models import BacklogSource, BacklogSourceKind
from tickets.crypto import SecretsUnreadable, secrets_decrypt, secrets_encrypt
from tickets.models import Source, SourceKind

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_a_rotation_reencrypts_every_secret_so_the_old_key_can_go(settings, capsys) -> None:
    settings.THREADLINE_ENCRYPTION_KEYS = [OLD]
    desk = Source.objects.create(name="Zendesk", kind=SourceKind.ZENDESK,
                                 credentials_encrypted=secrets_encrypt({"api_token": "t0k"}))
    tracker = BacklogSource.objects.create(name="GitHub", kind=BacklogSourceKind.GITHUB,
                                           credentials_encrypted=secrets_encrypt({"token": "ghp"}))
    Source.objects.create(name="Uploads", kind=SourceKind.UPLOAD)

    settings.THREADLINE_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("rotate_secrets")
    assert "2 sources" in capsys.readouterr().out

    settings.THREADLINE_ENCRYPTION_KEYS = [NEW]
    desk.refresh_from_db()
    tracker.refresh_from_db()
    assert secrets_decrypt(desk.credentials_encrypted) == {"api_token": "t0k"}
    assert secrets_decrypt(tracker.credentials_encrypted) == {"token": "ghp"}


def test_a_secret_no_key_can_read_stops_the_rotation_and_changes_nothing(settings) -> None:
    settings.THREADLINE_ENCRYPTION_KEYS = [OLD]
    readable = Source.objects.create(name="A", kind=SourceKind.ZENDESK,
                                     credentials_encrypted=secrets_encrypt({"api_token": "a"}))
    before = readable.credentials_encrypted
    settings.THREADLINE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    Source.objects.create(name="B", kind=SourceKind.ZENDESK, credentials_encrypted=secrets_encrypt({"api_token": "b"}))
    settings.THREADLINE_ENCRYPTION_KEYS = [NEW, OLD]

    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_secrets")
    readable.refresh_from_db()
    assert readable.credentials_encrypted == before
    settings.THREADLINE_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(SecretsUnreadable):
        secrets_decrypt(readable.credentials_encrypted)
