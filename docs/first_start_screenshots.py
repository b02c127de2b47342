"""The pictures in docs/screenshots/, taken from a real first start (``make screenshots``).

    .venv/bin/python docs/first_start_screenshots.py [--out docs/screenshots] [--port 8765]

Does what a new user does: a fresh data directory, ``migrate``, ``setup_demo`` (the demo help desk,
discovery with the product's own names, the first review, the backlog), ``run_embedded``; then signs
in as each demo role in headless Chromium and photographs the pages that role works in. Nothing is
hand-named: every theme, area and figure on the pictures is what the first start produced. Needs
Debian's chromium (``/usr/bin/chromium``) and the dev extra (Playwright).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = ViewportSize(width=1366, height=900)

# role → [(picture, path or a function of the page that opens it)], in the order a user goes.
SHOTS: dict[str, list[tuple[str, str]]] = {
    "Product manager": [
        ("dashboard", "/"), ("themes", "/themes/?sort=-volume"), ("theme", "first-theme"), ("compare", "/compare/"),
        ("roadmap", "/roadmap/"), ("backlog-item", "first-item"), ("unaddressed", "/roadmap/unaddressed/"),
        ("escalations", "/escalations/"), ("escalation", "first-escalation"),
    ],
    "Support lead": [
        ("triage", "/triage/"), ("suggested-themes", "/themes/suggested/"), ("tickets", "/tickets/"),
        ("ticket", "first-ticket"),
    ],
    "Admin": [("overview", "/overview/"), ("sources", "/sources/"), ("source", "first-source"),
              ("import", "/imports/")],
}
# How to reach a page that has an id: the first matching link on a list page.
FIRST = {
    "first-theme": ("/themes/?sort=-volume", "table.theme-table td a[href^='/themes/']"),
    "first-item": ("/roadmap/", "a[href^='/roadmap/items/']:not([href$='/new/'])"),
    "first-escalation": ("/escalations/", "a[href^='/escalations/']:not([href$='/new/'])"),
    "first-ticket": ("/tickets/", "a[href^='/tickets/'][href$='/']:not([href='/tickets/'])"),
    "first-source": ("/sources/", "a[href^='/sources/'][href$='/']:not([href='/sources/']):not([href$='/new/'])"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="threadline-first-start-") as data:
        env = {**os.environ, "THREADLINE_DATA_DIR": data}
        env.pop("DATABASE_URL", None)  # the embedded default: SQLite in the data directory
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        subprocess.run([*manage, "setup_demo"], env=env, check=True, cwd=ROOT)
        logins = json.loads((Path(data) / "demo-logins.json").read_text())
        server = subprocess.Popen([*manage, "run_embedded", f"127.0.0.1:{args.port}"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{args.port}"
        try:
            _wait_for(f"{base}/healthz")
            taken = _photograph(base, logins, out)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps({"screenshots": taken, "out": str(out)}, indent=1))


def _wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 (our own loopback server)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _photograph(base: str, logins: dict[str, list[str]], out: Path) -> list[str]:
    taken: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for role, shots in SHOTS.items():
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            email, password = logins[role]
            page.goto(f"{base}/login/")
            page.fill("input[name=username]", email)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            for name, where in shots:
                _open(page, base, where)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                taken.append(name)
            context.close()
        browser.close()
    return taken


def _open(page: Page, base: str, where: str) -> None:
    if where not in FIRST:
        page.goto(base + where)
        return
    listing, selector = FIRST[where]
    page.goto(base + listing)
    page.locator(selector).first.click()


if __name__ == "__main__":
    main()
