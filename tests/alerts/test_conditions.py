"""The conditions judged from other apps' data: input drift, an A/B verdict and failed bulk
scoring jobs, each over real rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Incident
from tests.alerts.support import rule, webhook_channel
from tests.monitoring.test_drift import fresh_churn_rows, send_batch
from tests.predictions.test_ab_report import run_scenario

pytestmark = pytest.mark.django_db


def test_it_fires_on_input_drift_naming_the_feature(api, receiver, evaluate):
    rule("drift", channels=[webhook_channel(receiver.url)], condition="drift", level="", min_samples=50,
         model_id="churn-prediction-v1")
    send_batch(api, "churn-prediction-v1", fresh_churn_rows(n=120, seed=3))
    evaluate()
    assert receiver.requests == []  # inputs like the training data
    rows = fresh_churn_rows(n=300, seed=4)
    for row in rows:
        row["nps_score"] = max(-100.0, row["nps_score"] - 60)
    send_batch(api, "churn-prediction-v1", rows)
    evaluate()
    [(kind, body)] = receiver.events()
    assert kind == "alert.firing" and "nps_score" in body["incident"]["reason"]


def test_it_tells_when_an_ab_test_reaches_a_verdict(api, receiver, evaluate):
    rule("verdict", channels=[webhook_channel(receiver.url)], condition="abVerdict", level="")
    run_scenario(api, challenger_right=0.92, champion_right=0.72, objects=300, seed=1)
    evaluate()
    [(kind, body)] = receiver.events()
    assert kind == "alert.firing" and body["incident"]["modelId"] == "lead-scoring-v2"
    assert "challenger ahead at 95% confidence" in body["incident"]["reason"]


def test_it_tells_when_a_bulk_scoring_job_fails(receiver, evaluate):
    from jobs.models import Job

    rule("jobs", channels=[webhook_channel(receiver.url)], condition="jobFailed", level="", for_seconds=3600)
    now = timezone.now()
    Job.objects.create(model_id="lead-scoring-v1", status="failed", input_format="csv", created_by="ops",
                       finished_at=now - timedelta(hours=2), error="an old failure")
    evaluate()
    assert receiver.requests == []
    job = Job.objects.create(model_id="lead-scoring-v1", status="failed", input_format="csv", created_by="ops",
                             finished_at=now, error="12 % of rows failed, above maxErrorRate 5 %")
    evaluate()
    [(kind, body)] = receiver.events()
    assert kind == "alert.firing" and body["incident"]["modelId"] == "lead-scoring-v1"
    assert str(job.pk) in body["incident"]["reason"] and "maxErrorRate" in body["incident"]["reason"]
    assert Incident.objects.get().condition == "jobFailed"


def test_it_counts_every_row_of_a_job_chunks_metric(receiver, evaluate):
    from monitoring.models import Metric
    from tests.monitoring.support import add_metrics

    rule("errors", channels=[webhook_channel(receiver.url)], condition="errorRate", level="", threshold=50,
         for_seconds=300, model_id="churn-prediction-v1")
    add_metrics("churn-prediction-v1", [10] * 10)
    Metric.objects.create(model_id="churn-prediction-v1", model_version="1", timestamp=timezone.now(),
                          latency_ms=40, success=False, provider="local", rows=50)  # one failed chunk
    evaluate()
    [(_, body)] = receiver.events()
    assert "error rate 83.3%" in body["incident"]["reason"] and "(50 of 60)" in body["incident"]["reason"]
