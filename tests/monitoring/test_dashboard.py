from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import Metric
from registry.models import MLModel
from registry.services import model_update
from tests.monitoring.support import CHURN, add_metrics, predict

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_user("operator", password="a-long-password-1")
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/data/", "/dashboard/models/lead-scoring-v1/"])
def test_it_sends_strangers_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/dashboard/login/")


def test_it_renders_the_dashboard_with_local_chart_js(operator):
    html = operator.get("/dashboard/").content.decode()
    assert "vendor/chartjs/chart.umd.min.js" in html and "cdn" not in html.lower()
    for label in ("5 min", "1 h", "24 h", "7 d"):
        assert label in html


def test_it_feeds_the_charts_with_real_series(operator, api):
    for i in range(5):
        predict(api, "churn-prediction-v1", CHURN | {"account_age": i + 1})
    add_metrics("churn-prediction-v1", [30] * 3, success=False)
    body = operator.get("/dashboard/data/?window=300").json()
    card = next(m for m in body["models"] if m["id"] == "churn-prediction-v1")
    assert card["stats"]["totalPredictions"] == 8 and card["stats"]["failedPredictions"] == 3
    series = card["series"]
    assert len(series["times"]) == 30 and series["bucketSeconds"] == 10
    assert sum(series["perMinute"]) * 10 / 60 == pytest.approx(8)
    assert max(v for v in series["errorRate"] if v is not None) > 0
    assert card["health"]["status"] == "unhealthy"


def test_it_shows_ab_arms_side_by_side(operator, api):
    lead = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
            "job_title": "VP of Sales", "budget": 120000}
    for arm in ("challenger", "champion", "champion"):
        predict(api, "lead-scoring-v2", lead, abArm=arm, useCache=False)
    card = next(m for m in operator.get("/dashboard/data/?window=3600").json()["models"] if m["id"] == "lead-scoring-v2")
    arms = {a["arm"]: a for a in card["arms"]}
    assert arms["challenger"]["modelId"] == "lead-scoring-v2" and arms["challenger"]["stats"]["totalPredictions"] == 1
    assert arms["champion"]["modelId"] == "lead-scoring-v1" and arms["champion"]["stats"]["totalPredictions"] == 2


def test_it_lists_a_models_recent_errors(operator):
    add_metrics("churn-prediction-v1", [12] * 2, success=False)
    body = operator.get("/dashboard/models/churn-prediction-v1/data/?window=86400").json()
    assert [e["code"] for e in body["model"]["recentErrors"]] == ["provider_failed"] * 2


def test_it_answers_bad_windows_and_unknown_models_with_clear_errors(operator):
    response = operator.get("/dashboard/data/?window=42")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_window"
    assert operator.get("/dashboard/models/nope/").status_code == 404
    assert operator.get("/dashboard/models/nope/data/").status_code == 404
    assert Metric.objects.count() == 0


def test_it_shows_health_and_stats_on_the_admin_model_page(client, api):
    admin = get_user_model().objects.create_superuser("admin", "a@example.com", "a-long-password-1")
    client.force_login(admin)
    predict(api, "churn-prediction-v1", CHURN)
    html = client.get("/admin/registry/mlmodel/churn-prediction-v1/change/").content.decode()
    assert "Health and stats" in html and "hotcrm-health" in html
    assert "Healthy" in html or "healthy" in html
    assert "/dashboard/models/churn-prediction-v1/" in html


def test_it_shows_the_ab_verdict_on_the_challengers_page_and_links_the_ask_page(operator, api):
    lead = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
            "job_title": "VP of Sales", "budget": 120000}
    for arm in ("challenger", "champion"):
        predict(api, "lead-scoring-v2", lead, abArm=arm, useCache=False)
    html = operator.get("/dashboard/models/lead-scoring-v2/").content.decode()
    assert 'id="ab-verdict"' in html and "ab-arm-challenger" in html and "ab-arm-champion" in html
    assert "not enough evidence yet" in html
    assert 'href="/dashboard/ask/"' in html
    assert 'id="ab-verdict"' not in operator.get("/dashboard/models/churn-prediction-v1/").content.decode()


def test_it_computes_the_dashboard_once_per_interval_for_every_viewer(operator):
    add_metrics("churn-prediction-v1", [12] * 2)
    first = operator.get("/dashboard/data/?window=300").json()
    add_metrics("churn-prediction-v1", [12] * 3)  # within DASHBOARD_CACHE_SECONDS: not yet shown

    with CaptureQueriesContext(connection) as queries:
        again = operator.get("/dashboard/data/?window=300").json()

    assert again == first
    assert [q["sql"] for q in queries if "monitoring_metric" in q["sql"] or "registry_mlmodel" in q["sql"]] == []
    assert operator.get("/dashboard/data/?window=3600").json()["generatedAt"] != first["generatedAt"]


def test_it_shows_a_registry_change_on_the_next_refresh(operator, django_capture_on_commit_callbacks):
    before = operator.get("/dashboard/data/?window=300").json()
    with django_capture_on_commit_callbacks(execute=True):  # the generation moves after commit
        model_update(model=MLModel.objects.get(pk="churn-prediction-v1"), data={"name": "Churn, renamed"})

    after = operator.get("/dashboard/data/?window=300").json()

    assert next(m for m in before["models"] if m["id"] == "churn-prediction-v1")["name"] != "Churn, renamed"
    assert next(m for m in after["models"] if m["id"] == "churn-prediction-v1")["name"] == "Churn, renamed"


def test_it_computes_every_refresh_when_the_cache_is_off(operator, settings):
    settings.HOTCRM = settings.HOTCRM | {"DASHBOARD_CACHE_SECONDS": 0}
    operator.get("/dashboard/data/?window=300")
    add_metrics("churn-prediction-v1", [12] * 3)

    card = next(m for m in operator.get("/dashboard/data/?window=300").json()["models"] if m["id"] == "churn-prediction-v1")

    assert card["stats"]["totalPredictions"] == 3
