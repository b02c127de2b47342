from __future__ import annotations

from typing import Any

import pytest

from insights.models import Theme, ThemeStatus
from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records


@pytest.fixture(autouse=True)
def _models_in_tmp(settings: Any, tmp_path: Any) -> None:
    """Trained model artefacts go to a per-test folder, not var/."""
    settings.DATA_DIR = tmp_path


@pytest.fixture
def tickets(source, django_capture_on_commit_callbacks) -> list:
    """Six tickets over two days, processed through the real pipeline (tasks run inline)."""
    rows = [
        {"external_id": f"T-{i}", "subject": subject, "body": body, "created_at": f"2026-03-0{1 + i % 2}T10:00:00Z",
         "organization": "Acme", "plan": "pro", "channel": "email"}
        for i, (subject, body) in enumerate([
            ("Card declined", "My card is declined when I pay abroad"),
            ("Card declined again", "Payment with my card fails in Spain"),
            ("Export", "The CSV export stops at 10000 rows"),
            ("Export broken", "CSV export is cut off"),
            ("SSO", "SSO login sends me back to the login page"),
            ("Login loop", "Okta sign in loops"),
        ])
    ]
    with django_capture_on_commit_callbacks(execute=True):
        ingest_records(source=source, records=[ticket_record_from_dict(r) for r in rows])
    return list(source.tickets.order_by("external_id"))


@pytest.fixture
def active_theme() -> Any:
    def make(name: str, status: str = ThemeStatus.ACTIVE) -> Theme:
        return Theme.objects.create(name=name, status=status)

    return make
