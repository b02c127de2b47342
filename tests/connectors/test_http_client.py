"""The HTTP behaviour every connector shares (tickets.connectors.base.ApiClient), through httpx's mock transport."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

import config.http
from tickets.connectors.base import ApiClient, PermanentError, TransientError, html_to_text, next_link

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def answer(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[list[Handler | httpx.Response]], list[httpx.Request]]:
    """Serve the given responses (or handlers) in order; returns the list the requests are recorded in."""

    def install(script: list[Handler | httpx.Response]) -> list[httpx.Request]:
        seen: list[httpx.Request] = []
        steps = iter(script)

        def handle(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            step = next(steps)
            return step(request) if callable(step) else step

        monkeypatch.setattr(config.http, "transport_override", httpx.MockTransport(handle))
        return seen

    return install


def _client(sleeps: list[float]) -> ApiClient:
    return ApiClient("https://acme.example.test", vendor="Acme Desk", auth=("me", "s3cret-value"), sleep=sleeps.append)


def _raise(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def test_it_retries_timeouts_resets_and_5xx_with_growing_waits(answer, sleeps: list[float]) -> None:  # type: ignore[no-untyped-def]
    seen = answer(
        [
            _raise(httpx.ReadTimeout("slow")),
            _raise(httpx.ConnectError("connection reset by peer")),
            httpx.Response(502),
            httpx.Response(200, json={"ok": True}),
        ]
    )

    assert _client(sleeps).get_json("/things") == {"ok": True}
    assert len(seen) == 4 and sleeps == [1, 2, 4]
    assert seen[0].headers["user-agent"].startswith("Threadline/")


def test_it_gives_up_after_the_retry_cap(answer, sleeps: list[float]) -> None:  # type: ignore[no-untyped-def]
    answer([httpx.Response(500)] * 6)

    with pytest.raises(TransientError, match="answered HTTP 500 6 times in a row"):
        _client(sleeps).get_json("/things")
    assert sleeps == [1, 2, 4, 8, 16]


def test_a_503_with_retry_after_waits_that_long(answer, sleeps: list[float]) -> None:  # type: ignore[no-untyped-def]
    answer([httpx.Response(503, headers={"Retry-After": "12"}), httpx.Response(200, json=[])])

    _client(sleeps).get_json("/things")

    assert sleeps == [12.0]


def test_a_retry_after_beyond_the_cap_waits_the_cap(answer, sleeps: list[float]) -> None:  # type: ignore[no-untyped-def]
    answer([httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(200, json=[])])

    _client(sleeps).get_json("/things")

    assert sleeps == [300.0]


def test_a_spent_rate_limit_budget_pauses_before_the_next_request(answer, sleeps: list[float]) -> None:  # type: ignore[no-untyped-def]
    answer(
        [
            httpx.Response(200, json=1, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "20"}),
            httpx.Response(200, json=2),
        ]
    )
    client = _client(sleeps)

    assert client.get_json("/a") == 1 and sleeps == []
    assert client.get_json("/b") == 2
    assert len(sleeps) == 1 and 19 < sleeps[0] <= 20


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "Acme Desk rejected the credentials (HTTP 401): the API token was rejected."),
        (403, "Acme Desk refused access to /things (HTTP 403)"),
        (404, "Acme Desk has nothing at https://acme.example.test/things (HTTP 404)"),
    ],
)
def test_refusals_stop_at_once_with_a_readable_message(answer, sleeps: list[float], status: int, message: str) -> None:  # type: ignore[no-untyped-def]
    seen = answer([httpx.Response(status, json={"error": "no"})])

    with pytest.raises(PermanentError) as refused:
        _client(sleeps).get_json("/things")

    assert str(refused.value).startswith(message)
    assert len(seen) == 1 and sleeps == []


def test_a_missing_item_can_be_expected(answer, sleeps: list[float]) -> None:  # type: ignore[no-untyped-def]
    answer([httpx.Response(404)])

    assert _client(sleeps).get_json("/tickets/9", missing_ok=True) is None


def test_secrets_never_reach_the_log(answer, sleeps: list[float], caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    answer([httpx.Response(500), httpx.Response(401)])

    with pytest.raises(PermanentError) as refused:
        _client(sleeps).get_json("/things")

    assert "s3cret-value" not in caplog.text and "s3cret-value" not in str(refused.value)


def test_an_address_without_a_scheme_is_refused_before_any_request() -> None:
    with pytest.raises(PermanentError, match="must start with https://"):
        ApiClient("acme.zendesk.com", vendor="Zendesk")


def test_html_becomes_readable_text() -> None:
    html = "<div><p>Hello&nbsp;there,</p><p>It&#39;s <b>broken</b><br>again.</p><style>p{}</style></div>"

    assert html_to_text(html) == "Hello there,\n\nIt's broken\nagain."
    assert html_to_text("a < b & c") == "a < b & c"


def test_the_next_link_is_read_from_the_link_header() -> None:
    headers = httpx.Headers({"Link": '<https://x.test/a?page=1>; rel="prev", <https://x.test/a?page=3>; rel="next"'})

    assert next_link(headers) == "https://x.test/a?page=3"
    assert next_link(httpx.Headers()) is None
