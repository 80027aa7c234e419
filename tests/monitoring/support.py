"""Helpers for the monitoring tests: metrics written straight to the table, and a model
that fails every prediction for real (its version has no trained artifact)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from monitoring.models import Metric
from registry.models import MLModel
from registry.services import model_register

CHURN = {"account_age": 24, "support_tickets": 3, "usage_frequency": 20, "nps_score": 30, "payment_delays": 0}


def add_metrics(model_id: str, latencies, *, success=True, cached=False, arm="", age_seconds=0.0,
                confidence=80.0) -> None:
    when = timezone.now() - timedelta(seconds=age_seconds)
    Metric.objects.bulk_create([
        Metric(model_id=model_id, model_version="1", timestamp=when, latency_ms=float(v),
               confidence=confidence if success else None, cached=cached, success=success,
               provider="local", ab_arm=arm, error="" if success else "boom",
               error_code="" if success else "provider_failed")
        for v in latencies
    ])


def untrained_model(model_id: str = "churn-untrained", **extra) -> MLModel:
    churn = MLModel.objects.get(pk="churn-prediction-v1")
    return model_register(data={
        "id": model_id, "name": "Churn without artifact", "version": "0-untrained", "type": "classification",
        "provider": "local", "feature_schema": churn.feature_schema, **extra,
    })


def predict(api, model_id: str, features: dict, **extra):
    return api.post("/api/v1/predictions/", {"modelId": model_id, "features": features, **extra}, format="json")


def ensure_builtin_models() -> None:
    """Transactional tests start from whatever an earlier one left: Django empties the
    database after each of them, so the built-in models may be gone."""
    from conftest import install_builtin_models

    if not MLModel.objects.filter(pk="churn-prediction-v1").exists():
        install_builtin_models()
