"""End to end through real processes: the API queues an import on Redis, a Celery worker
process (not this test process) imports the file into PostgreSQL and processes the batch."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from tests.e2e.conftest import wait_for
from tickets.models import IngestBatch, IngestBatchStatus, SyncRun, Ticket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CSV = (
    "external_id,subject,body,created_at,requester_email,organization,plan,arr,channel\n"
    "E-1,Card declined,My card is declined abroad,2026-03-01T09:00:00Z,a@acme.test,Acme,pro,12000,email\n"
    "E-2,Export,CSV export stops at 10000 rows,2026-03-02T10:00:00Z,b@acme.test,Acme,pro,12000,chat\n"
    "E-3,Bad row,,not a date,,,,,\n"
    "E-4,SSO,SSO login loops back,2026-03-03T11:00:00Z,c@globex.test,Globex,enterprise,90000,web\n"
)


def test_a_worker_process_imports_an_uploaded_file_and_processes_its_batch(worker, admin_user, client) -> None:
    token = Token.objects.create(user=admin_user)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        "/api/imports/",
        {"source": "E2E help desk", "file": SimpleUploadedFile("tickets.csv", CSV.encode(), "text/csv")},
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]

    wait_for(lambda: SyncRun.objects.get(pk=run_id).is_finished, 60, worker)
    wait_for(
        lambda: IngestBatch.objects.filter(sync_run_id=run_id, status=IngestBatchStatus.PROCESSED).exists(), 60, worker
    )

    run = SyncRun.objects.get(pk=run_id)
    assert (run.created, run.updated, run.unchanged, run.rejected) == (3, 0, 0, 1)
    assert run.errors[0]["line"] == 4
    assert set(Ticket.objects.values_list("external_id", flat=True)) == {"E-1", "E-2", "E-4"}
    batch = IngestBatch.objects.get(sync_run_id=run_id)
    assert batch.processed_count == 3

    status = client.get(f"/api/imports/{run_id}/", HTTP_AUTHORIZATION=f"Token {token.key}").json()
    assert status["status"] == "partial"
