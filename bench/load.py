"""Latency of the busiest pages under load: gunicorn serving, wrk loading from a second process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline_pages_bench REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/load.py [--tickets N] [--reuse] [--connections C] [--seconds S] [--workers W]

The data is bench/pages.py's (``--tickets`` tickets, themes, statistics, backlog items; ``--reuse``
keeps a database that holds that many already). Threadline then runs as in production: DEBUG off,
collected static files, the Redis cache, ``gunicorn`` with ``--workers`` processes on a free
loopback port. For each page, ``wrk`` (Debian's package) keeps ``--connections`` clients busy for
``--seconds`` after a warm-up of a third as long, each request a random pick from the page's URLs
(the theme page cycles through the 20 busiest themes, the board through its periods), signed in as
a product manager (the triage queue as a support lead).

The baseline, measured the same way in the same run, is ``/healthz``: the same server, middleware
and connections with no page work, i.e. what the machine and gunicorn cost per request at that
concurrency. It prints one JSON object: per page the requests, failures, requests/s and p50/p90/
p95/p99 in milliseconds; ``over_budget`` lists the pages whose p95 exceeds ``BUDGET_MS``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pages

BASE_DIR = Path(__file__).resolve().parent.parent
BUDGET_MS = 300
LUA = Path(__file__).resolve().parent / "wrk_report.lua"


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if not shutil.which("wrk"):
        sys.exit("bench/load.py drives the server with wrk: apt-get install wrk")
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench/load.py runs Threadline as in production, with its Redis cache: set REDIS_URL")
    pages._setup_django()
    from django.db import connection

    from tickets.models import Ticket

    if not (args.reuse and Ticket.objects.count() == args.tickets):
        started = time.perf_counter()
        pages.load(connection, tickets=args.tickets, days=365, themes=args.themes, seed=0.42)
        print(f"loaded in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    targets = _targets()
    static_root = tempfile.TemporaryDirectory(prefix="load-static-")
    port = _free_port()
    env = {**os.environ, "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1", "STATIC_ROOT": static_root.name,
           "LOG_LEVEL": "WARNING", "SECURE_SSL_REDIRECT": "false"}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env,
                   check=True)
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi", "--workers", str(args.workers),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=BASE_DIR, env=env,
    )
    try:
        _wait_until_up(port)
        _check_every_url_answers(port, targets)
        results = {name: _wrk(port, paths, cookie, args) for name, (paths, cookie) in targets.items()}
    finally:
        server.terminate()
        server.wait(30)
        static_root.cleanup()
    baseline = results.pop("healthz")
    print(json.dumps({
        "tickets": Ticket.objects.count(),
        "connections": args.connections,
        "seconds": args.seconds,
        "gunicorn_workers": args.workers,
        "baseline_healthz": baseline,
        "pages": results,
        "budget_p95_ms": BUDGET_MS,
        "over_budget": sorted(name for name, result in results.items() if result["p95_ms"] > BUDGET_MS),
    }))
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--themes", type=int, default=120)
    parser.add_argument("--reuse", action="store_true", help="keep already loaded data of the same size")
    parser.add_argument("--connections", type=int, default=20, help="concurrent wrk clients")
    parser.add_argument("--seconds", type=int, default=30, help="measured seconds per page")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    return parser.parse_args(argv)


def _targets() -> dict[str, tuple[list[str], str]]:
    """Per page: the URLs wrk picks from, and the session cookie of the persona that opens it."""
    from django.db.models import Sum
    from django.utils import timezone

    from insights.models import ThemeStat

    pm, lead = _session_cookie("bench-pm", "product_manager"), _session_cookie("bench-lead", "support_lead")
    month_ago = timezone.localdate() - timezone.timedelta(days=29)
    busiest = [row["theme_id"] for row in ThemeStat.objects.filter(day__gte=month_ago).values("theme_id")
               .annotate(n=Sum("tickets")).order_by("-n")[:20]]
    return {
        "healthz": (["/healthz"], pm),
        "dashboard": (["/", "/?period=7", "/?period=90"], pm),
        "theme": ([f"/themes/{pk}/" for pk in busiest], pm),
        "triage": (["/triage/", "/triage/?order=affected", "/triage/?page=2"], lead),
        "roadmap_board": (["/roadmap/", "/roadmap/?period=7", "/roadmap/?period=90", "/roadmap/?sort=arr"], pm),
    }


def _session_cookie(username: str, role: str) -> str:
    """A signed-in session of a user with ``role``, as the Cookie header a browser would send."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from tickets.access import Role, user_role_set

    users = get_user_model().objects
    user = users.filter(username=username).first() or users.create_user(username=username)
    user_role_set(user, Role(role))
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def _wrk(port: int, paths: list[str], cookie: str, args: argparse.Namespace) -> dict[str, Any]:
    def run(seconds: int) -> dict[str, Any]:
        completed = subprocess.run(
            ["wrk", "--threads", "2", "--connections", str(args.connections), "--duration", f"{seconds}s",
             "--timeout", "10s", "--script", str(LUA), "--header", f"Cookie: {cookie}", f"http://127.0.0.1:{port}"],
            env={**os.environ, "WRK_PATHS": " ".join(paths)}, capture_output=True, text=True, check=True,
        )
        return json.loads(completed.stdout.strip().splitlines()[-1])

    run(max(1, args.seconds // 3))  # warm-up: caches filled, connections open, as on a site in use
    result = run(args.seconds)
    print(f"{paths[0]}: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, {result['requests_per_second']}/s, "
          f"{result['failed']} failed", file=sys.stderr, flush=True)
    return {"urls": len(paths), **result}


def _check_every_url_answers(port: int, targets: dict[str, tuple[list[str], str]]) -> None:
    """A redirect to the login page would be timed as a fast page: every URL must answer 200."""
    for paths, cookie in targets.values():
        for path in paths:
            server = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            server.request("GET", path, headers={"Cookie": cookie})
            response = server.getresponse()
            server.close()
            if response.status != 200:
                raise SystemExit(f"{path} answered {response.status} ({response.getheader('Location')}), not 200")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(port: int) -> None:
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("gunicorn did not answer /healthz within a minute")


if __name__ == "__main__":
    sys.exit(main())
