"""Signing and verifying Threadline webhook deliveries. A library: no ORM, no settings.

The signing scheme (the same text is in the OpenAPI description of the webhook endpoint):

1. Take the current time as whole Unix seconds, e.g. ``1767225600``.
2. Build the signed message from the ASCII timestamp, one dot, and the raw request body bytes
   exactly as sent: ``b"1767225600." + body``. Do not re-serialize the JSON after signing.
3. Compute HMAC-SHA256 of that message with the source's webhook secret (UTF-8) as the key and
   take its lowercase hex digest.
4. Send ``X-Threadline-Timestamp: 1767225600`` and ``X-Threadline-Signature: sha256=<hex digest>``.

The receiver recomputes the digest, compares it in constant time, and refuses deliveries whose
timestamp is further than the tolerance (300 seconds by default) from its own clock, so a captured
delivery cannot be replayed later. Within the window a replay is harmless: ingestion is idempotent.

A sender in Python::

    body = json.dumps({"tickets": [...]}).encode()
    response = httpx.post(url, content=body, headers=signed_headers(secret, body))
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Threadline-Timestamp"
SIGNATURE_HEADER = "X-Threadline-Signature"
SIGNATURE_PREFIX = "sha256="


class WebhookRejected(ValueError):
    """A delivery that must not be accepted; the message tells the sender what to fix."""


class StaleTimestamp(WebhookRejected):
    """Correctly signed, but sent too long ago (or the sender's clock is off)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Threadline-Signature`` header value for ``body`` sent at ``timestamp``."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """Both headers a sender must add to a delivery of ``body``."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_seconds: int,
) -> None:
    """Return if the delivery is authentic and fresh; raise ``WebhookRejected`` otherwise.

    The signature is checked before the timestamp's age, so only a holder of the secret learns
    that their clock (rather than their signature) is wrong.
    """
    timestamp = _parse_timestamp(timestamp_header)
    if not signature_header:
        raise WebhookRejected(f"the {SIGNATURE_HEADER} header is missing")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature_header.strip().lower().encode()):
        raise WebhookRejected(
            f"the {SIGNATURE_HEADER} header does not match the body; sign "
            f'"{{timestamp}}.{{raw body}}" with HMAC-SHA256 and the source\'s webhook secret'
        )
    skew = int(now) - timestamp
    if abs(skew) > tolerance_seconds:
        raise StaleTimestamp(
            f"the {TIMESTAMP_HEADER} is {abs(skew)} seconds {'behind' if skew > 0 else 'ahead of'} "
            f"the server clock; deliveries are accepted within {tolerance_seconds} seconds "
            "(sign each delivery when you send it, and check the sender's clock)"
        )


def _parse_timestamp(header: str | None) -> int:
    if not header:
        raise WebhookRejected(f"the {TIMESTAMP_HEADER} header is missing")
    value = header.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise WebhookRejected(f"the {TIMESTAMP_HEADER} header must be whole Unix seconds, not {value[:20]!r}")
    return int(value)
