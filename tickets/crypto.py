"""Encryption at rest for connector secrets (API tokens, passwords, webhook secrets).

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``. Keys come from
``THREADLINE_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first, so old keys keep
decrypting during a rotation); without it one key is derived from ``SECRET_KEY`` with HKDF.
A rotation: put the new key first, run ``manage.py rotate_secrets`` (every stored secret is
encrypted again with it), then drop the old key.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretsUnreadable(RuntimeError):
    """Stored secrets cannot be decrypted with the configured keys (was a key rotated out?)."""


def _fernet() -> MultiFernet:
    keys: list[bytes] = [key.encode() for key in settings.THREADLINE_ENCRYPTION_KEYS]
    if not keys:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"threadline-secrets", info=b"fernet"
        ).derive(settings.SECRET_KEY.encode())
        keys = [base64.urlsafe_b64encode(derived)]
    return MultiFernet([Fernet(key) for key in keys])


def secrets_encrypt(secrets: dict[str, Any]) -> str:
    if not secrets:
        return ""
    return _fernet().encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()


def secrets_reencrypt(token: str) -> str:
    """``token`` encrypted again with the newest key (the last step of a key rotation)."""
    if not token:
        return ""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretsUnreadable("the stored secrets cannot be decrypted with the configured keys") from None


def secrets_decrypt(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SecretsUnreadable("the stored secrets cannot be decrypted with the configured keys") from None
