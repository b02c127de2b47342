from __future__ import annotations

from typing import Any

import pytest

from insights.models import Theme, ThemeStatus
from roadmap.models import BacklogItem, Escalation
from roadmap.services import escalation_raise
from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records


@pytest.fixture(autouse=True)
def _models_in_tmp(settings: Any, tmp_path: Any) -> None:
    """Trained model artefacts (if any test makes one) go to a per-test folder, not var/."""
    settings.DATA_DIR = tmp_path


@pytest.fixture
def ticket(source) -> Any:
    ingest_records(source=source, records=[ticket_record_from_dict({
        "external_id": "E-1", "subject": "Export cut off at 10,000 rows", "body": "The CSV export stops early.",
        "created_at": "2026-03-01T10:00:00Z", "organization": "Acme", "plan": "enterprise",
    })])
    return source.tickets.get(external_id="E-1")


@pytest.fixture
def theme(db) -> Theme:
    return Theme.objects.create(name="CSV export limit", status=ThemeStatus.ACTIVE, keywords=["csv", "export"])


@pytest.fixture
def escalation(ticket, support_lead) -> Escalation:
    return escalation_raise(user=support_lead, ticket=ticket, severity="high", note="Acme cannot export.")


@pytest.fixture
def backlog_item(db) -> BacklogItem:
    return BacklogItem.objects.create(title="Stream CSV exports", status="planned")


def make_ticket(source: Any, external_id: str, *, email: str, organization: str = "", arr: int | None = None,
                days_ago: int = 1, themes: tuple[Theme, ...] = (), body: str = "It does not work.",
                confidence: float = 0.8) -> Any:
    """One ticket by ``email`` (of ``organization`` with ``arr``), ``days_ago`` days old, in ``themes``."""
    from datetime import timedelta

    from django.utils import timezone

    from insights.models import TicketTheme

    created = timezone.now() - timedelta(days=days_ago)
    record: dict[str, Any] = {"external_id": external_id, "subject": f"Ticket {external_id}", "body": body,
                              "created_at": created.isoformat(), "requester_email": email}
    if organization:
        record["organization"] = organization
    if arr is not None:
        record["arr"] = arr
    ingest_records(source=source, records=[ticket_record_from_dict(record)])
    ticket = source.tickets.get(external_id=external_id)
    for theme_ in themes:
        TicketTheme.objects.create(ticket=ticket, theme=theme_, confidence=confidence, method="manual")
    return ticket


class World:
    """A small hand-made dataset whose demand figures are worked out by hand in the tests.

    Area "Exports" has sub-themes "CSV limit" and "PDF layout"; "Login loops" stands alone.
    In the last 30 days: Mia (Acme, ARR 50,000) wrote 3 CSV tickets, Bob (Beta, 10,000) 1 CSV,
    Zoe (Acme) 1 ticket both CSV and PDF, Ann (no organization) 2 Login tickets.
    In the 30 days before: Bob 1 CSV ticket, Ann 1 Login ticket.
    """

    def __init__(self, source: Any) -> None:
        from insights.services import theme_stats_mark_dirty, theme_stats_refresh

        self.exports = Theme.objects.create(name="Exports", status=ThemeStatus.ACTIVE)
        self.csv = Theme.objects.create(name="CSV limit", status=ThemeStatus.ACTIVE, parent=self.exports)
        self.pdf = Theme.objects.create(name="PDF layout", status=ThemeStatus.ACTIVE, parent=self.exports)
        self.login = Theme.objects.create(name="Login loops", status=ThemeStatus.ACTIVE)
        acme, beta = {"organization": "Acme", "arr": 50000}, {"organization": "Beta", "arr": 10000}
        for i in range(3):
            make_ticket(source, f"M{i}", email="mia@acme.test", days_ago=2 + i, themes=(self.csv,),
                        body=f"Mia here: the CSV export stops at 10,000 rows ({i}).", **acme)  # type: ignore[arg-type]
        make_ticket(source, "B1", email="bob@beta.test", days_ago=5, themes=(self.csv,),
                    body="Our export is cut off.", confidence=0.95, **beta)  # type: ignore[arg-type]
        make_ticket(source, "Z1", email="zoe@acme.test", days_ago=6, themes=(self.csv, self.pdf),
                    body="The PDF of the export is broken too.", **acme)  # type: ignore[arg-type]
        make_ticket(source, "A1", email="ann@example.test", days_ago=3, themes=(self.login,))
        make_ticket(source, "A2", email="ann@example.test", days_ago=4, themes=(self.login,))
        make_ticket(source, "B0", email="bob@beta.test", days_ago=40, themes=(self.csv,), **beta)  # type: ignore[arg-type]
        make_ticket(source, "A0", email="ann@example.test", days_ago=45, themes=(self.login,))
        theme_stats_mark_dirty(ticket_ids=list(source.tickets.values_list("pk", flat=True)))
        theme_stats_refresh()


@pytest.fixture
def world(source) -> World:
    return World(source)


@pytest.fixture
def last_30_days() -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from insights.selectors import Period

    today = timezone.localdate()
    return Period(start=today - timedelta(days=29), end=today)


@pytest.fixture(autouse=True)
def _fresh_demand_cache() -> None:
    """Demand is cached by (item, theme) ids and period; ids repeat from test to test."""
    from django.core.cache import cache

    cache.clear()
