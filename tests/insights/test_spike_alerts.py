from __future__ import annotations

import json
from datetime import date, timedelta

import httpx
import pytest
from django.core import mail

import config.http
from insights.models import SpikeAlert, Theme, ThemeStat, ThemeStatus
from insights.services import spike_alert_notify, spikes_check

pytestmark = pytest.mark.django_db
TODAY = date(2026, 3, 30)


@pytest.fixture
def crashes(source) -> Theme:
    theme = Theme.objects.create(name="App crashes on startup", status=ThemeStatus.ACTIVE)
    for back in range(1, 70):
        day = TODAY - timedelta(days=back)
        ThemeStat.objects.create(theme=theme, day=day, source=source, channel="email", tickets=2 if day.weekday() < 5 else 1)
    return theme


def test_a_spike_raises_one_alert_however_often_it_is_checked(crashes, source, django_capture_on_commit_callbacks) -> None:
    ThemeStat.objects.create(theme=crashes, day=TODAY, source=source, channel="email", tickets=30)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        (alert,) = spikes_check(on=TODAY)
    assert (alert.theme, alert.period, alert.observed) == (crashes, "day", 30)
    assert len(callbacks) == 2  # the notification and the dashboards' cache version, once committed

    ThemeStat.objects.create(theme=crashes, day=TODAY + timedelta(days=1), source=source, channel="email", tickets=35)
    assert spikes_check(on=TODAY + timedelta(days=1)) == []
    assert SpikeAlert.objects.count() == 1


def test_a_normal_day_raises_nothing(crashes, source) -> None:
    ThemeStat.objects.create(theme=crashes, day=TODAY, source=source, channel="email", tickets=2)

    assert spikes_check(on=TODAY) == []


def test_the_alert_goes_to_email_and_a_slack_compatible_webhook_once(crashes, settings, monkeypatch) -> None:
    posted: list[dict] = []

    def webhook(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(200)

    monkeypatch.setattr(config.http, "transport_override", httpx.MockTransport(webhook))
    settings.THREADLINE_ALERT_EMAIL = "product@example.com"
    settings.THREADLINE_ALERT_WEBHOOK_URL = "https://hooks.example.com/T000/B000"
    alert = SpikeAlert.objects.create(theme=crashes, period="day", start_date=TODAY, observed=30, expected=2.1, p_value=1e-9)

    spike_alert_notify(alert_id=alert.pk)
    spike_alert_notify(alert_id=alert.pk)

    assert len(mail.outbox) == 1 and "App crashes on startup is spiking" in mail.outbox[0].subject
    assert posted == [{"text": "App crashes on startup: 30 tickets today, about 2 expected (14.3×), rising since Mar 30."}]
    alert.refresh_from_db()
    assert alert.notified_at is not None and alert.notify_error == ""
