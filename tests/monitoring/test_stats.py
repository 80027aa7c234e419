from __future__ import annotations

import numpy as np
import pytest

from monitoring.models import Metric
from tests.monitoring.support import CHURN, add_metrics, predict, untrained_model

pytestmark = pytest.mark.django_db
STATS_FIELDS = {
    "modelId", "totalPredictions", "successfulPredictions", "failedPredictions", "averageLatency",
    "medianLatency", "p95Latency", "p99Latency", "averageConfidence", "cacheHitRate", "errorRate",
    "accuracy", "lastUpdated", "shadowRuns", "shadowFailures",
}


def test_it_counts_successes_failures_and_cache_hits_of_real_predictions(api):
    for _ in range(3):
        assert predict(api, "churn-prediction-v1", CHURN).status_code == 200  # 1 miss, 2 hits
    untrained_model()
    assert predict(api, "churn-untrained", CHURN).status_code == 422

    stats = api.get("/api/v1/models/churn-prediction-v1/stats/").json()
    assert set(stats) == STATS_FIELDS
    assert stats["totalPredictions"] == 3 and stats["successfulPredictions"] == 3
    assert stats["cacheHitRate"] == pytest.approx(100 * 2 / 3, abs=0.001)
    assert stats["errorRate"] == 0 and stats["accuracy"] is None
    assert 0 < stats["averageConfidence"] <= 100 and stats["lastUpdated"]

    failed = api.get("/api/v1/models/churn-untrained/stats/").json()
    assert failed["totalPredictions"] == 1 and failed["failedPredictions"] == 1
    assert failed["errorRate"] == 100 and failed["averageConfidence"] is None


def test_it_interpolates_percentiles_linearly(api):
    add_metrics("lead-scoring-v1", range(1, 101))
    stats = api.get("/api/v1/models/lead-scoring-v1/stats/").json()
    assert stats["medianLatency"] == pytest.approx(50.5)
    assert stats["p95Latency"] == pytest.approx(95.05)
    assert stats["p99Latency"] == pytest.approx(99.01)
    assert stats["averageLatency"] == pytest.approx(50.5)


def test_it_keeps_to_the_window(api):
    add_metrics("lead-scoring-v1", [10] * 4)
    add_metrics("lead-scoring-v1", [1000] * 6, age_seconds=600)
    recent = api.get("/api/v1/models/lead-scoring-v1/stats/?window=300").json()
    assert recent["totalPredictions"] == 4 and recent["p99Latency"] == 10
    assert api.get("/api/v1/models/lead-scoring-v1/stats/").json()["totalPredictions"] == 10


def test_it_reports_zeroes_not_errors_for_a_model_without_traffic(api):
    stats = api.get("/api/v1/models/sentiment-analysis-v1/stats/?window=60").json()
    assert stats["totalPredictions"] == 0 and stats["p95Latency"] is None and stats["errorRate"] == 0


@pytest.mark.parametrize("window", ["abc", "0", "-5", "1.5", str(10**12)])
def test_it_rejects_a_bad_window_with_a_400(api, window):
    response = api.get(f"/api/v1/models/lead-scoring-v1/stats/?window={window}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_window"


def test_it_answers_404_for_an_unknown_model(api):
    for path in ("stats", "health"):
        response = api.get(f"/api/v1/models/nope/{path}/")
        assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


def test_it_needs_a_token(client):
    assert client.get("/api/v1/stats/").status_code in (401, 403)


def test_it_gives_stats_of_every_model(api):
    predict(api, "churn-prediction-v1", CHURN)
    body = api.get("/api/v1/stats/").json()
    assert "lead-scoring-v2" in body and body["churn-prediction-v1"]["totalPredictions"] == 1
    assert set(body["churn-prediction-v1"]) == STATS_FIELDS


def test_it_computes_stats_from_feedback_accuracy(api):
    from django.utils import timezone

    from predictions.models import PredictionLog

    for objid in ("a", "b", "c", "d"):
        predict(api, "churn-prediction-v1", CHURN | {"account_age": len(objid) + ord(objid)})
    logs = list(PredictionLog.objects.filter(model_id="churn-prediction-v1"))
    for i, log in enumerate(logs):
        log.actual = log.label if i < 3 else "not-" + log.label
        log.feedback_at = timezone.now()
        log.save()
    assert api.get("/api/v1/models/churn-prediction-v1/stats/").json()["accuracy"] == 75.0


def test_it_matches_numpy_on_random_latencies(api):
    latencies = np.random.default_rng(3).lognormal(2, 1, 500).round(3)
    add_metrics("lead-scoring-v1", latencies)
    stats = api.get("/api/v1/models/lead-scoring-v1/stats/").json()
    expected = np.percentile(latencies, [50, 95, 99])
    assert [stats["medianLatency"], stats["p95Latency"], stats["p99Latency"]] == pytest.approx(expected, abs=1e-3)
    assert Metric.objects.count() == 500
