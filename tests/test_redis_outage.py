"""Redis down: pages keep serving, hand-offs wait in PostgreSQL and go out when it is back, admins see it.

The outage tests run a throwaway ``redis-server`` of their own on a free port (never the shared one)
as broker and cache, and kill and restart it. The end-to-end test adds a real worker process.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

import config.health
from config.cache import DegradingRedisCache
from config.celery import app as celery_app
from config.dispatch import deferred_tasks_send, deferred_tasks_waiting, task_dispatch
from insights.models import DeferredTask, TicketAnalysis
from insights.tasks import process_ingest_batch, refresh_theme_stats
from tests.conftest import require_service
from tests.e2e.conftest import _stop, _use_broker, _worker_env, wait_for
from tickets.models import IngestBatch, IngestBatchStatus, SyncRun, SyncRunStatus, Ticket
from tickets.tasks import import_file

BASE_DIR = Path(__file__).resolve().parents[1]
BANNER = "Background work is paused"
CSV = (
    "external_id,subject,body,created_at,requester_email,organization,plan,arr,channel\n"
    "R-1,Card declined,My card is declined abroad,2026-03-01T09:00:00Z,a@acme.test,Acme,pro,12000,email\n"
    "R-2,Export,CSV export stops at 10000 rows,2026-03-02T10:00:00Z,b@acme.test,Acme,pro,12000,chat\n"
    "R-3,Bad row,,not a date,,,,,\n"
    "R-4,SSO,SSO login loops back,2026-03-03T11:00:00Z,c@globex.test,Globex,enterprise,90000,web\n"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThrowawayRedis:
    """A ``redis-server`` of this test alone, without persistence, that the test stops and starts."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tmp_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self._dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def fresh_broker_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the broker as it is now, not as an earlier test's probe remembered it."""
    monkeypatch.setattr(config.health, "_probe", config.health._BrokerProbe())


@pytest.fixture
def throwaway_redis(settings: Any, tmp_path: Path, fresh_broker_probe: None) -> Iterator[ThrowawayRedis]:
    """Broker and cache on a Redis of this test's own; tasks go to it (not inline) while it runs."""
    require_service("redis-server (Debian's redis-server package)", shutil.which("redis-server") is not None)
    server = ThrowawayRedis(tmp_path)
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.DegradingRedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.CELERY_TASK_ALWAYS_EAGER = False
    previous_broker = celery_app.conf.broker_url
    _use_broker(server.url)
    try:
        yield server
    finally:
        _use_broker(previous_broker, eager=True)
        server.kill()


@pytest.fixture
def dead_broker(settings: Any, fresh_broker_probe: None) -> Iterator[str]:
    """A broker URL nothing listens on: every publish is refused."""
    url = f"redis://127.0.0.1:{_free_port()}/0"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    previous_broker = celery_app.conf.broker_url
    _use_broker(url)
    try:
        yield url
    finally:
        _use_broker(previous_broker, eager=True)


@pytest.fixture
def upload(django_capture_on_commit_callbacks: Any) -> Any:
    """Upload the sample file on the Import page, with the hand-off made on commit as in production."""

    def post(client: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/imports/", {"new_source": "Outage desk", "file": SimpleUploadedFile("t.csv", CSV.encode(), "text/csv")}
            )

    return post


# The dispatch helper, on any database, without Redis.


@pytest.mark.django_db
def test_a_hand_off_the_broker_refuses_is_kept_with_its_arguments(dead_broker: str) -> None:
    assert task_dispatch(import_file, 41) is None
    assert task_dispatch(refresh_theme_stats) is None

    kept = list(DeferredTask.objects.values_list("task_name", "args", "kwargs"))
    assert kept == [("tickets.tasks.import_file", [41], {}), ("insights.tasks.refresh_theme_stats", [], {})]
    assert all(error.startswith("OperationalError") for error in DeferredTask.objects.values_list("last_error", flat=True))
    assert deferred_tasks_waiting()[0] == 2


@pytest.mark.django_db
def test_the_sweep_keeps_what_the_broker_still_refuses_and_counts_the_attempt(dead_broker: str) -> None:
    task_dispatch(process_ingest_batch, 7)

    assert deferred_tasks_send() == 0

    deferred = DeferredTask.objects.get()
    assert (deferred.args, deferred.attempts) == ([7], 1)


@pytest.mark.django_db
def test_the_sweep_runs_a_deferred_import_to_its_end_and_forgets_it(
    admin_user: Any, client_for: Any, upload: Any, settings: Any, tmp_path: Path, dead_broker: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    response = upload(client_for(admin_user))
    run = SyncRun.objects.get()
    assert response.status_code == 302 and run.status == SyncRunStatus.QUEUED

    _use_broker("memory://", eager=True)  # the broker is back; tasks run inline here
    with django_capture_on_commit_callbacks(execute=True):
        assert deferred_tasks_send() == 1

    run.refresh_from_db()
    assert run.status != SyncRunStatus.QUEUED and run.created == 3
    assert not DeferredTask.objects.exists()
    assert IngestBatch.objects.get(sync_run=run).status == IngestBatchStatus.PROCESSED


@pytest.mark.django_db
def test_a_hand_off_naming_no_known_task_stays_visible(fresh_broker_probe: None) -> None:
    DeferredTask.objects.create(task_name="insights.tasks.no_longer_exists")

    assert deferred_tasks_send() == 0
    assert DeferredTask.objects.get().last_error == "no such task"


@pytest.mark.django_db
def test_inline_tasks_still_raise_their_own_errors() -> None:
    with pytest.raises(SyncRun.DoesNotExist):
        task_dispatch(import_file, 987654)
    assert not DeferredTask.objects.exists()


def test_the_cache_answers_as_empty_when_redis_is_unreachable() -> None:
    cache = DegradingRedisCache(f"redis://127.0.0.1:{_free_port()}/0", {"OPTIONS": {"socket_connect_timeout": 1}})

    cache.set("k", 1)
    assert cache.get("k", "missing") == "missing"
    assert cache.get_many(["k"]) == {}
    assert cache.add("k", 1) is False
    with pytest.raises(ValueError, match="not found"):
        cache.incr("k")


@pytest.mark.django_db
def test_admins_see_the_banner_and_healthz_says_what_waits(admin_user: Any, viewer: Any, client_for: Any,
                                                            dead_broker: str) -> None:
    task_dispatch(refresh_theme_stats)

    assert BANNER in client_for(admin_user).get("/").content.decode()
    assert BANNER not in client_for(viewer).get("/").content.decode()
    background = client_for(None).get("/healthz").json()["background"]
    assert background["broker"].startswith("error") and background["waiting_hand_offs"] == 1
    assert background["broker_down_since"] and background["needs_attention"] is True


@pytest.mark.django_db
def test_no_banner_while_background_work_runs(admin_user: Any, client_for: Any, fresh_broker_probe: None) -> None:
    assert BANNER not in client_for(admin_user).get("/").content.decode()


# A real Redis, killed and restarted.


@pytest.mark.django_db
def test_pages_answer_while_redis_is_down(throwaway_redis: ThrowawayRedis, admin_user: Any, viewer: Any,
                                          client_for: Any) -> None:
    throwaway_redis.kill()

    for user in (admin_user, viewer):
        for url in ("/", "/tickets/"):
            assert client_for(user).get(url).status_code == 200, (user, url)
    assert BANNER in client_for(admin_user).get("/tickets/").content.decode()


@pytest.mark.django_db
def test_an_import_while_redis_is_down_commits_reports_queued_and_goes_out_when_it_is_back(
    throwaway_redis: ThrowawayRedis, admin_user: Any, client_for: Any, upload: Any, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    client = client_for(admin_user)
    throwaway_redis.kill()

    response = upload(client)

    run = SyncRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{run.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Queued" in page and BANNER in page
    assert list(DeferredTask.objects.values_list("task_name", "args")) == [("tickets.tasks.import_file", [run.pk])]

    throwaway_redis.start()
    assert deferred_tasks_send() == 1
    assert not DeferredTask.objects.exists()
    queued = redis.Redis.from_url(throwaway_redis.url).lrange("ingest", 0, -1)
    assert len(queued) == 1 and b"tickets.tasks.import_file" in queued[0]


# End to end: a real worker processes what waited, once, even when it is sent twice.


def _start_worker(redis_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = _worker_env({"REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url})
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "ingest,ml,default",
         "--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        cwd=BASE_DIR, env=env, stdout=(tmp_path / "worker.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_path = tmp_path / "worker.log"  # type: ignore[attr-defined]
    return process


def _succeeded(worker: subprocess.Popen[bytes], task_name: str) -> int:
    log = worker.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
    return sum(1 for line in log.splitlines() if task_name in line and "succeeded" in line)


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_work_deferred_during_an_outage_is_processed_once_after_it(
    throwaway_redis: ThrowawayRedis, admin_user: Any, client_for: Any, upload: Any, settings: Any, tmp_path: Path
) -> None:
    require_service("PostgreSQL as the test database (DATABASE_URL)", connection.vendor == "postgresql")
    settings.MEDIA_ROOT = str(Path(settings.DATA_DIR) / "e2e-uploads")
    throwaway_redis.kill()
    assert upload(client_for(admin_user)).status_code == 302
    run = SyncRun.objects.get()

    throwaway_redis.start()
    worker = _start_worker(throwaway_redis.url, tmp_path)
    try:
        assert deferred_tasks_send() == 1
        import_file.apply_async((run.pk,))  # the original publish, arriving late: processed once all the same
        wait_for(lambda: _succeeded(worker, "tickets.tasks.import_file") == 2, 60, worker)
        batch = IngestBatch.objects.get(sync_run=run)
        process_ingest_batch.apply_async((batch.pk,))  # and a doubled hand-off of its batch
        wait_for(lambda: _succeeded(worker, "insights.tasks.process_ingest_batch") == 2, 60, worker)
    finally:
        _stop(worker)

    run.refresh_from_db()
    assert run.is_finished and not run.failure and (run.created, run.rejected) == (3, 1)
    assert Ticket.objects.count() == 3 and IngestBatch.objects.count() == 1
    assert IngestBatch.objects.get().status == IngestBatchStatus.PROCESSED
    assert TicketAnalysis.objects.count() == 3
    assert not DeferredTask.objects.exists()
