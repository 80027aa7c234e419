from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from ml.builtin import synthetic
from monitoring.models import Metric
from registry.models import MLModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "operator-password-42"


@pytest.fixture
def traffic(service_token):
    """An hour of real traffic: predictions through the API (A/B arms, cache hits, a model
    failing for real, drifted churn inputs), their metrics then spread over the last hour."""
    from tests.monitoring.support import ensure_builtin_models, untrained_model

    ensure_builtin_models()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {service_token}")

    def batch(model_id, rows):
        response = api.post("/api/v1/predictions/batch/", {"modelId": model_id, "features": rows}, format="json")
        assert response.status_code == 200, response.content

    churn = synthetic.churn(n=240, seed=2024).rows
    for row in churn[:120]:
        row["nps_score"] = max(-100.0, row["nps_score"] - 60)
    batch("churn-prediction-v1", churn)
    leads = synthetic.leads(n=160, seed=77).rows
    for i, row in enumerate(leads):
        body = {"modelId": "lead-scoring-v2", "features": row, "context": {"objectId": f"L-{i}"}}
        assert api.post("/api/v1/predictions/", body, format="json").status_code == 200
    for row in leads[:40]:  # asked again: answered from the cache
        api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v1", "features": row}, format="json")
    for text in ("Great support, thanks!", "The export is broken again", "Renewal call went fine") * 6:
        api.post("/api/v1/predictions/", {"modelId": "sentiment-analysis-v1", "features": {"text": text}},
                 format="json")
    untrained_model()
    for row in churn[:6]:
        assert api.post("/api/v1/predictions/", {"modelId": "churn-untrained", "features": row},
                        format="json").status_code == 422
    rng = random.Random(5)
    now = timezone.now()
    metrics = list(Metric.objects.all())
    for m in metrics:
        # The untrained model's failures stay inside health's 300 s window: spread over the
        # hour, a draw could put all six outside it (batches are one metric record now, so
        # which draws they get moved) and the model would read healthy for want of traffic.
        spread = 250 if m.model_id == "churn-untrained" else 3500
        m.timestamp = now - timedelta(seconds=rng.uniform(0, spread))
    Metric.objects.bulk_update(metrics, ["timestamp"])
    get_user_model().objects.create_superuser("operator", "op@example.com", PASSWORD)
    return len(metrics)


def login(page, live_server, path="/dashboard/"):
    page.goto(f"{live_server.url}{path}")
    assert "/dashboard/login/" in page.url
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}*")


def wait_loaded(page, at_least=1):
    # A function, not an expression: Playwright evals expressions, which the CSP forbids.
    page.wait_for_function(f"() => Number(document.body.dataset.loaded || 0) >= {at_least}", timeout=30_000)


def chart_points(page, selector: str, name: str) -> list:
    return page.evaluate(
        """([sel, name]) => Chart.getChart(document.querySelector(`${sel} [data-chart="${name}"]`))
             .data.datasets.map(d => d.data)""",
        [selector, name],
    )


def test_it_logs_in_and_draws_every_models_health_with_real_data(page, live_server, traffic, shot):
    login(page, live_server)
    wait_loaded(page)
    cards = page.locator(".card[data-model]")
    assert cards.count() == MLModel.objects.count()

    churn = '[data-model="churn-prediction-v1"]'
    assert page.locator(f"{churn} .badge").inner_text().lower() == "degraded"
    assert "nps_score" in page.locator(f"{churn} .reason").inner_text()
    assert page.locator(f'{churn} tr.drifting[data-feature="nps_score"]').count() == 1
    throughput = chart_points(page, churn, "throughput")[0]
    assert len(throughput) == 60 and sum(throughput) > 0
    p50, p95, p99 = chart_points(page, churn, "latency")
    assert any(v is not None and v > 0 for v in p95)
    assert all(a <= b <= c for a, b, c in zip(p50, p95, p99, strict=True) if a is not None)
    assert page.locator('[data-model="churn-untrained"] .badge').inner_text().lower() == "unhealthy"

    arms = page.locator('[data-model="lead-scoring-v2"] .arms tr[data-arm]')
    assert arms.count() == 2
    rates = chart_points(page, '[data-model="lead-scoring-v1"]', "rates")
    assert any(v for v in rates[1] if v), "cache hits of lead-scoring-v1 should show"
    shot(page, "dashboard-1h")


def test_it_switches_the_window_and_opens_a_models_page(page, live_server, traffic, shot):
    login(page, live_server)
    wait_loaded(page)
    page.click('.window-selector button[data-window="300"]')
    wait_loaded(page, 2)
    assert "window=300" in page.url
    assert page.locator('.window-selector button[data-window="300"]').get_attribute("aria-pressed") == "true"
    assert len(chart_points(page, '[data-model="churn-prediction-v1"]', "throughput")[0]) == 30
    shot(page, "dashboard-5min", full_page=False)

    page.click('.window-selector button[data-window="86400"]')
    wait_loaded(page, 3)
    page.click('[data-model="churn-untrained"] .model-link')
    page.wait_for_url("**/dashboard/models/churn-untrained/**")
    wait_loaded(page)
    assert page.locator("#badge").inner_text().lower() == "unhealthy"
    errors = page.locator("#errors-table tbody tr")
    assert errors.count() == 6
    assert "model_not_trained" in errors.first.inner_text()
    assert "6" in page.locator("#stats-table").inner_text()
    shot(page, "model-churn-untrained")

    page.goto(f"{live_server.url}/dashboard/models/churn-prediction-v1/?window=3600")
    wait_loaded(page)
    assert sum(chart_points(page, "#model", "throughput")[0]) > 0
    assert page.locator('#drift tr.drifting[data-feature="nps_score"]').count() == 1
    shot(page, "model-churn-prediction")


def test_it_edits_a_model_in_the_admin_beside_its_health(page, live_server, traffic, shot):
    login(page, live_server)
    page.goto(f"{live_server.url}/admin/registry/mlmodel/churn-prediction-v1/change/")
    panel = page.locator(".hotcrm-health")
    assert "degraded" in panel.inner_text().lower() and "nps_score" in panel.inner_text()
    shot(page, "admin-model-before")
    page.fill("#id_cache_ttl", "120")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    assert MLModel.objects.get(pk="churn-prediction-v1").cache_ttl == 120
    shot(page, "admin-model-saved")
