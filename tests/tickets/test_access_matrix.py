"""Every page of the ticket store, opened by every persona: who gets in and who is refused."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records, sync_run_start

pytestmark = pytest.mark.django_db

READERS = {"admin_user", "support_lead", "product_manager", "viewer"}
ADMINS = {"admin_user"}
PERSONAS = ["admin_user", "support_lead", "product_manager", "viewer", "outsider"]

PAGES = [
    ("overview", READERS),
    ("ticket_list", READERS),
    ("ticket_detail", READERS),
    ("import_upload", ADMINS),
    ("import_run", ADMINS),
    ("import_errors_csv", ADMINS),
    ("source_list", ADMINS),
    ("source_new", ADMINS),
    ("source_detail", ADMINS),
    ("source_edit", ADMINS),
    ("source_history", ADMINS),
    ("source_run", ADMINS),
    ("source_sync_status", ADMINS),
]
# POST-only actions; their access matrix is in tests/tickets/test_source_pages.py.
ACTIONS = {"source_test", "source_sync", "source_toggle", "source_webhook_rotate"}


@pytest.fixture
def objects(source) -> dict[str, list[int]]:
    ingest_records(
        source=source,
        records=[ticket_record_from_dict({"external_id": "A-1", "body": "hi", "created_at": "2026-01-01"})],
    )
    run = sync_run_start(source=source, trigger="upload")
    per_source = {name: [source.pk] for name in ("source_detail", "source_edit", "source_history", "source_sync_status")}
    return {
        "ticket_detail": [source.tickets.get().pk],
        "import_run": [run.pk],
        "import_errors_csv": [run.pk],
        "source_run": [source.pk, run.pk],
        **per_source,
    }


def _url(name: str, objects: dict[str, list[int]]) -> str:
    return reverse(name, args=objects.get(name, [])) + ("?kind=zendesk" if name == "source_new" else "")


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("page", "allowed"), PAGES, ids=[name for name, _ in PAGES])
def test_page_access_by_role(request, client_for, objects, persona, page, allowed) -> None:
    response = client_for(request.getfixturevalue(persona)).get(_url(page, objects))

    assert response.status_code == (200 if persona in allowed else 403)


@pytest.mark.parametrize(("page", "allowed"), PAGES, ids=[name for name, _ in PAGES])
def test_anonymous_visitors_are_sent_to_sign_in(client_for, objects, page, allowed) -> None:
    response = client_for(None).get(_url(page, objects))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_the_matrix_covers_every_page_of_the_app() -> None:
    from tickets.urls import urlpatterns

    assert {pattern.name for pattern in urlpatterns} == {name for name, _ in PAGES} | ACTIONS
