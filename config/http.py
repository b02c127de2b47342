"""The one seam for outbound HTTP (alert webhooks, help-desk and tracker connectors).

Everything that calls out builds its client here, so timeouts and the user agent are uniform
and tests can point all of it at a local server or a mock transport in one place.
"""

from __future__ import annotations

from typing import Any

import httpx

USER_AGENT = "Threadline/0.1 (+self-hosted support insight)"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

# Tests set this to an ``httpx.MockTransport``; None means real network I/O.
transport_override: httpx.BaseTransport | None = None


def http_client(**options: Any) -> httpx.Client:
    options.setdefault("timeout", DEFAULT_TIMEOUT)
    options.setdefault("headers", {}).setdefault("User-Agent", USER_AGENT)
    if transport_override is not None:
        options["transport"] = transport_override
    return httpx.Client(**options)
