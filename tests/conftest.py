"""Shared fixtures: one persona per role plus an outsider, and a source to import into."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tickets.access import Role, user_role_set
from tickets.models import Source, SourceKind

PASSWORD = "correct-horse-battery-staple"


def require_service(name: str, reachable: bool) -> None:
    """Skip a test whose service is missing on a developer's machine; fail it in CI, where the
    service must be there."""
    if reachable:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI but is not reachable")
    pytest.skip(f"{name} is not reachable on this machine")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Real hashing costs ~0.3 s per user; tests make many users and don't test the hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_stats_version() -> None:
    """Pages keep computed figures in the cache under the statistics' version, and the cache outlives
    a test (in-process, or in Redis across runs): each test starts with a version of its own. (Not
    ``cache.clear()``: in CI the cache shares its Redis database with the end-to-end tests' broker.)"""
    from django.core.cache import cache

    from insights.services.stats import STATS_VERSION_KEY

    cache.delete(STATS_VERSION_KEY)


@pytest.fixture(autouse=True, scope="session")
def _tfidf_representation() -> Iterator[None]:
    """The suite vectorises with tfidf even where the embeddings extra makes minilm the default:
    encoding with MiniLM costs seconds per test. The tests about MiniLM ask for it by name."""
    from django.test import override_settings

    with override_settings(THREADLINE_REPRESENTATION="tfidf"):
        yield


@pytest.fixture(autouse=True, scope="session")
def _tasks_run_inline() -> None:
    """Tests run Celery tasks in-process even when REDIS_URL points at a real broker; the
    end-to-end tests switch to the real worker themselves."""
    from config.celery import app

    app.conf.task_always_eager = True


def _make_user(email: str, role: Role | None) -> Any:
    user = get_user_model().objects.create_user(username=email, email=email, password=PASSWORD)
    if role is not None:
        user_role_set(user, role)
    return user


@pytest.fixture
def admin_user(db: None) -> Any:
    return _make_user("ada.admin@example.com", Role.ADMIN)


@pytest.fixture
def support_lead(db: None) -> Any:
    return _make_user("sam.lead@example.com", Role.SUPPORT_LEAD)


@pytest.fixture
def product_manager(db: None) -> Any:
    return _make_user("pat.pm@example.com", Role.PRODUCT_MANAGER)


@pytest.fixture
def viewer(db: None) -> Any:
    return _make_user("vic.viewer@example.com", Role.VIEWER)


@pytest.fixture
def outsider(db: None) -> Any:
    return _make_user("olly.outsider@example.com", None)


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    """A test client signed in as the given user (or anonymous for None)."""

    def make(user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def source(db: None) -> Source:
    return Source.objects.create(name="helpdesk", kind=SourceKind.UPLOAD)
