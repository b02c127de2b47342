"""Real service processes for the end-to-end tests: Celery workers on Redis against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app as celery_app
from tests.conftest import require_service

BASE_DIR = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"

StartWorker = Callable[..., subprocess.Popen[bytes]]


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


def _worker_env(extra: dict[str, str]) -> dict[str, str]:
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{host}/{db['NAME']}",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        **extra,
    }


@pytest.fixture
def start_worker(settings, tmp_path) -> Iterator[StartWorker]:
    """Start Celery workers (each a new process group) on Redis against the test database; all are
    stopped after the test. ``start_worker(pool="prefork", concurrency=1, env={...})``; the first
    call empties the Redis database and points this process's Celery app at it."""
    require_service("PostgreSQL as the test database (DATABASE_URL)", connection.vendor == "postgresql")
    require_service("Redis", _redis_reachable())
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    previous_broker = celery_app.conf.broker_url
    _use_broker(REDIS_URL)
    settings.MEDIA_ROOT = str(Path(settings.DATA_DIR) / "e2e-uploads")
    workers: list[subprocess.Popen[bytes]] = []

    def start(*, pool: str = "solo", concurrency: int = 1, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log_path = tmp_path / f"worker-{len(workers) + 1}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "ingest,ml,default",
             "--pool", pool, "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
             "--loglevel", "INFO"],
            # A file, not a pipe: an unread pipe fills up and blocks a chatty worker.
            cwd=BASE_DIR, env=_worker_env(env or {}), stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = log_path  # type: ignore[attr-defined]
        workers.append(process)
        return process

    try:
        yield start
    finally:
        _use_broker(previous_broker, eager=True)
        for process in workers:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # pool children left behind by a killed main process
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def worker(start_worker: StartWorker) -> subprocess.Popen[bytes]:
    """One solo worker on every queue."""
    return start_worker()


def worker_log(worker: subprocess.Popen[bytes]) -> str:
    return worker.log_path.read_text(errors="replace")  # type: ignore[attr-defined]


def wait_for(condition: Callable[[], object], timeout: float, worker: subprocess.Popen[bytes]) -> None:
    """Poll ``condition`` until it holds; fail with the worker's log when the worker exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.poll() is not None:
            pytest.fail(f"the worker exited early:\n{worker_log(worker)[-3000:]}")
        time.sleep(0.25)
    pytest.fail(f"the worker did not finish in time:\n{worker_log(worker)[-3000:]}")
