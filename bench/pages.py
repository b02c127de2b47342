"""Page render times of the product manager's pages at a million tickets, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline_pages_bench \\
        .venv/bin/python bench/pages.py [--tickets N] [--days D] [--themes T] [--runs R] [--seed S] [--reuse]
        [--only PAGE,PAGE…]

It migrates the database, empties the ticket and insights tables and loads, with set-based SQL
(``INSERT … SELECT generate_series``; no per-ticket ORM):

- ``--tickets`` tickets over the last ``--days`` days, stored oldest first, from 5,000 organizations (five plans, with
  ARR) and 200,000 customers, over three channels, with resolution times, reopens and CSAT;
- ``--themes`` granular themes in twelve areas; every ticket in one theme picked with a skew (a
  few big themes, a long tail) and one in ten in a second; one ticket in twenty unthemed;
- the ThemeStat rows the statistics refresh would build, by the same grouping as
  ``insights.services.stats._stats_of_days`` (theme × day × source × channel × plan, distinct tickets);
- every ticket's analysis, the unthemed ones in the triage queue, with the order copies that
  ``insights.services.stats.triage_order_refresh`` keeps;
- ``BACKLOG_ITEMS`` backlog items in every status, each linked to two granular themes and one in ten
  also to an area, and their demand rollup built by ``roadmap.services.backlog_demand_rebuild``.

``--reuse`` skips the load when the tables already hold ``--tickets`` tickets.

Then it renders each page through Django's test ``Client`` as a signed-in product manager (one
warm-up, then ``--runs`` timed renders; figures are medians in milliseconds, server side: URL
routing, middleware, every query and the template) and, as the baseline measured in the same run,
``SELECT count(*) FROM tickets_ticket`` and the raw SQL of the dashboard's main query (tickets per
theme over 30 days from ThemeStat). It prints one JSON object; ``over_budget`` lists the pages
above ``BUDGET_MS``. ``--only`` renders only the named pages (and skips the baseline queries).
The board's ``*_cache_cleared`` figures are its first load: the demand cache emptied before each render.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
BUDGET_MS = 300
ORGANIZATIONS = 5_000
CUSTOMERS = 200_000
AREAS = 12
BACKLOG_ITEMS = 60


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    _setup_django()
    from django.db import connection

    from tickets.models import Ticket

    load_seconds = None
    if not (args.reuse and Ticket.objects.count() == args.tickets):
        started = time.perf_counter()
        load(connection, tickets=args.tickets, days=args.days, themes=args.themes, seed=args.seed)
        load_seconds = round(time.perf_counter() - started, 1)
        print(f"loaded in {load_seconds} s", file=sys.stderr)
    result = measure(connection, runs=args.runs, only=args.only)
    result["load_seconds"] = load_seconds
    print(json.dumps(result))
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--themes", type=int, default=120)
    parser.add_argument("--runs", type=int, default=7, help="timed renders per page; figures are medians")
    parser.add_argument("--seed", type=float, default=0.42, help="PostgreSQL setseed() value, in [-1, 1]")
    parser.add_argument("--reuse", action="store_true", help="keep already loaded data of the same size")
    parser.add_argument("--only", type=lambda text: set(filter(None, text.split(","))), default=set(),
                        help="comma-separated page names to render (default: all)")
    args = parser.parse_args(argv)
    if args.tickets < 1 or args.days < 1 or args.themes < 1 or args.runs < 1:
        parser.error("--tickets, --days, --themes and --runs must be at least 1")
    return args


def _setup_django() -> None:
    import dj_database_url

    url = os.environ.get("DATABASE_URL", "")
    if not url or not dj_database_url.parse(url)["ENGINE"].endswith("postgresql"):
        sys.exit(
            "bench/pages.py measures PostgreSQL: set DATABASE_URL to a database it may empty, e.g.\n"
            "  createdb -h 127.0.0.1 -U postgres threadline_pages_bench\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline_pages_bench .venv/bin/python bench/pages.py"
        )
    # Production settings: no query log, templates cached, the test client's host allowed.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(BASE_DIR))
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    # Static file URLs without a collectstatic manifest: the bench measures rendering, not files.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    call_command("migrate", verbosity=0, interactive=False)


# --- the data -------------------------------------------------------------------------------------


def load(connection: Any, *, tickets: int, days: int, themes: int, seed: float) -> None:
    """Empty the tables and fill them with set-based SQL (see the module docstring)."""
    from insights.models import Theme, ThemeStat, TicketAnalysis, TicketTheme
    from insights.services.stats import triage_order_refresh
    from roadmap.models import BacklogItem
    from roadmap.services import backlog_demand_rebuild
    from tickets.models import Customer, Organization, Source, Ticket

    tables = ", ".join(m._meta.db_table for m in (TicketTheme, TicketAnalysis, ThemeStat, Theme, BacklogItem, Ticket,
                                                     Customer, Organization, Source))
    statements = [
        f"TRUNCATE {tables} RESTART IDENTITY CASCADE",
        f"SELECT setseed({seed})",
        "INSERT INTO tickets_source (name, kind, settings, credentials_encrypted, cursor, enabled, created_at,"
        " updated_at) VALUES ('bench', 'demo', '{}', '', '{}', true, now(), now())",
        # Plans from free to enterprise, fewer organizations the bigger the plan.
        "INSERT INTO tickets_organization (source_id, external_id, name, plan, arr, attributes)"
        " SELECT 1, 'org-' || i, 'Company ' || i, p.plan, p.arr * (1 + i % 5), '{}'"
        f" FROM generate_series(1, {ORGANIZATIONS}) AS i"
        " CROSS JOIN LATERAL (SELECT (ARRAY['free','free','starter','starter','pro','pro','business','enterprise'])"
        "[1 + (i * 7) % 8] AS plan) AS q"
        " CROSS JOIN LATERAL (SELECT q.plan, CASE q.plan WHEN 'free' THEN 0 WHEN 'starter' THEN 1200"
        " WHEN 'pro' THEN 12000 WHEN 'business' THEN 48000 ELSE 150000 END AS arr) AS p",
        "INSERT INTO tickets_customer (source_id, external_id, name, email, organization_id)"
        " SELECT 1, 'cust-' || i, 'Customer ' || i, 'customer' || i || '@example.test',"
        f" 1 + i % {ORGANIZATIONS} FROM generate_series(1, {CUSTOMERS}) AS i",
        "INSERT INTO tickets_ticket (source_id, external_id, channel, subject, status, priority, requester_id,"
        " organization_id, created_at, updated_at, solved_at, reopen_count, tags, csat, language, url,"
        " content_hash, ingested_at, changed_at)"
        " SELECT 1, 'T-' || i, (ARRAY['email','email','chat','web'])[1 + floor(random() * 4)::int],"
        f" 'Ticket ' || i, status, '', c, 1 + c % {ORGANIZATIONS}, created, created,"
        " CASE WHEN status IN ('solved', 'closed') THEN created + random() * interval '96 hours' END,"
        " (random() < 0.06)::int, '[]', CASE WHEN random() < 0.4 THEN 1 + floor(random() * 5)::int END,"
        " 'en', '', repeat('0', 64), now(), now()"
        # random() in the inner select runs once per row. Rows go in oldest first, as help desks
        # hand them over (and as ids grow): the table's physical order follows created_at.
        f" FROM (SELECT i, 1 + floor(random() * {CUSTOMERS})::int AS c,"
        f" now() - random() * interval '{days} days' AS created,"
        " (ARRAY['solved','solved','closed','open','pending'])[1 + floor(random() * 5)::int] AS status"
        f" FROM generate_series(1, {tickets}) AS i) AS g ORDER BY created",
        "INSERT INTO insights_theme (name, description, keywords, status, origin, example_ticket_ids,"
        " suggested_size, centroid_representation, created_at, updated_at)"
        f" SELECT 'Area ' || i, '', '[]', 'active', 'manual', '[]', 0, '', now(), now()"
        f" FROM generate_series(1, {AREAS}) AS i",
        "INSERT INTO insights_theme (name, description, keywords, parent_id, status, origin, example_ticket_ids,"
        " suggested_size, centroid_representation, created_at, updated_at)"
        f" SELECT 'Theme ' || i, 'A granular problem', '[]', 1 + i % {AREAS}, 'active', 'discovered', '[]', 0,"
        f" '', now(), now() FROM generate_series(1, {themes}) AS i",
        # One theme per ticket, skewed towards the first ones (random()^2), one in ten in a second.
        "INSERT INTO insights_tickettheme (ticket_id, theme_id, confidence, method, explanation, assigned_at)"
        f" SELECT id, {AREAS} + 1 + floor(random() ^ 2 * {themes})::int, 0.5 + random() / 2, 'model', '{{}}',"
        " now() FROM tickets_ticket WHERE random() < 0.95",
        "INSERT INTO insights_tickettheme (ticket_id, theme_id, confidence, method, explanation, assigned_at)"
        f" SELECT id, {AREAS} + 1 + floor(random() * {themes})::int, 0.5 + random() / 2, 'model', '{{}}', now()"
        " FROM tickets_ticket WHERE random() < 0.1 ON CONFLICT DO NOTHING",
        # The statistics, grouped as the refresh groups them.
        "INSERT INTO insights_themestat (theme_id, day, source_id, channel, plan, tickets)"
        " SELECT tt.theme_id, (t.created_at AT TIME ZONE current_setting('TIMEZONE'))::date, t.source_id,"
        " t.channel, coalesce(o.plan, ''), count(DISTINCT tt.ticket_id)"
        " FROM insights_tickettheme tt JOIN tickets_ticket t ON t.id = tt.ticket_id"
        " LEFT JOIN tickets_organization o ON o.id = t.organization_id GROUP BY 1, 2, 3, 4, 5",
        # Every ticket analysed; the unthemed ones wait in the triage queue with the model's guess.
        "INSERT INTO insights_ticketanalysis (ticket_id, text, sentences, content_hash, best_theme_id,"
        " best_confidence, needs_triage, processed_at, triage_arr)"
        f" SELECT t.id, t.subject, '[]', t.content_hash, {AREAS} + 1 + floor(random() * {themes})::int,"
        " random() / 2, NOT EXISTS (SELECT 1 FROM insights_tickettheme tt WHERE tt.ticket_id = t.id), now(), -1"
        " FROM tickets_ticket t",
        "INSERT INTO roadmap_backlogitem (title, description, kind, status, external_key, external_url,"
        " created_at, updated_at) SELECT 'Item ' || i, '', 'feature',"
        " (ARRAY['idea','planned','in_progress','shipped','wont_do'])[1 + i % 5], '', '', now(), now()"
        f" FROM generate_series(1, {BACKLOG_ITEMS}) AS i",
        # Two granular themes per item (the big ones too), and one item in ten covers a whole area.
        "INSERT INTO roadmap_themelink (theme_id, item_id, note, created_at)"
        f" SELECT DISTINCT {AREAS} + 1 + (i * k) % {themes}, i, '', now()"
        f" FROM generate_series(1, {BACKLOG_ITEMS}) AS i CROSS JOIN (VALUES (1), (7)) AS m(k)",
        "INSERT INTO roadmap_themelink (theme_id, item_id, note, created_at)"
        f" SELECT 1 + i % {AREAS}, i, '', now() FROM generate_series(10, {BACKLOG_ITEMS}, 10) AS i",
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
        for statement in statements:
            started = time.perf_counter()
            cursor.execute(statement)
            print(f"{time.perf_counter() - started:7.1f} s  {statement[:70]}", file=sys.stderr)
    for build in (backlog_demand_rebuild, triage_order_refresh):
        started = time.perf_counter()
        build()
        print(f"{time.perf_counter() - started:7.1f} s  {build.__name__}()", file=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# --- the measurement ----------------------------------------------------------------------------


def measure(connection: Any, *, runs: int, only: set[str]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db.models import Sum
    from django.test import Client
    from django.utils import timezone

    from insights.models import Theme, ThemeStat, TicketTheme
    from tickets.access import Role, user_role_set
    from tickets.models import Organization, Ticket

    users = get_user_model().objects
    user = users.filter(username="bench-pm").first() or users.create_user(username="bench-pm",
                                                                           email="bench-pm@example.test")
    user_role_set(user, Role.PRODUCT_MANAGER)
    client = Client()
    client.force_login(user)
    lead = users.filter(username="bench-lead").first() or users.create_user(username="bench-lead",
                                                                             email="bench-lead@example.test")
    user_role_set(lead, Role.SUPPORT_LEAD)
    lead_client = Client()
    lead_client.force_login(lead)
    today = timezone.localdate()
    top = [row["theme_id"] for row in ThemeStat.objects.filter(day__gte=today - timedelta(days=29))
           .values("theme_id").annotate(n=Sum("tickets")).order_by("-n")[:10]]
    busiest = top[0]
    area = Theme.objects.get(pk=busiest).parent_id
    organization = Organization.objects.filter(plan="enterprise").first()
    after = (today - timedelta(days=29)).isoformat()
    before = (today + timedelta(days=1)).isoformat()
    pages = {
        "dashboard": "/",
        "dashboard_90_days": "/?period=90",
        "dashboard_organization": f"/?organization={organization.pk if organization else ''}",
        # What the dashboard loads right after itself: distinct customers of the themes it shows.
        "dashboard_customers_part": f"/?part=customers&top={','.join(map(str, top))}",
        "theme": f"/themes/{busiest}/",
        "theme_area": f"/themes/{area}/",
        "theme_list": "/themes/",
        "compare": "/compare/",
        "ticket_list": "/tickets/",
        "ticket_list_theme_drilldown": f"/tickets/?theme={busiest}&created_after={after}&created_before={before}",
        "roadmap_board": "/roadmap/",
        "roadmap_board_7_days": "/roadmap/?period=7",
        "roadmap_board_90_days": "/roadmap/?period=90",
        "roadmap_board_custom_60_days": f"/roadmap/?period=custom&start={today - timedelta(days=59)}"
                                         f"&end={today}",
        "roadmap_board_by_arr": "/roadmap/?sort=arr",
    }
    lead_pages = {
        "triage": "/triage/",
        "triage_most_affected": "/triage/?order=affected",
        "triage_most_affected_page_20": "/triage/?order=affected&page=20",
    }
    # The theme page keeps the period's overall health (its baseline) in the cache for minutes, and
    # the board its demand: these are the pages when nobody opened one of that period lately.
    cold = {"dashboard_cache_cleared": "dashboard", "dashboard_90_days_cache_cleared": "dashboard_90_days",
            "theme_cache_cleared": "theme", "roadmap_board_cache_cleared": "roadmap_board",
            "roadmap_board_7_days_cache_cleared": "roadmap_board_7_days",
            "roadmap_board_90_days_cache_cleared": "roadmap_board_90_days",
            "roadmap_board_custom_60_days_cache_cleared": "roadmap_board_custom_60_days"}
    timings = {name: _median_ms(partial(_render, client, url), runs) for name, url in pages.items()
               if not only or name in only}
    timings |= {name: _median_ms(partial(_render, lead_client, url), runs)
                for name, url in lead_pages.items() if not only or name in only}
    timings |= {name: _median_ms(partial(_render, client, pages[page], cache=cache), runs)
                for name, page in cold.items() if not only or name in only}
    baseline = {} if only else {
        "select_count_tickets": _median_ms(lambda: _sql(connection, "SELECT count(*) FROM tickets_ticket"), runs),
        "dashboard_main_query": _median_ms(lambda: _sql(
            connection,
            "SELECT theme_id, sum(tickets) FROM insights_themestat WHERE day BETWEEN %s AND %s GROUP BY theme_id",
            [today - timedelta(days=29), today]), runs),
    }
    return {
        "tickets": Ticket.objects.count(),
        "ticket_themes": TicketTheme.objects.count(),
        "theme_stats": ThemeStat.objects.count(),
        "themes": Theme.objects.count(),
        "runs": runs,
        "median_ms": timings,
        "baseline_median_ms": baseline,
        "budget_ms": BUDGET_MS,
        "over_budget": sorted(name for name, ms in timings.items() if ms > BUDGET_MS),
    }


def _render(client: Any, url: str, *, cache: Any = None) -> None:
    """One render; with ``cache``, emptied first (the page as nobody opened it lately)."""
    if cache is not None:
        cache.clear()
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")


def _sql(connection: Any, statement: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        cursor.fetchall()


def _median_ms(work: Callable[[], Any], runs: int) -> float:
    work()  # warm-up: connection, template and plan caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


if __name__ == "__main__":
    sys.exit(main())
