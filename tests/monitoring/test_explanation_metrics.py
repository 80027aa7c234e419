"""/metrics counts explanations and comparisons by model, with their latency."""

from __future__ import annotations

import pytest

from tests.ml.support import COLD_LEAD, HOT_LEAD
from tests.monitoring.metrics_text import scrape, total

pytestmark = pytest.mark.django_db


def test_it_counts_explanations_by_model_with_their_latency(api, client):
    before = scrape(client)
    for _ in range(2):  # the second is a cache hit
        response = api.post("/api/v1/explanations/", {"modelId": "lead-scoring-v1", "features": HOT_LEAD},
                            format="json")
        assert response.status_code == 200
    response = api.post("/api/v1/explanations/compare/",
                        {"modelId": "lead-scoring-v1", "features1": HOT_LEAD, "features2": COLD_LEAD}, format="json")
    assert response.status_code == 200
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        labels = {"model": "lead-scoring-v1", **labels}
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("hotcrm_explanations_total", outcome="success") == 3
    assert delta("hotcrm_explanations_total", cached="true") == 1
    assert delta("hotcrm_explanation_latency_seconds_count") == 3
    assert delta("hotcrm_explanation_latency_seconds_sum") > 0
    assert delta("hotcrm_predictions_total") == 0  # explanations are not predictions
