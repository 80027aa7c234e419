from __future__ import annotations

import pytest

from registry.models import MLModel
from tests.monitoring.support import add_metrics

pytestmark = pytest.mark.django_db


def health(api, model_id="lead-scoring-v1"):
    response = api.get(f"/api/v1/models/{model_id}/health/")
    assert response.status_code == 200
    return response.json()


def test_it_says_so_when_a_model_has_no_recent_traffic(api):
    add_metrics("lead-scoring-v1", [5] * 10, success=False, age_seconds=3600)  # old failures
    body = health(api)
    assert body["status"] == "healthy"
    assert body["reason"] == "No predictions in the last 5 minutes."
    assert body["details"]["traffic"] is False


def test_it_is_healthy_with_few_errors_and_fast_answers(api):
    add_metrics("lead-scoring-v1", [20] * 96)
    add_metrics("lead-scoring-v1", [20] * 4, success=False)
    body = health(api)
    assert body["status"] == "healthy" and "reason" not in body
    assert body["details"]["errorRate"] == 4.0


@pytest.mark.parametrize(("failures", "status"), [(5, "degraded"), (10, "degraded"), (11, "unhealthy")])
def test_it_grades_error_rates_per_the_spec(api, failures, status):
    add_metrics("lead-scoring-v1", [20] * (100 - failures))
    add_metrics("lead-scoring-v1", [20] * failures, success=False)
    body = health(api)
    assert body["status"] == status
    assert "rror rate" in body["reason"]


def test_it_is_degraded_when_p95_is_slow(api):
    add_metrics("lead-scoring-v1", [100] * 90 + [900] * 10)
    body = health(api)
    assert body["status"] == "degraded" and "p95 latency 900 ms" in body["reason"].lower()


def test_it_takes_thresholds_from_the_model(api, staff_api):
    response = staff_api.patch("/api/v1/models/lead-scoring-v1/", {"healthThresholds": {"p95LatencyMs": 2000}},
                               format="json")
    assert response.status_code == 200, response.content
    add_metrics("lead-scoring-v1", [100] * 90 + [900] * 10)
    assert health(api)["status"] == "healthy"


def test_it_refuses_bad_thresholds_through_the_api_and_keeps_the_old_ones(staff_api):
    response = staff_api.patch("/api/v1/models/lead-scoring-v1/", {"healthThresholds": {"p95": 1}}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"]
    assert MLModel.objects.get(pk="lead-scoring-v1").health_thresholds == {}


def test_it_refuses_unknown_or_out_of_range_thresholds():
    from django.core.exceptions import ValidationError

    model = MLModel.objects.get(pk="lead-scoring-v1")
    for bad in ({"p95": 1}, {"errorRateDegraded": 150}, {"errorRateDegraded": 20, "errorRateUnhealthy": 10},
                {"windowSeconds": "x"}):
        model.health_thresholds = bad
        with pytest.raises(ValidationError) as info:
            model.full_clean()
        assert "health_thresholds" in info.value.message_dict
