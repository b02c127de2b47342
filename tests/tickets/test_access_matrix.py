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
]


@pytest.fixture
def objects(source) -> dict[str, int]:
    ingest_records(
        source=source,
        records=[ticket_record_from_dict({"external_id": "A-1", "body": "hi", "created_at": "2026-01-01"})],
    )
    run = sync_run_start(source=source, trigger="upload")
    return {"ticket_detail": source.tickets.get().pk, "import_run": run.pk, "import_errors_csv": run.pk}


def _url(name: str, objects: dict[str, int]) -> str:
    return reverse(name, args=[objects[name]]) if name in objects else reverse(name)


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

    assert {pattern.name for pattern in urlpatterns} == {name for name, _ in PAGES}
