"""Property tests: whatever JSON a caller sends as features, the API answers 200 or a
clean 400, and a 400 stores nothing."""

from __future__ import annotations

import io
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotcrm_ai.errors import InvalidInput
from hotcrm_ai.limits import JSONParser, json_depth_exceeds
from monitoring.models import Metric
from predictions.models import PredictionLog

VALID = {
    "lead-scoring-v1": {"company_size": 250, "industry": "Technology", "engagement_score": 85,
                        "job_title": "VP of Sales", "budget": 120000},
    "churn-prediction-v1": {"account_age": 24, "support_tickets": 3, "usage_frequency": 20, "nps_score": 30,
                            "payment_delays": 0},
    "sentiment-analysis-v1": {"text": "I love this product"},
    "revenue-forecast-v1": {"historical_revenue": [100000, 110000, 120000], "pipeline_value": 200000,
                            "seasonality": 2, "growth_rate": 0.05},
    "product-recommendation-v1": {"current_products": ["crm-core"], "industry": "Finance", "company_size": 500},
}



def json_values(largest_int: int = 2**60):
    return st.recursive(
        st.none() | st.booleans() | st.integers(min_value=-largest_int, max_value=largest_int)
        | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
        lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
        max_leaves=15,
    )


@st.composite
def mutated_features(draw):
    model_id = draw(st.sampled_from(sorted(VALID)))
    features = dict(VALID[model_id])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        name = draw(st.sampled_from([*features, "extra"]))
        if draw(st.booleans()):
            features[name] = draw(json_values())
        else:
            features.pop(name, None)
    return model_id, features


@pytest.mark.django_db
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated_features())
def test_it_answers_any_features_with_200_or_a_clean_400(api, case):
    model_id, features = case
    before = (PredictionLog.objects.count(), Metric.objects.count())
    body = json.dumps({"modelId": model_id, "features": features, "useCache": False})
    response = api.generic("POST", "/api/v1/predictions/", body, content_type="application/json")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        error = response.json()["error"]
        assert error["code"] and error["message"]
        assert (PredictionLog.objects.count(), Metric.objects.count()) == before
    else:
        assert PredictionLog.objects.count() == before[0] + 1


def depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@settings(max_examples=200, deadline=None)
@given(json_values(), st.integers(min_value=1, max_value=8))
def test_it_measures_nesting_as_the_recursive_definition_does(value, limit):
    if isinstance(value, dict | list):
        assert json_depth_exceeds(value, limit) == (depth(value) > limit)


def storable(value) -> bool:
    """No NUL and no lone surrogate in any string or key (what a database can store)."""
    if isinstance(value, str):
        return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(map(storable, value))
    return True


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values(largest_int=2**53 - 1), max_size=5))
def test_it_parses_every_json_within_the_limits_unchanged(value):
    body = io.BytesIO(json.dumps(value).encode())
    if not storable(value):
        with pytest.raises(InvalidInput):
            JSONParser().parse(body, parser_context={})
        return
    parsed = JSONParser().parse(body, parser_context={})
    assert parsed == value
    assert all(math.isfinite(v) for v in _floats(parsed))


def _floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from _floats(v)
