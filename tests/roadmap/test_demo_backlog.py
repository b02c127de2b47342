"""The demo backlog setup_demo fills: realistic items linked through the demo's truth, one shipped
when its problem started to fade, and never duplicated by a second start."""

from __future__ import annotations

from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from insights.models import AssignmentMethod, Theme, ThemeStatus, TicketTheme
from roadmap.models import BacklogItem
from tickets.demo import DEFAULT_SEED, demo_records, demo_timeline, demo_truth
from tickets.demo_catalog import PROBLEMS
from tickets.models import SourceKind
from tickets.services import ingest_records

pytestmark = pytest.mark.django_db

TICKETS = 600


def test_setup_demo_fills_the_backlog_once(settings, tmp_path, source) -> None:
    settings.DATA_DIR = tmp_path
    source.kind = SourceKind.DEMO
    source.save(update_fields=["kind"])
    today = timezone.localdate()
    ingest_records(source=source, records=demo_records(count=TICKETS, seed=DEFAULT_SEED, today=today))
    truth = demo_truth(count=TICKETS, seed=DEFAULT_SEED, today=today)
    themes = {p.key: Theme.objects.create(name=p.title, status=ThemeStatus.ACTIVE) for p in PROBLEMS}
    TicketTheme.objects.bulk_create([
        TicketTheme(ticket_id=pk, theme=themes[key], method=AssignmentMethod.MODEL, confidence=0.9)
        for pk, external_id in source.tickets.values_list("id", "external_id") for key in truth[external_id]
    ])

    with mock.patch("tickets.management.commands.setup_demo.call_command"):
        call_command("setup_demo", stdout=StringIO())
        call_command("setup_demo", stdout=StringIO())

    assert BacklogItem.objects.count() == 10
    assert set(BacklogItem.objects.values_list("status", flat=True)) == {
        "idea", "planned", "in_progress", "shipped", "wont_do"}
    shipped = BacklogItem.objects.get(status="shipped")
    assert [link.theme.name for link in shipped.theme_links.all()] == ["Zapier connection keeps disconnecting"]
    assert shipped.shipped_at.date() == demo_timeline(today).fade_date
    assert BacklogItem.objects.get(title__startswith="Stream CSV").theme_links.get().theme == themes[
        "csv_export_truncated"]
