"""A challenger's shadow runs are counted apart from the traffic it serves: in its stats,
on /metrics, in the A/B report and on the dashboard."""

from __future__ import annotations

import pytest

from monitoring.models import Metric
from registry import services
from registry.models import AbMode, MLModel
from tests.monitoring.metrics_text import scrape, total
from tests.predictions.test_apis import LEAD, predict

pytestmark = pytest.mark.django_db
CHALLENGER, CHAMPION = "lead-scoring-v2", "lead-scoring-v1"


def ab_settings(**data) -> MLModel:
    return services.model_update(model=MLModel.objects.get(pk=CHALLENGER), data=data)


def test_it_counts_shadow_runs_apart_from_served_traffic(api, client):
    ab_settings(ab_mode=AbMode.SHADOW, ab_traffic_percentage=100)
    before = scrape(client)
    for n in range(12):
        body = predict(api, CHALLENGER, {**LEAD, "company_size": 10 + n}, context={"objectId": f"L-{n}"}).json()
        assert body["modelId"] == CHAMPION
    rows = [{**LEAD, "company_size": 100 + n} for n in range(8)]
    response = api.post("/api/v1/predictions/batch/", {"modelId": CHALLENGER, "features": rows}, format="json")
    assert response.status_code == 200
    assert Metric.objects.filter(model_id=CHALLENGER, ab_arm="shadow").exists()

    stats = api.get(f"/api/v1/models/{CHALLENGER}/stats/").json()
    assert stats["totalPredictions"] == 0 and stats["p95Latency"] is None and stats["lastUpdated"] is None
    assert stats["shadowRuns"] == 20 and stats["shadowFailures"] == 0
    champion = api.get(f"/api/v1/models/{CHAMPION}/stats/").json()
    assert champion["totalPredictions"] == 20 and champion["shadowRuns"] == 0

    report = api.get(f"/api/v1/models/{CHALLENGER}/ab-test/").json()
    challenger_arm, champion_arm = report["arms"]["challenger"], report["arms"]["champion"]
    assert challenger_arm["predictions"] == 0 and challenger_arm["shadowRuns"] == 20
    assert challenger_arm["latency"] == {"mean": None, "p95": None} and challenger_arm["failures"] == 0
    assert champion_arm["predictions"] == 20 and champion_arm["shadowRuns"] == 0

    after = scrape(client)
    served = {"model": CHALLENGER}
    assert total(after, "hotcrm_predictions_total", **served) == total(before, "hotcrm_predictions_total", **served)
    assert (total(after, "hotcrm_shadow_runs_total", **served)
            - total(before, "hotcrm_shadow_runs_total", **served)) == 20
    # 12 single requests and one batch: 13 shadow runs timed
    assert (total(after, "hotcrm_shadow_latency_seconds_count", **served)
            - total(before, "hotcrm_shadow_latency_seconds_count", **served)) == 13
    assert (total(after, "hotcrm_predictions_total", model=CHAMPION)
            - total(before, "hotcrm_predictions_total", model=CHAMPION)) == 20


def test_it_judges_a_shadow_challenger_on_its_shadow_outcomes(api):
    ab_settings(ab_mode=AbMode.SHADOW, ab_traffic_percentage=100)
    for n in range(15):
        body = predict(api, CHALLENGER, {**LEAD, "engagement_score": n * 6}, context={"objectId": f"L-{n}"}).json()
        api.post(f"/api/v1/predictions/{body['metadata']['predictionId']}/feedback/",
                 {"actual": body["prediction"]["class"]}, format="json")
    report = api.get(f"/api/v1/models/{CHALLENGER}/ab-test/").json()
    challenger_arm = report["arms"]["challenger"]
    assert challenger_arm["predictions"] == 0 and challenger_arm["shadowRuns"] == 15
    assert challenger_arm["outcomes"] == 15 and report["arms"]["champion"]["outcomes"] == 15


def test_it_counts_a_failing_shadow_run_apart_from_the_challengers_failures(api):
    from tests.monitoring.support import untrained_model

    lead = MLModel.objects.get(pk=CHALLENGER)
    untrained_model("lead-untrained", feature_schema=lead.feature_schema, type=lead.type, ab_enabled=True,
                    ab_mode=AbMode.SHADOW, ab_traffic_percentage=100, ab_champion_id=CHAMPION)
    for n in range(3):
        assert predict(api, "lead-untrained", LEAD, context={"objectId": f"L-{n}"}).status_code == 200
    stats = api.get("/api/v1/models/lead-untrained/stats/").json()
    assert stats["totalPredictions"] == 0 and stats["errorRate"] == 0
    assert stats["shadowRuns"] == 3 and stats["shadowFailures"] == 3
    health = api.get("/api/v1/models/lead-untrained/health/").json()
    assert health["status"] == "healthy"  # it served nothing: its shadow failures harmed no caller
    arm = api.get("/api/v1/models/lead-untrained/ab-test/").json()["arms"]["challenger"]
    assert arm["failures"] == 0 and arm["shadowFailures"] == 3


def test_it_shows_the_shadow_arm_on_the_dashboard(admin_client, api):
    ab_settings(ab_mode=AbMode.SHADOW, ab_traffic_percentage=100)
    for n in range(4):
        predict(api, CHALLENGER, LEAD, context={"objectId": f"L-{n}"}, useCache=False)
    card = admin_client.get(f"/dashboard/models/{CHALLENGER}/data/?window=3600").json()["model"]
    arms = {a["arm"]: a for a in card["arms"]}
    assert set(arms) == {"shadow", "champion"}
    assert arms["shadow"]["stats"]["totalPredictions"] == 4 and arms["champion"]["stats"]["totalPredictions"] == 4
    assert card["stats"]["totalPredictions"] == 0 and card["stats"]["shadowRuns"] == 4
