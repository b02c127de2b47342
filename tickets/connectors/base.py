"""What every help-desk connector shares: the HTTP client with its retry rules, the interface, the errors.

A library: no ORM, no Django settings. ``tickets.services`` drives a connector's ``fetch`` and
persists what it yields.

HTTP behaviour, the same for every vendor:

- every request goes through ``config.http.http_client`` (timeouts, User-Agent, the test seam);
- 429 is retried after ``Retry-After`` (seconds or an HTTP date) or the vendor's reset header,
  each wait capped at ``MAX_WAIT_SECONDS``, at most ``MAX_RATE_LIMIT_RETRIES`` times; so is a 403
  that carries ``Retry-After`` or ``X-RateLimit-Remaining: 0`` (GitHub's primary and secondary
  limits), and any answer the vendor's ``rate_limited`` test recognises (Linear's ``RATELIMITED``);
- a response saying the rate-limit budget is spent (``X-RateLimit-Remaining: 0``) pauses until
  its reset before the next request;
- timeouts, connection errors, 5xx and a JSON answer cut short (truncated in transit) are retried
  ``MAX_TRANSIENT_RETRIES`` times with exponential backoff (1, 2, 4 … seconds, capped), then raise
  ``TransientError``;
- 401 and 403 raise ``PermanentError`` with a message an admin can act on; 404 too, unless the
  caller says a missing item is expected (a ticket deleted while the sync runs);
- secrets travel in headers only and are never logged; logs name the method and the URL path.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any, Protocol

import httpx

from config.http import http_client
from tickets.records import TicketRecord

logger = logging.getLogger(__name__)

MAX_TRANSIENT_RETRIES = 5
MAX_RATE_LIMIT_RETRIES = 10
MAX_WAIT_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 60.0
RETRYABLE_STATUSES = {500, 502, 503, 504, 520, 521, 522, 524}

Sleep = Callable[[float], None]


class ConnectorError(Exception):
    """A sync cannot go on; the message is written for the admin who configured the source."""


class PermanentError(ConnectorError):
    """Retrying will not help (rejected credentials, missing permission, wrong address)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ConfigurationError(PermanentError):
    """The source's settings or credentials are incomplete or malformed."""


class TransientError(ConnectorError):
    """The service kept failing after the retries; the next sync resumes where this one stopped."""


@dataclass(frozen=True)
class SettingField:
    """One setting of a connector, as a form or ``add_source`` shows it."""

    key: str
    label: str
    help: str
    required: bool = False
    secret: bool = False


@dataclass
class Page:
    """One step of a sync: records to store, then the cursor that is true once they are stored.

    ``deleted`` are external ids the vendor marks deleted or spam; ``rejected`` are items that could
    not be read (``{"external_id": ..., "reason": ...}``); ``total`` is the vendor's estimate of
    everything this sync will fetch, when it gives one.
    """

    records: list[TicketRecord]
    cursor: dict[str, Any]
    deleted: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None


class FetchFunction(Protocol):
    def __call__(
        self, settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep
    ) -> Iterator[Page]: ...


class TestConnectionFunction(Protocol):
    def __call__(self, settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep) -> str: ...


class TagTicketsFunction(Protocol):
    def __call__(
        self, settings: Mapping[str, Any], credentials: Mapping[str, Any], external_ids: list[str], tag: str, *,
        sleep: Sleep,
    ) -> int: ...


@dataclass(frozen=True)
class Connector:
    """A help desk: its settings, and the two things a sync needs from it.

    ``fetch(settings, credentials, cursor, sleep=...)`` yields ``Page`` objects from ``cursor`` on
    (an empty cursor means from the beginning); ``test_connection(settings, credentials, sleep=...)``
    checks the credentials and says what it found, e.g. "Signed in as Ada; 12,408 tickets".

    Optional capabilities (None when the help desk's connector does not offer them):
    ``tag_tickets(settings, credentials, external_ids, tag, sleep=...)`` adds ``tag`` to those tickets
    in the help desk, keeping their other tags, and returns how many it tagged (closing the loop on a
    shipped backlog item). Tagging a ticket twice is harmless.
    """

    kind: str
    label: str
    fields: tuple[SettingField, ...]
    fetch: FetchFunction
    test_connection: TestConnectionFunction
    tag_tickets: TagTicketsFunction | None = None

    @property
    def secret_keys(self) -> frozenset[str]:
        return frozenset(f.key for f in self.fields if f.secret)


def require(values: Mapping[str, Any], key: str, label: str) -> str:
    value = str(values.get(key) or "").strip()
    if not value:
        raise ConfigurationError(f"The {label} is missing; add it in the source's settings.")
    return value


class ApiClient:
    """An HTTP client for one vendor account with the retry rules above. Use as a context manager."""

    def __init__(
        self,
        base_url: str,
        *,
        vendor: str,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Sleep = time.sleep,
        credentials_hint: str = "the API token",
        rate_limited: Callable[[httpx.Response], bool] | None = None,
    ) -> None:
        if not re.match(r"https?://[^/\s]+", base_url):
            raise ConfigurationError(f"The {vendor} address {base_url!r} must start with https://")
        self.vendor = vendor
        self.sleep = sleep
        self.credentials_hint = credentials_hint
        self.base_url = base_url.rstrip("/")
        self._client = http_client(base_url=self.base_url, auth=auth, headers=dict(headers or {}))
        self._pause_until: float | None = None
        self._rate_limited = rate_limited

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def set_header(self, name: str, value: str) -> None:
        self._client.headers[name] = value

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, missing_ok: bool = False) -> Any:
        """GET ``url`` (a path under the base URL, or an absolute URL the vendor gave) as JSON.

        With ``missing_ok`` a 404 returns None instead of raising.
        """
        response = self.request("GET", url, params=params, missing_ok=missing_ok)
        return None if response is None else _json(response, self.vendor)

    def post_json(self, url: str, *, body: Any) -> Any:
        response = self.request("POST", url, json=body)
        assert response is not None
        return _json(response, self.vendor)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> httpx.Response | None:
        """Send the request with the retry rules above; ``headers`` are added to this request only
        (``If-None-Match``). Statuses below 400 (a 304 too) are returned as they are."""
        transient_failures = 0
        rate_limited = 0
        while True:
            self._wait_for_budget()
            try:
                response = self._client.request(
                    method, url, params=params, json=json, data=data, headers=dict(headers) if headers else None
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                transient_failures += 1
                self._retry_transient(
                    method, url, type(exc).__name__, transient_failures,
                    gave_up=f"could not be reached after {MAX_TRANSIENT_RETRIES + 1} attempts ({type(exc).__name__})",
                )
                continue
            except httpx.HTTPError as exc:
                raise PermanentError(f"The request to {self.vendor} failed: {type(exc).__name__}.") from None
            status = response.status_code
            if status == 429 or self._is_rate_limited(response):
                rate_limited += 1
                if rate_limited > MAX_RATE_LIMIT_RETRIES:
                    raise TransientError(
                        f"{self.vendor} kept answering 'too many requests'; the next sync resumes where "
                        "this one stopped."
                    )
                wait = _retry_after(response.headers) or _backoff_seconds(rate_limited)
                logger.info("%s rate limit on %s %s: waiting %.0f s", self.vendor, method, _path(url), wait)
                self.sleep(min(wait, MAX_WAIT_SECONDS))
                continue
            if status in RETRYABLE_STATUSES:
                transient_failures += 1
                self._retry_transient(
                    method, url, f"HTTP {status}", transient_failures,
                    gave_up=f"answered HTTP {status} {MAX_TRANSIENT_RETRIES + 1} times in a row",
                    wait=_retry_after(response.headers),
                )
                continue
            if status == 404 and missing_ok:
                return None
            if status >= 400:
                raise PermanentError(self._refusal(status, url, response), status=status)
            if _json_cut_short(response):
                transient_failures += 1
                self._retry_transient(
                    method, url, "JSON cut short", transient_failures,
                    gave_up=f"sent an answer with its JSON cut short {MAX_TRANSIENT_RETRIES + 1} times in a row",
                )
                continue
            self._note_budget(response.headers)
            return response

    def _retry_transient(
        self, method: str, url: str, reason: str, attempt: int, *, gave_up: str, wait: float | None = None
    ) -> None:
        """Wait before retry ``attempt`` (``wait`` seconds when the vendor named it, else the backoff);
        past the cap raise ``TransientError`` saying the vendor ``gave_up``."""
        if attempt > MAX_TRANSIENT_RETRIES:
            raise TransientError(f"{self.vendor} {gave_up}; the next sync resumes where this one stopped.")
        if wait is not None:
            self.sleep(min(wait, MAX_WAIT_SECONDS))
        else:
            self._backoff(method, url, reason, attempt)

    def _is_rate_limited(self, response: httpx.Response) -> bool:
        """A refusal that means "not now" rather than "never": wait and retry instead of failing."""
        if response.status_code == 403 and (
            "retry-after" in response.headers or _first_number(response.headers, "x-ratelimit-remaining") == 0
        ):
            return True
        return response.status_code >= 400 and self._rate_limited is not None and self._rate_limited(response)

    def _backoff(self, method: str, url: str, reason: str, attempt: int) -> None:
        wait = _backoff_seconds(attempt)
        logger.info("%s %s %s failed (%s); retry %d in %.0f s", self.vendor, method, _path(url), reason, attempt, wait)
        self.sleep(wait)

    def _refusal(self, status: int, url: str, response: httpx.Response) -> str:
        if status == 401:
            return (
                f"{self.vendor} rejected the credentials (HTTP 401): {self.credentials_hint} was rejected. "
                "Check it in the source's settings, or create a new one."
            )
        if status == 403:
            return (
                f"{self.vendor} refused access to {_path(url)} (HTTP 403): the account behind "
                f"{self.credentials_hint} lacks the permission to read it (an admin or agent role is needed)."
            )
        if status == 404:
            return (
                f"{self.vendor} has nothing at {self.base_url}{_path(url)} (HTTP 404): check the account "
                "address (subdomain or base URL) in the source's settings."
            )
        return f"{self.vendor} refused the request to {_path(url)} (HTTP {status}): {_excerpt(response)}"

    def _note_budget(self, headers: httpx.Headers) -> None:
        """When the vendor says the budget is spent, pause before the next request until it resets."""
        remaining = _first_number(headers, "x-ratelimit-remaining", "ratelimit-remaining", "x-rate-limit-remaining")
        if remaining is None or remaining > 0:
            return
        wait = _reset_seconds(headers)
        if wait:
            self._pause_until = time.monotonic() + min(wait, MAX_WAIT_SECONDS)

    def _wait_for_budget(self) -> None:
        if self._pause_until is None:
            return
        wait = self._pause_until - time.monotonic()
        self._pause_until = None
        if wait > 0:
            logger.info("%s rate-limit budget spent: waiting %.0f s", self.vendor, wait)
            self.sleep(wait)


def _json_cut_short(response: httpx.Response) -> bool:
    """Whether a successful answer that says it is JSON does not parse: a body cut in transit (a proxy or
    the vendor dropped the end of it) is worth a retry. The caller parses it again, a small cost next to
    the request itself. A body that is not JSON at all, such as a sign-in page at a wrong address, is
    left to ``_json``, which refuses it for good."""
    if not response.content or "json" not in response.headers.get("content-type", ""):
        return False
    try:
        jsonlib.loads(response.content)
    except ValueError:
        return True
    return False


def _json(response: httpx.Response, vendor: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PermanentError(
            f"{vendor} answered {_path(str(response.request.url))} with something that is not JSON; "
            "check the account address in the source's settings."
        ) from None


def _path(url: str) -> str:
    """The path of ``url`` without its query (which may carry cursors but never secrets)."""
    return httpx.URL(url).path


def _excerpt(response: httpx.Response) -> str:
    text = re.sub(r"\s+", " ", response.text or "").strip()
    return text[:200] or response.reason_phrase


def _backoff_seconds(attempt: int) -> float:
    return float(min(2 ** (attempt - 1), MAX_BACKOFF_SECONDS))


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after") or headers.get("x-ratelimit-retry-after")
    if value is None:
        return _reset_seconds(headers)
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _reset_seconds(headers: httpx.Headers) -> float | None:
    """Seconds until the vendor's rate-limit window resets (epoch seconds or a delta, both occur)."""
    reset = _first_number(headers, "x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset")
    if reset is None:
        return None
    if reset > 1_000_000_000:  # an epoch timestamp (Intercom), not a delta
        return max(0.0, reset - time.time())
    return max(0.0, reset)


def _first_number(headers: httpx.Headers, *names: str) -> float | None:
    for name in names:
        value = headers.get(name)
        if value is None:
            continue
        match = re.match(r"\s*(\d+(\.\d+)?)", value)
        if match:
            return float(match.group(1))
    return None


# --- Shared helpers for turning vendor payloads into records ------------------------------------


class _TextExtractor(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str | None) -> str:
    """Plain text of an HTML fragment: tags dropped, blocks on their own lines, entities decoded."""
    if not html:
        return ""
    if not re.search(r"<[a-zA-Z/!]", html):
        return unescape(html).strip()
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts).replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def parse_time(value: Any) -> datetime | None:
    """A vendor timestamp (ISO 8601 with Z or an offset, or Unix seconds) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def settings_merged(stored: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``stored`` with ``update`` applied: a key given an empty value (or None) is removed."""
    merged = dict(stored)
    for key, value in update.items():
        if value in (None, ""):
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


# Where a first sync starts when the source names no "import from" date: before any help desk.
IMPORT_FROM_DEFAULT = datetime(2000, 1, 1, tzinfo=UTC)


def import_from(settings: Mapping[str, Any]) -> datetime:
    """The moment a source's first sync starts: its ``start_time`` setting, else ``IMPORT_FROM_DEFAULT``."""
    value = str(settings.get("start_time") or "").strip()
    if not value:
        return IMPORT_FROM_DEFAULT
    moment = parse_time(value)
    if moment is None:
        raise ConfigurationError(f"Import from {value!r} is not a date; use a date like 2025-01-31.")
    return moment


def iso_z(moment: datetime) -> str:
    """``2026-03-01T09:30:00Z``: the form vendors accept in query parameters."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_link(headers: httpx.Headers) -> str | None:
    """The ``rel="next"`` URL of an RFC 8288 ``Link`` header (Freshdesk, GitHub style)."""
    for part in headers.get("link", "").split(","):
        match = re.match(r'\s*<([^>]+)>\s*;.*rel="?next"?', part)
        if match:
            return match.group(1)
    return None
