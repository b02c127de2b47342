"""Trained models (representation, classifier) as immutable, versioned artefacts on disk."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import joblib
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from insights.models import ModelVersion


def model_version_active(kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, is_active=True).first()


def model_version_save(
    *, kind: str, backend: str, artifact: Any, metrics: dict[str, Any], training_size: int = 0,
    manual_labels: int = 0, activate: bool, note: str = "",
) -> ModelVersion:
    """Store a trained artefact as a new version; with ``activate`` it replaces the active one."""
    directory = Path(settings.DATA_DIR) / "models"
    directory.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        version = ModelVersion.objects.create(
            kind=kind, backend=backend, artifact="", metrics=metrics, training_size=training_size,
            manual_labels=manual_labels, note=note,
        )
        path = directory / f"{kind}-{version.pk}.joblib"
        joblib.dump(artifact, path)
        version.artifact = str(path)
        version.save(update_fields=["artifact"])
        if activate:
            ModelVersion.objects.filter(kind=kind, is_active=True).update(is_active=False)
            version.is_active, version.activated_at = True, timezone.now()
            version.save(update_fields=["is_active", "activated_at"])
    return version


@lru_cache(maxsize=8)
def _artifact_load(path: str) -> Any:
    # Versions are immutable once written, so a loaded artefact can be kept for the process's life.
    return joblib.load(path)


def model_version_load(version: ModelVersion) -> Any:
    return _artifact_load(version.artifact)
