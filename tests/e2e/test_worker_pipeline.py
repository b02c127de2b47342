"""End to end through real processes: the API queues an import on Redis, a Celery worker
process (not this test process) imports the file into PostgreSQL and processes the batch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from config.celery import app as celery_app
from tests.conftest import require_service
from tickets.models import IngestBatch, IngestBatchStatus, SyncRun, Ticket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"

CSV = (
    "external_id,subject,body,created_at,requester_email,organization,plan,arr,channel\n"
    "E-1,Card declined,My card is declined abroad,2026-03-01T09:00:00Z,a@acme.test,Acme,pro,12000,email\n"
    "E-2,Export,CSV export stops at 10000 rows,2026-03-02T10:00:00Z,b@acme.test,Acme,pro,12000,chat\n"
    "E-3,Bad row,,not a date,,,,,\n"
    "E-4,SSO,SSO login loops back,2026-03-03T11:00:00Z,c@globex.test,Globex,enterprise,90000,web\n"
)


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _use_broker(url: str, eager: bool = False) -> None:
    """Point this process's Celery app at ``url``. The app caches the connection and producer
    pools of the first broker it used; dropping the references makes it look them up again
    (kombu keeps one pool per broker URL, so nothing is closed here)."""
    celery_app.conf.update(broker_url=url, task_always_eager=eager)
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def worker(settings, tmp_path) -> Iterator[subprocess.Popen[bytes]]:
    require_service("PostgreSQL as the test database (DATABASE_URL)", connection.vendor == "postgresql")
    require_service("Redis", _redis_reachable())
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    database_url = f"postgres://{db['USER'] or 'postgres'}@{host}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    previous_broker = celery_app.conf.broker_url
    _use_broker(REDIS_URL)
    settings.MEDIA_ROOT = str(Path(settings.DATA_DIR) / "e2e-uploads")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "ingest,ml,default",
         "--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        # A file, not a pipe: an unread pipe fills up and blocks a chatty worker.
        cwd=BASE_DIR, env=env, stdout=(tmp_path / "worker.log").open("wb"), stderr=subprocess.STDOUT,
    )
    process.log_path = tmp_path / "worker.log"  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        _use_broker(previous_broker, eager=True)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for(condition, timeout: float, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.poll() is not None:
            output = worker.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
            pytest.fail(f"the worker exited early:\n{output[-3000:]}")
        time.sleep(0.25)
    log = worker.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
    pytest.fail(f"the worker did not finish in time:\n{log[-3000:]}")


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

    _wait_for(lambda: SyncRun.objects.get(pk=run_id).is_finished, 60, worker)
    _wait_for(
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
