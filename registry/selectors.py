"""Registry reads. Model rows are cached per process and dropped as soon as the shared
registry generation (bumped by every registry write) moves on."""

from __future__ import annotations

import time

from core import generations
from hotcrm_ai.errors import NotFound
from registry.models import MLModel, ModelArtifact

GENERATION_KEY = generations.REGISTRY
# Even if the shared cache is the per-process memory cache, another process's write is seen
# within this many seconds.
_MAX_AGE = 1.0
_models: dict[str, tuple[MLModel, int, float]] = {}


def registry_generation() -> int:
    return generations.current(GENERATION_KEY)


def model_get(model_id: str) -> MLModel:
    generation = registry_generation()
    hit = _models.get(model_id)
    now = time.monotonic()
    if hit and hit[1] == generation and now - hit[2] < _MAX_AGE:
        return hit[0]
    model = MLModel.objects.select_related("ab_champion").filter(pk=model_id).first()
    if model is None:
        _models.pop(model_id, None)
        raise NotFound(f"No model '{model_id}' is registered.", code="model_not_found")
    _models[model_id] = (model, generation, now)
    return model


def forget_cached_models() -> None:
    _models.clear()
    generations.forget()


def model_list():
    return MLModel.objects.select_related("ab_champion").order_by("id")


def artifact_latest(model: MLModel) -> ModelArtifact | None:
    return (
        ModelArtifact.objects.filter(model_id=model.pk, version=model.version)
        .order_by("-created_at", "-id")
        .first()
    )


def artifact_latest_meta(model: MLModel) -> tuple[int, str] | None:
    row = (
        ModelArtifact.objects.filter(model_id=model.pk, version=model.version)
        .order_by("-created_at", "-id")
        .values_list("id", "sha256")
        .first()
    )
    return row




def model_get_fresh(model_id: str) -> MLModel:
    """The stored row itself, not the per-process cached copy."""
    model = model_list().filter(pk=model_id).first()
    if model is None:
        raise NotFound(f"No model '{model_id}' is registered.", code="model_not_found")
    return model
