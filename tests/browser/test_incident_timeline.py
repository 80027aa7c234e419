"""A model's dashboard page shows its alert incidents: a 7-day timeline and a list, the
live one fired by the real evaluator over real failing traffic."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from alerts.models import Incident
from alerts.services import alerts_evaluate, rule_create
from tests.browser.test_dashboard import PASSWORD, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def incidents():
    from tests.monitoring.support import add_metrics, ensure_builtin_models

    ensure_builtin_models()
    now = timezone.now()
    for days, hours in ((6, 3), (4, 0.5), (2, 9)):
        fired = now - timedelta(days=days)
        Incident.objects.create(rule_name="churn unhealthy", condition="health", model_id="churn-prediction-v1",
                                status="resolved", reason="churn-prediction-v1 is unhealthy: Error rate 14.0% "
                                "is above 10%.", since=fired, fired_at=fired,
                                resolved_at=fired + timedelta(hours=hours))
    rule_create(data={"name": "churn unhealthy", "condition": "health", "level": "unhealthy", "min_samples": 5,
                      "model_id": "churn-prediction-v1"})
    add_metrics("churn-prediction-v1", [12] * 6, success=False)
    add_metrics("churn-prediction-v1", [12] * 20)
    assert alerts_evaluate()["fired"] == 1
    get_user_model().objects.create_superuser("operator", "op@example.com", PASSWORD)


def test_it_draws_a_models_incidents_on_a_timeline(page, live_server, incidents, shot):
    login(page, live_server, "/dashboard/models/churn-prediction-v1/")
    page.wait_for_selector("#incidents-table")
    rows = page.locator("#incidents-table tbody tr")
    assert rows.count() == 4
    assert rows.first.get_attribute("data-status") == "firing"
    assert "Error rate 23.1% is above 10%" in rows.first.inner_text()
    assert page.locator(".incident-bar.firing").count() == 1
    assert page.locator(".incident-bar.resolved").count() == 3
    assert page.locator(".incident-count").inner_text().lower() == "1 firing"
    page.locator("#incident-timeline").scroll_into_view_if_needed()
    shot(page, "incident-timeline")
