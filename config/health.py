"""``/healthz``: is the database reachable, is the broker reachable. For load balancers and compose.

Also the state of background work that admins see on every page while it needs them
(``background_status``): the broker, since when it is unreachable, the hand-offs waiting for it in
PostgreSQL (``config/dispatch.py``) and when a worker last ran.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

# Hand-offs waiting longer than this, or no worker for longer than that, need an admin.
WAITING_TOO_LONG = timedelta(minutes=5)
WORKER_SILENT_TOO_LONG = timedelta(minutes=10)
# The banner is on every admin page: each process asks the broker at most this often.
BROKER_PROBE_SECONDS = 15.0
WORKER_HEARTBEAT_KEY = "threadline:worker-heartbeat"


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any failure is the answer we report
        return f"error: {exc.__class__.__name__}"


def _broker_status() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "inline"
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


@dataclass(frozen=True)
class BackgroundStatus:
    broker: str  # "ok", "inline" (no broker: tasks run in the web process) or "error: <what>"
    broker_down_since: datetime | None
    waiting: int  # hand-offs kept in PostgreSQL until the broker takes them
    waiting_since: datetime | None
    worker_seen_at: datetime | None  # a worker last ran the every-minute sweep; None: not known

    @property
    def paused(self) -> bool:
        return self.broker not in {"ok", "inline"}

    @property
    def waiting_too_long(self) -> bool:
        return self.waiting_since is not None and timezone.now() - self.waiting_since > WAITING_TOO_LONG

    @property
    def worker_silent(self) -> bool:
        seen = self.worker_seen_at
        return self.broker == "ok" and seen is not None and timezone.now() - seen > WORKER_SILENT_TOO_LONG

    @property
    def needs_attention(self) -> bool:
        return self.paused or self.waiting_too_long or self.worker_silent

    def as_json(self) -> dict[str, Any]:
        def when(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "broker": self.broker,
            "broker_down_since": when(self.broker_down_since),
            "waiting_hand_offs": self.waiting,
            "waiting_since": when(self.waiting_since),
            "worker_seen_at": when(self.worker_seen_at),
            "needs_attention": self.needs_attention,
        }


@dataclass
class _BrokerProbe:
    status: str = ""
    checked_at: float = float("-inf")
    down_since: datetime | None = None


_probe = _BrokerProbe()


def _broker_status_recent() -> str:
    """``_broker_status``, asked at most every BROKER_PROBE_SECONDS; remembers when it first failed."""
    if time.monotonic() - _probe.checked_at >= BROKER_PROBE_SECONDS:
        _broker_probe_record(_broker_status())
    return _probe.status


def _broker_probe_record(status: str) -> None:
    _probe.status, _probe.checked_at = status, time.monotonic()
    if status in {"ok", "inline"}:
        _probe.down_since = None
    elif _probe.down_since is None:
        _probe.down_since = timezone.now()


def worker_heartbeat_record() -> None:
    """Called by a worker every minute (the deferred hand-offs sweep): a worker is alive now."""
    cache.set(WORKER_HEARTBEAT_KEY, timezone.now(), timeout=None)


def background_status(*, broker: str | None = None) -> BackgroundStatus:
    """The state of background work; ``broker`` is a fresh ``_broker_status`` if the caller has one."""
    from config.dispatch import deferred_tasks_waiting

    if broker is None:
        broker = _broker_status_recent()
    else:
        _broker_probe_record(broker)
    waiting, waiting_since = deferred_tasks_waiting()
    paused = broker not in {"ok", "inline"}
    # A hand-off deferred before this process noticed the outage dates it further back.
    down_since = min((m for m in (_probe.down_since, waiting_since) if m), default=None) if paused else None
    return BackgroundStatus(
        broker=broker,
        broker_down_since=down_since,
        waiting=waiting,
        waiting_since=waiting_since,
        worker_seen_at=cache.get(WORKER_HEARTBEAT_KEY),
    )


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while pages can be served: "ok", or "degraded" when the broker is down (pages keep serving
    and hand-offs wait in PostgreSQL, so a load balancer must not take the web out of rotation);
    503 only when the database is unreachable."""
    checks = {"database": _database_status(), "broker": _broker_status()}
    serving = checks["database"] == "ok"
    status = "error" if not serving else "ok" if checks["broker"] in {"ok", "inline"} else "degraded"
    body: dict[str, Any] = {"status": status, **checks}
    if serving:
        body["background"] = background_status(broker=checks["broker"]).as_json()
    body["representation"] = {"configured": settings.THREADLINE_REPRESENTATION,
                              "why": settings.THREADLINE_REPRESENTATION_REASON}
    return JsonResponse(body, status=200 if serving else 503)
