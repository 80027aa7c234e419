"""Analytics questions over metrics mean what /stats means: predictions counted per row,
latency once per request, shadow runs left out unless asked for."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.models import Metric
from reporting.query import query_validate
from reporting.selectors import query_run
from tests.monitoring.support import CHURN, predict

pytestmark = pytest.mark.django_db
MODEL = "churn-prediction-v1"


def ask(**query):
    columns, rows = query_run(query_validate({"source": "metrics", **query}))
    return dict(zip(columns, rows[0], strict=True))


def test_it_counts_rows_and_times_requests_over_metrics(api):
    rows = [{**CHURN, "account_age": 1 + i} for i in range(40)]
    api.post("/api/v1/predictions/batch/", {"modelId": MODEL, "features": rows[:10]}, format="json")
    api.post("/api/v1/predictions/batch/", {"modelId": MODEL, "features": rows}, format="json")  # 10 hits
    for n in range(3):
        predict(api, MODEL, {**CHURN, "nps_score": n})
    Metric.objects.create(model_id=MODEL, model_version="1", timestamp=Metric.objects.first().timestamp,
                          latency_ms=999.0, provider="local", ab_arm="shadow", rows=7)

    answer = ask(aggregations=[
        {"fn": "count"}, {"fn": "rate", "field": "cached", "value": True},
        {"fn": "percentile", "field": "latency", "p": 95}, {"fn": "avg", "field": "latency"},
        {"fn": "avg", "field": "confidence"},
    ], filters=[["modelId", "=", MODEL]])
    timed = np.array(Metric.objects.filter(model_id=MODEL, timed=True).exclude(ab_arm="shadow")
                     .values_list("latency_ms", flat=True))
    assert len(timed) == 5
    stats = api.get(f"/api/v1/models/{MODEL}/stats/").json()
    assert answer["count"] == stats["totalPredictions"] == 53
    assert answer["rate_cached_true"] == pytest.approx(stats["cacheHitRate"], abs=1e-3)
    assert answer["p95_latency"] == pytest.approx(np.percentile(timed, 95), abs=1e-3)
    assert answer["avg_latency"] == pytest.approx(timed.mean(), abs=1e-3)
    assert answer["avg_confidence"] == pytest.approx(stats["averageConfidence"], abs=1e-3)
    assert ask(aggregations=[{"fn": "count"}], filters=[["abArm", "=", "shadow"]])["count"] == 7
