"""Text preparation takes time linear in the size of what a customer sends.

Every body of an email reaches ``prepare_ticket``, so one crafted message must not stall a worker: each
shape below attacks one pattern's backtracking (a quantifier followed by one that can take the same
characters, an unbounded scan repeated from every start, a scan of the rest after every match). Each is
prepared at 10 KB and at 100 KB; 10x the input may take at most 60x the time (a quadratic step takes
100x to over 5,000x), measured as the minimum of a few runs so that a busy shared machine does not fail the test.
The cap on a message's length is lifted for these: it bounds the cost of a ticket, it must not hide
a pattern's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from insights.analysis import text
from insights.analysis.text import Turn, prepare_ticket

SMALL, LARGE = 10_000, 100_000
# Linear steps measure 15-45x here, not 10x (100 KB and its copies fall out of the CPU caches, more so
# on a loaded machine); the quadratic ones this file was written against measured 100x to over 5,000x.
MAX_RATIO = 60
# Below this a 100 KB run is fast whatever the ratio (the 10 KB run then takes microseconds and the
# ratio says more about the timer than about the code); above the budget it is too slow whatever the
# ratio (a quadratic step with a large linear part can show a modest ratio). Now: 0.15 s at most.
NOISE_FLOOR = 0.02
LARGE_BUDGET = 0.6


def _repeat(unit: str, size: int, head: str = "", tail: str = "") -> str:
    return head + unit * ((size - len(head) - len(tail)) // len(unit)) + tail


SHAPES: dict[str, Callable[[int], str]] = {
    # the shapes of the red-team report
    "ticket tag, spaces": lambda n: _repeat(" ", n, "[", "x"),
    "trailing space": lambda n: _repeat(" ", n, "a", "b"),
    "html quote": lambda n: _repeat("<div ", n),
    "html quote, after a tag": lambda n: _repeat("<div ", n, "<br>"),
    "html comment": lambda n: _repeat("<!--", n, "<p>"),
    "url secret": lambda n: _repeat("token", n, "https://x.example/?"),
    "sign-off lines": lambda n: _repeat("thanks\n", n),
    # found by reading every pattern
    "sign-off, spaces": lambda n: _repeat(" ", n, "thanks", "x"),
    "greeting, spaces": lambda n: _repeat(" ", n, "Hi", "x"),
    "greeting, dots": lambda n: _repeat(".", n, "Hi Tom", "x"),
    "ticket number, spaces": lambda n: _repeat(" ", n, "ticket number", "x"),
    "sentence end, spaces": lambda n: _repeat(" ", n, "It broke.", "5"),
    "blank line, spaces": lambda n: _repeat(" ", n, "a\n", "x"),
    "quote header, at signs": lambda n: _repeat("@", n),
    "quote header, openers": lambda n: _repeat("On Monday Tom <a@b.example> said\n", n),
    "reply-above marker": lambda n: _repeat("reply above this line ", n, "##- "),
    "outlook header lines": lambda n: _repeat("From: Tom\nSent: Monday\n", n),
    "mobile footer, spaces": lambda n: _repeat(" ", n, "Sent from my iPhone", "x"),
    "html break tags": lambda n: _repeat("<p ", n, "<br>"),
    "html tag, attributes": lambda n: _repeat("<a b=", n, "<br>"),
    "html script, unclosed": lambda n: _repeat("<script>", n, "<p>"),
    "url path parts": lambda n: _repeat("/abcdefghij0123456789", n, "https://x.example"),
    "jwt prefixes": lambda n: _repeat("eyJ-", n, "Broken "),
    "api key prefixes": lambda n: _repeat("sk-", n, "Broken "),
    "long run": lambda n: _repeat("aB3", n, "", "!"),
    "number hint, brackets": lambda n: _repeat("(", n, "Broken "),
    "number runs": lambda n: _repeat("1 ", n, "Broken ", "x"),
    "number hint, dashes": lambda n: _repeat("-", n, "Broken 1"),
    "email domains": lambda n: _repeat("b.", n, "a@"),
    "labelled secret, spaces": lambda n: _repeat(" ", n, "password", "x"),
    "labelled phone, spaces": lambda n: _repeat(" ", n, "phone", "x"),
    "signature paragraphs": lambda n: _repeat("Tom\n\n", n, "It broke.\n\n"),
    "form fields": lambda n: _repeat("Name: Tom\n", n),
    "disclaimer words": lambda n: _repeat("this email is ", n),
    "courtesy words": lambda n: _repeat("thanks so much ", n),
    "plain words": lambda n: _repeat("the export fails ", n),
}


def _seconds(prepare: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        prepare()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.fixture
def _uncapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "MAX_MESSAGE_CHARACTERS", 10 * LARGE)


@pytest.mark.usefixtures("_uncapped")
@pytest.mark.parametrize("name", SHAPES)
def test_a_crafted_message_takes_linear_time(name: str) -> None:
    small, large = SHAPES[name](SMALL), SHAPES[name](LARGE)
    small_time = _seconds(lambda: prepare_ticket("", [Turn("customer", small)]))
    large_time = _seconds(lambda: prepare_ticket("", [Turn("customer", large)]))
    _assert_linear(name, small_time, large_time)


@pytest.mark.usefixtures("_uncapped")
@pytest.mark.parametrize("name", ["ticket tag, spaces", "greeting, spaces"])
def test_a_crafted_subject_takes_linear_time(name: str) -> None:
    small, large = SHAPES[name](SMALL), SHAPES[name](LARGE)
    small_time = _seconds(lambda: prepare_ticket(small.replace("Hi", "Re", 1), []))
    large_time = _seconds(lambda: prepare_ticket(large.replace("Hi", "Re", 1), []))
    _assert_linear(name, small_time, large_time)


def _assert_linear(name: str, small_time: float, large_time: float) -> None:
    assert large_time < LARGE_BUDGET * _slowness(), (name, small_time, large_time)
    assert large_time < NOISE_FLOOR or large_time < MAX_RATIO * small_time, (name, small_time, large_time)


def test_a_ticket_of_many_huge_messages_prepares_in_seconds() -> None:
    """500 customer messages of 100 KB each (50 MB): each message's cost is bounded by a cap on its
    length, the ticket's by a cap on how much of it is read."""
    shapes = list(SHAPES.values())
    turns = [Turn("customer", shapes[index % len(shapes)](LARGE)) for index in range(500)]
    assert _seconds(lambda: prepare_ticket("", turns), repeats=1) < 2 * _slowness()


def test_a_long_message_is_read_up_to_the_cap() -> None:
    problem = "The export button is greyed out since Monday."
    prepared = prepare_ticket("", [Turn("customer", f"{problem}\n" + "The export fails again.\n" * 5_000)])
    assert prepared.sentences == (problem, "The export fails again.")
    assert len(text.clean_message("x " * 100_000)) <= text.MAX_MESSAGE_CHARACTERS


def _slowness() -> float:
    """How much slower than a quiet developer machine this one runs now (at least 1)."""
    reference = 0.012  # seconds for the loop below on a quiet machine
    return max(1.0, _seconds(lambda: sum(i * i for i in range(100_000))) / reference)
