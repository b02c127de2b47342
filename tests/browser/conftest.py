"""Playwright driving Debian's Chromium against a live Django server.

The browser never comes from Playwright's own download: ``.ci/run`` installs Debian's
``chromium`` and we point Playwright at it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD, require_service

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test
# body are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

BASE_DIR = Path(__file__).resolve().parents[2]
# `make screenshots` points this at docs/screenshots/ (the pictures the README shows); ordinary
# test runs keep theirs in var/ so they don't rewrite tracked files.
SCREENSHOTS = BASE_DIR / os.environ.get("SCREENSHOTS_DIR", "var/screenshots")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    require_service("Debian's chromium", Path(executable).exists())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 860})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def sign_in(page: Any) -> Callable[[Any], Any]:
    def sign_in_as(user: Any) -> Any:
        page.goto("/login/")
        page.get_by_label("Email or username").fill(user.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        return page

    return sign_in_as


def screenshot(page: Any, name: str) -> None:
    """Keep a picture of a main page (see SCREENSHOTS)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
