"""The embedded run's stand-in for celery beat: the same schedule, run inline in the web process."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from config.embedded import PeriodicJobs


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _jobs(schedule: dict[str, Any], clock: _Clock, ran: list[tuple[str, tuple[Any, ...]]], **kw: Any) -> PeriodicJobs:
    return PeriodicJobs(schedule, clock=clock, run_task=lambda name, args: ran.append((name, args)), **kw)


def test_each_job_runs_when_due_and_then_every_interval() -> None:
    clock, ran = _Clock(), list[tuple[str, tuple[Any, ...]]]()
    jobs = _jobs({"stats": {"task": "t.stats", "schedule": 300}, "retrain": {"task": "t.retrain",
                 "schedule": timedelta(hours=1), "args": (7,)}}, clock, ran, first_after=60)
    assert jobs.run_due() == []
    clock.now += 60
    assert sorted(jobs.run_due()) == ["retrain", "stats"]
    assert ("t.retrain", (7,)) in ran
    clock.now += 300
    assert jobs.run_due() == ["stats"]
    clock.now += 3300
    assert sorted(jobs.run_due()) == ["retrain", "stats"]


def test_a_failing_job_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    clock, ran = _Clock(), []

    def run_task(name: str, args: tuple[Any, ...]) -> None:
        if name == "t.broken":
            raise RuntimeError("boom")
        ran.append((name, args))

    jobs = PeriodicJobs({"broken": {"task": "t.broken", "schedule": 60}, "fine": {"task": "t.fine", "schedule": 60}},
                        clock=clock, run_task=run_task, first_after=0)
    assert sorted(jobs.run_due()) == ["broken", "fine"]
    assert ran == [("t.fine", ())]
    assert "periodic job broken failed" in caplog.text


def test_run_forever_stops_when_asked() -> None:
    clock, ran = _Clock(), list[tuple[str, tuple[Any, ...]]]()
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.now += seconds
        return len(waits) >= 3  # the stop event is set on the third wait

    jobs = _jobs({"stats": {"task": "t.stats", "schedule": 300}}, clock, ran, wait=wait, first_after=0)
    jobs.run_forever()
    assert [name for name, _ in ran] == ["t.stats"] * 3
    assert waits == [300, 300, 300]


def test_a_crontab_schedule_is_refused_rather_than_misread() -> None:
    from celery.schedules import crontab

    with pytest.raises(ValueError, match="fixed intervals"):
        PeriodicJobs({"nightly": {"task": "t", "schedule": crontab(hour=3)}})


@pytest.mark.django_db
def test_the_real_schedule_runs_through_the_registered_tasks() -> None:
    """Every beat entry names a task Celery knows, and applying the stats job works inline."""
    from django.conf import settings

    from config.embedded import registered_task

    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert registered_task(str(entry["task"])).name == entry["task"]
    jobs = PeriodicJobs({"refresh-theme-stats": settings.CELERY_BEAT_SCHEDULE["refresh-theme-stats"]}, first_after=0)
    assert jobs.run_due() == ["refresh-theme-stats"]
