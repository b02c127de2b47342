"""The daily theme statistics (theme × day × source × channel × plan), rebuilt per dirty day."""

from __future__ import annotations

import time as clock
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from insights.models import ThemeStat, ThemeStatDirtyDay, TicketAnalysis, TicketTheme, UnthemedStat
from tickets.models import Ticket

# Comparing every queued ticket's ARR with its organization's takes about a second at a million
# tickets: done at most this often (the days just processed are copied at once).
TRIAGE_CATCH_UP_SECONDS = 60


STATS_VERSION_KEY = "insights:stats-version"


def stats_version() -> int:
    """A number that changes whenever what the dashboards show may have changed: statistics rebuilt,
    themes curated, a spike raised. Pages keep what they compute under it (``insights.selectors.
    stats_cached``), so at a million tickets a busy dashboard is computed once per change, not per view."""
    version = cache.get(STATS_VERSION_KEY)
    if version is None:
        cache.add(STATS_VERSION_KEY, clock.time_ns(), timeout=None)  # add: a concurrent bump wins
        version = cache.get(STATS_VERSION_KEY) or clock.time_ns()  # no cache reachable: never reused
    return int(version)


def stats_version_bump() -> None:
    """After the current transaction commits, everything cached under the old version is stale."""
    transaction.on_commit(lambda: cache.set(STATS_VERSION_KEY, clock.time_ns(), timeout=None))


def theme_stats_mark_dirty(*, ticket_ids: Sequence[int], soon: bool = True) -> None:
    """Remember the days of these tickets so their statistics get rebuilt: right after commit, or,
    with ``soon=False``, at the next periodic refresh (every few minutes)."""
    days = set(
        Ticket.objects.filter(pk__in=ticket_ids).annotate(day=TruncDate("created_at")).values_list("day", flat=True)
    )
    ThemeStatDirtyDay.objects.bulk_create([ThemeStatDirtyDay(day=day) for day in days], ignore_conflicts=True)
    if days and soon:
        from config.dispatch import task_dispatch
        from insights.tasks import refresh_theme_stats

        transaction.on_commit(lambda: task_dispatch(refresh_theme_stats))


def theme_stats_refresh(*, limit: int = 366) -> int:
    """Rebuild the statistics (and the roadmap's demand rollup) of up to ``limit`` dirty days;
    returns how many days were rebuilt.

    Each day is rebuilt whole from the current assignments (delete, then aggregate), so the
    result never depends on the order in which changes arrived. Rows are claimed with SKIP
    LOCKED: concurrent refreshes work on different days.
    """
    with transaction.atomic():
        claimed = list(
            ThemeStatDirtyDay.objects.select_for_update(skip_locked=True).order_by("day")[:limit]
        )
        days = [row.day for row in claimed]
        if days:
            _days_rebuild(days)
    if not days:
        # Every dirty day is done: what follows the rest of the data (organizations' ARR, the date)
        # catches up — the triage order, and the roadmap board's preset periods (at most once a minute).
        from roadmap.services import SNAPSHOT_MIN_INTERVAL, backlog_demand_snapshot_refresh

        if cache.add("insights:triage-order-catch-up", True, timeout=TRIAGE_CATCH_UP_SECONDS):
            triage_order_refresh()
        backlog_demand_snapshot_refresh(min_interval=SNAPSHOT_MIN_INTERVAL)
    return len(days)


def _days_rebuild(days: list[date]) -> None:
    """In the caller's transaction, which holds the days' dirty rows."""
    ThemeStat.objects.filter(day__in=days).delete()
    ThemeStat.objects.bulk_create(_stats_of_days(days))
    UnthemedStat.objects.filter(day__in=days).delete()
    UnthemedStat.objects.bulk_create(_unthemed_of_days(days))
    # The roadmap board's demand rollup follows the same days (roadmap imports insights, so here).
    from roadmap.services import backlog_demand_refresh_days

    backlog_demand_refresh_days(days=days)
    triage_order_refresh(days=days)
    ThemeStatDirtyDay.objects.filter(day__in=days).delete()
    stats_version_bump()


def triage_order_refresh(*, days: Sequence[date] | None = None) -> int:
    """Copy each queued ticket's created time and its organization's ARR (-1: none or unknown) onto
    its analysis, for the triage queue's "most affected" index: the queued tickets of these days
    (processing marks the days of what it queued), or, with None, every queued one whose copy is
    missing or out of date (an organization's ARR or a ticket's organization changed). Returns
    how many analyses were written."""
    ticket = Ticket.objects.filter(pk=OuterRef("ticket_id"))
    unknown = Value(Decimal(-1), output_field=DecimalField(max_digits=14, decimal_places=2))
    arr = Subquery(ticket.values(arr=Coalesce("organization__arr", unknown))[:1])
    queued = TicketAnalysis.objects.filter(needs_triage=True)
    if days is not None:
        zone = timezone.get_current_timezone()
        queued = queued.filter(ticket__created_at__gte=datetime.combine(min(days), time.min, tzinfo=zone),
                               ticket__created_at__lt=datetime.combine(max(days) + timedelta(days=1), time.min,
                                                                       tzinfo=zone))
    else:
        queued = queued.annotate(arr_now=arr).filter(Q(triage_created_at__isnull=True) | ~Q(triage_arr=F("arr_now")))
    return queued.update(triage_arr=arr, triage_created_at=Subquery(ticket.values("created_at")[:1]))


def _unthemed_of_days(days: list[date]) -> list[UnthemedStat]:
    """Per day and segment, the tickets in no theme that ask something: the tickets list's
    "In no theme" filter (``tickets.filters``), counted once per rebuilt day."""
    themed = Exists(TicketTheme.objects.filter(ticket_id=OuterRef("pk")))
    asks_nothing = Exists(TicketAnalysis.objects.filter(ticket_id=OuterRef("pk"), no_request=True))
    rows = (
        Ticket.objects.annotate(day=TruncDate("created_at"))
        .filter(day__in=days).filter(~themed & ~asks_nothing)
        .values("day", "source_id", "channel", "organization__plan")
        .annotate(tickets=Count("id"))
        .order_by()
    )
    return [
        UnthemedStat(day=row["day"], source_id=row["source_id"], channel=row["channel"],
                     plan=row["organization__plan"] or "", tickets=row["tickets"])
        for row in rows
    ]


def _stats_of_days(days: list[date]) -> list[ThemeStat]:
    rows = (
        TicketTheme.objects.annotate(day=TruncDate("ticket__created_at"))
        .filter(day__in=days)
        .values("theme_id", "day", "ticket__source_id", "ticket__channel", "ticket__organization__plan")
        .annotate(tickets=Count("ticket_id", distinct=True))
        .order_by()
    )
    return [
        ThemeStat(
            theme_id=row["theme_id"], day=row["day"], source_id=row["ticket__source_id"],
            channel=row["ticket__channel"], plan=row["ticket__organization__plan"] or "", tickets=row["tickets"],
        )
        for row in rows
    ]
