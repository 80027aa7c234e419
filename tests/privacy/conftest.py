"""Helpers of the privacy tests: log rows of a given age, and a scan of every table."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.apps import apps
from django.db import models

from predictions.models import PredictionLog

# Columns that can hold an object's id as text or inside a value.
SCANNED = (models.CharField, models.TextField, models.JSONField, models.BinaryField)


def log_row(*, created_at: datetime, object_id: str = "", object_type: str = "lead", actual=None,
            **extra) -> PredictionLog:
    values = dict(
        id=uuid.uuid4(), model_id="lead-scoring-v1", model_version="1.0.0", requested_model_id="lead-scoring-v1",
        provider="local", features={"company_size": 10}, prediction={"score": 50, "class": "warm"}, label="warm",
        confidence=50.0, user_id="", object_type=object_type if object_id else "", object_id=object_id,
        created_at=created_at, actual=actual, feedback_at=created_at if actual is not None else None,
    )
    return PredictionLog.objects.create(**(values | extra))


def traces_of(needle: str) -> list[str]:
    """Every table.column (of every installed model, Django's own included) whose stored
    value holds `needle` as text, inside JSON, or as UTF-8 bytes."""
    found = []
    raw = needle.encode()
    for model in apps.get_models(include_auto_created=True):
        columns = [f for f in model._meta.concrete_fields if isinstance(f, SCANNED)]
        if not columns:
            continue
        for row in model._base_manager.values_list(*(f.attname for f in columns)).iterator():
            for f, value in zip(columns, row, strict=True):
                if value is None:
                    continue
                held = raw in bytes(value) if isinstance(f, models.BinaryField) else needle in repr(value)
                if held:
                    found.append(f"{model._meta.db_table}.{f.column}")
    return sorted(set(found))
