"""The daily theme statistics (theme × day × source × channel × plan), rebuilt per dirty day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncDate

from insights.models import ThemeStat, ThemeStatDirtyDay, TicketTheme
from tickets.models import Ticket


def theme_stats_mark_dirty(*, ticket_ids: Sequence[int]) -> None:
    """Remember the days of these tickets so their statistics get rebuilt (after commit)."""
    days = set(
        Ticket.objects.filter(pk__in=ticket_ids).annotate(day=TruncDate("created_at")).values_list("day", flat=True)
    )
    ThemeStatDirtyDay.objects.bulk_create([ThemeStatDirtyDay(day=day) for day in days], ignore_conflicts=True)
    if days:
        from insights.tasks import refresh_theme_stats

        transaction.on_commit(refresh_theme_stats.delay)


def theme_stats_refresh(*, limit: int = 366) -> int:
    """Rebuild the statistics of up to ``limit`` dirty days; returns how many days were rebuilt.

    Each day is rebuilt whole from the current assignments (delete, then aggregate), so the
    result never depends on the order in which changes arrived. Rows are claimed with SKIP
    LOCKED: concurrent refreshes work on different days.
    """
    with transaction.atomic():
        claimed = list(
            ThemeStatDirtyDay.objects.select_for_update(skip_locked=True).order_by("day")[:limit]
        )
        days = [row.day for row in claimed]
        if not days:
            return 0
        ThemeStat.objects.filter(day__in=days).delete()
        ThemeStat.objects.bulk_create(_stats_of_days(days))
        ThemeStatDirtyDay.objects.filter(day__in=days).delete()
    return len(days)


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
