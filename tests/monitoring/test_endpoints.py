from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.monitoring.support import CHURN, predict, untrained_model

pytestmark = pytest.mark.django_db


def test_it_reports_ready_without_a_token(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["cache"]["ok"]


def test_it_reports_503_when_the_database_is_unreachable(client, monkeypatch):
    from monitoring import views

    def broken():
        raise ConnectionError("no database")

    monkeypatch.setattr(views, "_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "ConnectionError",
                                                     "latencyMs": response.json()["checks"]["database"]["latencyMs"]}


def _samples(text: str, name: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def _count(client, **labels) -> float:
    text = client.get("/metrics").content.decode()
    return sum(s.value for s in _samples(text, "hotcrm_predictions_total")
               if all(s.labels.get(k) == v for k, v in labels.items()))


def test_it_exposes_prometheus_counters_and_histograms_without_a_token(client, api):
    before = _count(client, model="churn-prediction-v1", cached="false", outcome="success")
    before_hits = _count(client, model="churn-prediction-v1", cached="true")
    predict(api, "churn-prediction-v1", CHURN)
    predict(api, "churn-prediction-v1", CHURN)
    untrained_model()
    predict(api, "churn-untrained", CHURN)

    response = client.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert _count(client, model="churn-prediction-v1", cached="false", outcome="success") == before + 1
    assert _count(client, model="churn-prediction-v1", cached="true") == before_hits + 1
    assert _count(client, model="churn-untrained", outcome="error") >= 1
    text = response.content.decode()
    buckets = _samples(text, "hotcrm_prediction_latency_seconds_bucket")
    sample = next(s for s in buckets if s.labels["model"] == "churn-prediction-v1")
    assert set(sample.labels) == {"model", "version", "arm", "provider", "cached", "le"}


def test_it_labels_the_ab_arm_that_answered(client, api):
    before = _count(client, model="lead-scoring-v2", arm="challenger")
    lead = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
            "job_title": "VP of Sales", "budget": 120000}
    predict(api, "lead-scoring-v2", lead, abArm="challenger")
    assert _count(client, model="lead-scoring-v2", arm="challenger") == before + 1
