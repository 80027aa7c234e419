"""Fixture data with known answers for analytics questions.

NOW is Wednesday 2026-11-18 15:30 UTC: "this week" starts Monday 11-16, "yesterday" is
11-17, "last week" is 11-09..11-15, this quarter is Q4 (from 10-01).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.models import Metric
from predictions.models import PredictionLog

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)

# (model, label key, label, confidence, extra prediction value, age, objectType, objectId, arm, cached)
PREDICTIONS = [
    ("lead-scoring-v1", "class", "hot", 90, {"score": 88}, 1 * H, "lead", "L-1", "champion", False),
    ("lead-scoring-v1", "class", "hot", 80, {"score": 82}, 2 * H, "lead", "L-2", "champion", False),
    ("lead-scoring-v1", "class", "warm", 60, {"score": 55}, 1 * D, "lead", "L-3", "", True),
    ("lead-scoring-v1", "class", "cold", 70, {"score": 20}, 3 * D, "lead", "L-4", "", False),
    ("lead-scoring-v1", "class", "hot", 85, {"score": 90}, 10 * D, "lead", "L-1", "", False),
    ("lead-scoring-v2", "class", "warm", 65, {"score": 60}, H / 2, "lead", "L-5", "challenger", False),
    ("lead-scoring-v2", "class", "hot", 75, {"score": 78}, 2 * D, "lead", "L-6", "challenger", False),
    ("churn-prediction-v1", "risk", "high", 70, {"probability": 0.8}, 3 * H, "account", "A-1", "", False),
    ("churn-prediction-v1", "risk", "high", 60, {"probability": 0.7}, 5 * D, "account", "A-2", "", False),
    ("churn-prediction-v1", "risk", "low", 90, {"probability": 0.1}, 40 * D, "account", "A-3", "", False),
    ("churn-prediction-v1", "risk", "medium", 50, {"probability": 0.45}, 100 * D, "account", "A-1", "", False),
    ("sentiment-analysis-v1", "sentiment", "positive", 95, {"score": 0.9}, 4 * H, "case", "C-1", "", False),
    ("sentiment-analysis-v1", "sentiment", "negative", 80, {"score": -0.6}, 26 * H, "case", "C-2", "", False),
    ("sentiment-analysis-v1", "sentiment", "neutral", 55, {"score": 0.0}, 8 * D, "case", "C-3", "", True),
    ("sentiment-analysis-v1", "sentiment", "positive", 70, {"score": 0.5}, 200 * D, "case", "C-1", "", False),
]

# (model, provider, latency ms, success, error code, cached, age)
METRICS = [
    ("lead-scoring-v1", "local", 10, True, "", False, H),
    ("lead-scoring-v1", "local", 20, True, "", False, H),
    ("lead-scoring-v1", "local", 30, True, "", False, H),
    ("lead-scoring-v1", "local", 40, True, "", False, H),
    ("lead-scoring-v1", "local", 100, False, "provider_failed", False, H),
    ("lead-scoring-v1", "local", 2, True, "", True, H),
    ("churn-prediction-v1", "local", 50, True, "", False, 2 * H),
    ("churn-prediction-v1", "local", 60, True, "", False, 2 * H),
    ("churn-prediction-v1", "local", 70, True, "", False, D),
    ("churn-prediction-v1", "local", 200, False, "provider_timeout", False, D),
    ("sentiment-analysis-v1", "openai", 300, True, "", False, 30 * H),
    ("sentiment-analysis-v1", "openai", 500, True, "", False, 30 * H),
    ("lead-scoring-v1", "local", 15, True, "", False, 9 * D),
]


@pytest.fixture
def crm_data(db):
    logs = []
    for model, key, label, confidence, extra, age, object_type, object_id, arm, cached in PREDICTIONS:
        requested = "lead-scoring-v2" if arm else model
        logs.append(PredictionLog(
            model_id=model, model_version="1.0.0", requested_model_id=requested, ab_arm=arm,
            provider="local", features={"x": 1}, prediction={key: label, **extra}, label=label,
            confidence=confidence, cached=cached, object_type=object_type, object_id=object_id,
            user_id="u-1" if object_type == "lead" else "u-2", created_at=NOW - age,
        ))
    PredictionLog.objects.bulk_create(logs)
    Metric.objects.bulk_create([
        Metric(model_id=model, model_version="1.0.0", provider=provider, latency_ms=latency,
               success=success, error_code=code, error=code, cached=cached, timestamp=NOW - age,
               confidence=None if not success else 80.0)
        for model, provider, latency, success, code, cached, age in METRICS
    ])
    return NOW


@pytest.fixture(autouse=True)
def _no_llm_unless_asked(settings):
    # The offline parser answers unless a test configures an LLM itself.
    settings.HOTCRM = {**settings.HOTCRM, "OPENAI_API_KEY": None, "OPENAI_BASE_URL": None}
