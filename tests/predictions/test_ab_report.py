"""The A/B verdict: GET /models/{id}/ab-test/ on seeded scenarios where the challenger is
truly better and where it is not, and the statistics underneath."""

from __future__ import annotations

import random

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from monitoring.models import Metric
from predictions.ab.verdict import compare_accuracy, compare_errors
from predictions.models import PredictionLog
from registry import services
from registry.models import MLModel
from tests.predictions.test_apis import LEAD, predict

OTHER = {"hot": "cold", "warm": "hot", "cold": "warm"}


def run_scenario(api, *, challenger_right: float, champion_right: float, objects: int, seed: int) -> dict:
    """Real predictions for `objects` leads, then outcomes drawn so that each arm's answers
    are right with the given probability (the world in which one model is truly better)."""
    services.model_update(model=MLModel.objects.get(pk="lead-scoring-v2"), data={"ab_traffic_percentage": 50})
    rng = random.Random(seed)
    for n in range(objects):
        lead = {**LEAD, "engagement_score": n % 101, "company_size": 10 + n}
        body = predict(api, "lead-scoring-v2", lead, context={"objectId": f"L-{seed}-{n}"}).json()
        right = challenger_right if body["metadata"]["abTestArm"] == "challenger" else champion_right
        label = body["prediction"]["class"]
        actual = label if rng.random() < right else OTHER[label]
        response = api.post(f"/api/v1/predictions/{body['metadata']['predictionId']}/feedback/",
                            {"actual": actual}, format="json")
        assert response.status_code == 201
    response = api.get("/api/v1/models/lead-scoring-v2/ab-test/")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_it_declares_a_truly_better_challenger_ahead(api):
    report = run_scenario(api, challenger_right=0.92, champion_right=0.72, objects=300, seed=1)
    challenger, champion = report["arms"]["challenger"], report["arms"]["champion"]
    assert challenger["modelId"] == "lead-scoring-v2" and champion["modelId"] == "lead-scoring-v1"
    assert challenger["predictions"] + champion["predictions"] == 300
    assert challenger["outcomes"] == challenger["predictions"] and champion["outcomes"] == champion["predictions"]
    assert challenger["accuracy"] > champion["accuracy"]
    assert report["metric"] == "accuracy" and report["significance"]["winner"] == "challenger"
    assert report["significance"]["pValue"] < 0.05
    assert report["verdict"] == "challenger ahead at 95% confidence"
    for name, arm in (("challenger", challenger), ("champion", champion)):
        metrics = Metric.objects.filter(model_id=arm["modelId"], ab_arm=name)
        latencies = np.array(metrics.values_list("latency_ms", flat=True))
        assert len(latencies) == arm["predictions"]
        assert arm["latency"]["mean"] == pytest.approx(latencies.mean(), abs=1e-3)
        assert arm["latency"]["p95"] == pytest.approx(np.percentile(latencies, 95), abs=1e-3)
        confidences = PredictionLog.objects.filter(model_id=arm["modelId"]).values_list("confidence", flat=True)
        assert arm["meanConfidence"] == pytest.approx(np.mean(list(confidences)), abs=0.01)


@pytest.mark.django_db
def test_it_asks_for_more_outcomes_when_the_challenger_is_not_better(api):
    report = run_scenario(api, challenger_right=0.8, champion_right=0.8, objects=200, seed=2)
    assert report["significance"]["winner"] is None
    assert report["significance"]["pValue"] >= 0.05
    needed = report["significance"]["outcomesNeeded"]
    assert needed > 0
    assert report["verdict"] == f"not enough evidence yet: about {needed} more outcomes needed"


@pytest.mark.django_db
def test_it_answers_422_for_a_model_without_an_ab_test_and_404_for_an_unknown_one(api):
    response = api.get("/api/v1/models/churn-prediction-v1/ab-test/")
    assert response.status_code == 422 and response.json()["error"]["code"] == "no_ab_test"
    assert api.get("/api/v1/models/no-such-model/ab-test/").status_code == 404


def test_it_finds_a_clear_accuracy_difference_significant():
    verdict = compare_accuracy(180, 200, 600, 800)  # 90% vs 75%
    assert verdict.winner == "challenger" and verdict.p_value < 0.001
    assert compare_accuracy(150, 200, 720, 800).winner == "champion"


def test_it_counts_the_outcomes_a_level_test_still_needs_from_a_power_calculation():
    verdict = compare_accuracy(85, 100, 80, 100)  # 85% vs 80%: not yet
    assert verdict.winner is None and verdict.p_value > 0.05
    per_arm = NormalIndPower().solve_power(proportion_effectsize(0.85, 0.80), alpha=0.05, power=0.8, ratio=1)
    assert verdict.outcomes_needed == pytest.approx(2 * per_arm - 200, abs=1)
    assert verdict.text == f"not enough evidence yet: about {verdict.outcomes_needed} more outcomes needed"


def test_it_runs_no_test_before_each_arm_has_a_few_outcomes():
    verdict = compare_accuracy(3, 3, 0, 3)
    assert verdict.p_value is None and verdict.winner is None and verdict.outcomes_needed > 0


def test_it_compares_absolute_errors_with_welchs_t_test():
    rng = random.Random(3)
    better = [abs(rng.gauss(0, 10)) for _ in range(200)]
    worse = [abs(rng.gauss(0, 30)) for _ in range(200)]
    verdict = compare_errors(better, worse)
    assert verdict.test == "Welch t-test" and verdict.winner == "challenger" and verdict.p_value < 0.05
    assert compare_errors(worse, better).winner == "champion"
    level = compare_errors(better[:100], better[100:])
    assert level.winner is None and level.outcomes_needed > 0
