"""Spike alerts: a theme well above its own recent baseline, raised and sent once per spike."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Min, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from config.http import http_client
from insights.analysis.spikes import SpikeResult, detect_spike, is_new_spike
from insights.models import SpikeAlert, ThemeStat, ThemeStatus
from insights.services.stats import stats_version_bump
from tickets.models import Ticket

SPIKE_HISTORY_DAYS = 7 * 10


def spikes_check(*, on: date | None = None) -> list[SpikeAlert]:
    """Test every active theme for a spike ending on ``on`` (default today); alert new ones.

    At most one alert per spike: the alert row is unique per (theme, period, start day), and a
    spike that goes on for days keeps the start day it had when it was first raised.
    """
    on = on or timezone.localdate()
    first = on - timedelta(days=SPIKE_HISTORY_DAYS)
    per_theme: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for row in (
        ThemeStat.objects.filter(day__range=(first, on), theme__status=ThemeStatus.ACTIVE)
        .values("theme_id", "day")
        .annotate(n=Sum("tickets"))
        .order_by()
    ):
        per_theme[row["theme_id"]].append((row["day"], row["n"]))
    totals = _daily_ticket_totals(first, on)
    since = Ticket.objects.aggregate(first=Min("created_at"))["first"]
    alerts = []
    for theme_id, counts in per_theme.items():
        result = detect_spike(counts, on=on, totals=totals, since=since.date() if since else None)
        alerted = SpikeAlert.objects.filter(theme_id=theme_id).values_list("start_date", flat=True)
        if is_new_spike(result, alerted):
            alerts.append(_spike_alert_raise(theme_id, result))
    return alerts


def _daily_ticket_totals(first: date, last: date) -> list[tuple[date, int]]:
    rows = (
        Ticket.objects.filter(created_at__date__range=(first, last))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [(row["day"], row["n"]) for row in rows]


def _spike_alert_raise(theme_id: int, result: SpikeResult) -> SpikeAlert:
    from config.dispatch import task_dispatch
    from insights.tasks import notify_spike

    assert result.start_date is not None
    with transaction.atomic():
        alert, created = SpikeAlert.objects.get_or_create(
            theme_id=theme_id,
            period=result.period,
            start_date=result.start_date,
            defaults={"observed": result.observed, "expected": result.expected, "p_value": result.p_value},
        )
        if created:
            transaction.on_commit(lambda: task_dispatch(notify_spike, alert.pk))
            stats_version_bump()  # the dashboard marks spikes
    return alert


def spike_alert_notify(*, alert_id: int) -> SpikeAlert:
    """Send one alert to the configured email address and webhook (Slack-compatible JSON).

    Raises ``httpx.TransportError`` on a network failure so the task can retry; any other
    answer is recorded on the alert, which is never sent twice once ``notified_at`` is set.
    """
    alert = SpikeAlert.objects.select_related("theme").get(pk=alert_id)
    if alert.notified_at is not None:
        return alert
    text = spike_alert_text(alert)
    errors = []
    if settings.THREADLINE_ALERT_EMAIL:
        send_mail(f"Threadline: {alert.theme.name} is spiking", text, None, [settings.THREADLINE_ALERT_EMAIL])
    if settings.THREADLINE_ALERT_WEBHOOK_URL:
        with http_client() as client:
            response = client.post(settings.THREADLINE_ALERT_WEBHOOK_URL, json={"text": text})
        if response.is_error:
            errors.append(f"webhook answered {response.status_code}")
    alert.notified_at = timezone.now()
    alert.notify_error = "; ".join(errors)
    alert.save(update_fields=["notified_at", "notify_error"])
    return alert


def spike_alert_text(alert: SpikeAlert) -> str:
    period = "today" if alert.period == "day" else "over the last 7 days"
    return (
        f"{alert.theme.name}: {alert.observed} tickets {period}, about {alert.expected:.0f} expected "
        f"({alert.observed / max(alert.expected, 0.1):.1f}×), rising since {alert.start_date:%b %-d}."
    )
