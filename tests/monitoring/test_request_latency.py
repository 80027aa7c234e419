"""Latency figures are per request, counts per prediction: a 1,000-row batch is one latency
observation (in /stats and on /metrics) and 1,000 predictions."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.models import Metric
from tests.monitoring.metrics_text import scrape, total
from tests.monitoring.support import CHURN, predict

pytestmark = pytest.mark.django_db
MODEL = "churn-prediction-v1"


def batch(api, rows):
    response = api.post("/api/v1/predictions/batch/", {"modelId": MODEL, "features": rows, "useCache": False},
                        format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_it_takes_p99_from_eleven_requests_for_a_batch_and_ten_singles(api, client):
    before = scrape(client)
    rows = [{**CHURN, "account_age": 1 + i % 120, "support_tickets": i % 9} for i in range(1000)]
    batch_time = batch(api, rows)["results"][0]["processingTime"]
    singles = [predict(api, MODEL, {**CHURN, "nps_score": n}, useCache=False).json()["processingTime"]
               for n in range(10)]

    stats = api.get(f"/api/v1/models/{MODEL}/stats/").json()
    assert stats["totalPredictions"] == 1010 and stats["successfulPredictions"] == 1010
    timed = np.array(Metric.objects.filter(model_id=MODEL, timed=True).values_list("latency_ms", flat=True))
    assert len(timed) == 11  # the batch once, each single once
    assert sorted(np.round(timed, 3)) == pytest.approx(sorted([batch_time, *singles]), abs=0.002)
    assert stats["p99Latency"] == pytest.approx(np.percentile(timed, 99), abs=1e-3)
    assert stats["p95Latency"] == pytest.approx(np.percentile(timed, 95), abs=1e-3)
    assert stats["medianLatency"] == pytest.approx(np.median(timed), abs=1e-3)
    assert stats["averageLatency"] == pytest.approx(timed.mean(), abs=1e-3)

    after = scrape(client)
    labels = {"model": MODEL}
    assert total(after, "hotcrm_predictions_total", **labels) - total(before, "hotcrm_predictions_total", **labels) == 1010
    observed = (total(after, "hotcrm_prediction_latency_seconds_count", **labels)
                - total(before, "hotcrm_prediction_latency_seconds_count", **labels))
    assert observed == 11
    summed = (total(after, "hotcrm_prediction_latency_seconds_sum", **labels)
              - total(before, "hotcrm_prediction_latency_seconds_sum", **labels))
    assert summed * 1000 == pytest.approx(timed.sum(), rel=1e-6)


def test_it_counts_cache_hits_per_row_and_times_a_request_once(api):
    rows = [{**CHURN, "account_age": 1 + i} for i in range(20)]
    api.post("/api/v1/predictions/batch/", {"modelId": MODEL, "features": rows[:10]}, format="json")
    response = api.post("/api/v1/predictions/batch/", {"modelId": MODEL, "features": rows}, format="json")
    assert [r["cached"] for r in response.json()["results"]] == [True] * 10 + [False] * 10

    stats = api.get(f"/api/v1/models/{MODEL}/stats/").json()
    assert stats["totalPredictions"] == 30 and stats["cacheHitRate"] == pytest.approx(100 * 10 / 30, abs=1e-3)
    records = list(Metric.objects.filter(model_id=MODEL).order_by("id").values_list("rows", "cached", "timed"))
    # first request: 10 misses; second: 10 hits (counted) and 10 misses (timed)
    assert sorted(records) == [(10, False, True), (10, False, True), (10, True, False)]
    second = [r["confidence"] for r in response.json()["results"]]
    # the first request's 10 answers are the second's 10 cache hits
    assert stats["averageConfidence"] == pytest.approx(np.mean(second + second[:10]), abs=1e-3)


def test_it_records_a_failed_batch_as_its_rows_and_one_latency(api):
    from tests.monitoring.support import untrained_model

    untrained_model()
    response = api.post("/api/v1/predictions/batch/", {"modelId": "churn-untrained", "features": [CHURN] * 5},
                        format="json")
    assert response.status_code == 422
    stats = api.get("/api/v1/models/churn-untrained/stats/").json()
    assert stats["totalPredictions"] == 5 and stats["failedPredictions"] == 5 and stats["errorRate"] == 100
    assert Metric.objects.filter(model_id="churn-untrained", timed=True).count() == 1


def test_it_keeps_a_bulk_job_chunk_out_of_request_latency(api):
    from django.utils import timezone

    Metric.objects.create(model_id=MODEL, model_version="1", timestamp=timezone.now(), latency_ms=0.05,
                          confidence=80.0, provider="local", rows=5000, timed=False)
    predict(api, MODEL, CHURN, useCache=False)
    stats = api.get(f"/api/v1/models/{MODEL}/stats/").json()
    single = Metric.objects.get(model_id=MODEL, timed=True).latency_ms
    assert stats["totalPredictions"] == 5001
    assert stats["p99Latency"] == stats["medianLatency"] == pytest.approx(single, abs=1e-3)
