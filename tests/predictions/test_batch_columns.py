"""A batch answers, logs and refuses each row as a single prediction of that row does. The
batch path works a lot of rows at a time (column-wise validation, the model answering
columns, bodies copied from one template a lot: predictions.services.predict_batch); the
single path a row at a time (`predict`). These tests hold the two to the same JSON, key
order included, the same log rows and the same errors, on varied batches: A/B arms,
contexts, rows from the cache, a fallback answering for a failing model."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotcrm_ai.errors import InvalidInput
from ml.schema import FeatureError, clean_columns, parse_schema, validate_features
from predictions.features import validate, validate_columns
from predictions.models import PredictionLog
from registry import services as registry_services
from registry.models import MLModel
from tests.predictions.providers.conftest import local_server, register, server  # noqa: F401  # fixtures
from tests.predictions.providers.servers import Reply

pytestmark = pytest.mark.django_db

TITLES = ["VP of Sales", "sales manager", "CEO", "Marketing Intern", "Sr. Dir. of IT", "Analyst", ""]
INDUSTRIES = ["Technology", "finance", "  Healthcare ", "RETAIL", "Aerospace", "Other"]
LOGGED = ("model_id", "model_version", "requested_model_id", "ab_arm", "provider", "features", "prediction",
          "label", "confidence", "cached", "shadow", "user_id", "object_type", "object_id", "actual")


def varied_leads(n: int) -> list[dict]:
    """Valid lead rows as clients send them: ints and integral floats, cased and padded
    categories, unknown industries (Other), keys in any order."""
    rows = []
    for i in range(n):
        row = {"company_size": 1 + i * 37 if i % 3 else float(1 + i * 37), "industry": INDUSTRIES[i % len(INDUSTRIES)],
               "engagement_score": (i * 7) % 101 if i % 2 else (i * 7 % 100) + 0.25,
               "job_title": TITLES[i % len(TITLES)], "budget": i * 1000 if i % 4 else i * 1000.5}
        rows.append(dict(reversed(row.items())) if i % 5 == 0 else row)
    return rows


def single(api, model_id: str, features: dict, **extra) -> dict:
    response = api.post("/api/v1/predictions/", {"modelId": model_id, "features": features, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def batch(api, model_id: str, rows: list, **extra) -> list[dict]:
    response = api.post("/api/v1/predictions/batch/", {"modelId": model_id, "features": rows, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def comparable(body: dict, *, cached: bool = True) -> str:
    """The body as JSON text (key order kept) without what differs between any two calls."""
    body = {**body, "metadata": {k: v for k, v in body["metadata"].items() if k != "predictionId"}}
    body.pop("processingTime")
    if not cached:
        body.pop("cached")
    return json.dumps(body)


def logged(result: dict) -> tuple:
    return PredictionLog.objects.values_list(*LOGGED).get(pk=result["metadata"]["predictionId"])


def assert_rows_answer_as_singles(api, model_id: str, rows: list, results: list[dict], *,
                                  contexts: list | None = None, cached: bool = True, **extra) -> None:
    assert len(results) == len(rows)
    for i, (row, result) in enumerate(zip(rows, results, strict=True)):
        context = (contexts or [{}])[i] if contexts else None
        arm = result["metadata"]["abTestArm"]
        one = single(api, model_id, row, **({"context": context} if context else {}),
                     **({"abArm": arm} if arm else {}), **extra)
        assert comparable(result, cached=cached) == comparable(one, cached=cached), i
        row_log, single_log = logged(result), logged(one)
        if not cached:
            row_log, single_log = row_log[:9] + row_log[10:], single_log[:9] + single_log[10:]
        assert row_log == single_log, i


def test_it_answers_and_logs_every_row_as_a_single_prediction_of_it(api):
    rows = varied_leads(40)
    assert validate_columns(MLModel.objects.get(pk="lead-scoring-v1"), rows) is not None  # the column path
    results = batch(api, "lead-scoring-v1", rows, useCache=False)
    assert_rows_answer_as_singles(api, "lead-scoring-v1", rows, results, useCache=False)
    churn = [{"account_age": i, "support_tickets": i % 9, "usage_frequency": i * 1.5, "nps_score": -50 + i,
              "payment_delays": float(i % 3)} for i in range(20)]
    results = batch(api, "churn-prediction-v1", churn, useCache=False)
    assert_rows_answer_as_singles(api, "churn-prediction-v1", churn, results, useCache=False)


def test_it_answers_each_row_on_its_arm_as_a_single_prediction_on_that_arm(api):
    registry_services.model_update(model=MLModel.objects.get(pk="lead-scoring-v2"), data={"ab_traffic_percentage": 50})
    rows = varied_leads(30)
    # Sticky objects and users, and rows without a context (a random arm, given to the single).
    contexts = [{"objectId": f"L-{i}", "objectType": "lead"} if i % 3 == 0 else {"userId": f"u-{i}"} if i % 3 == 1
                else {} for i in range(30)]
    results = batch(api, "lead-scoring-v2", rows, useCache=False, contexts=contexts)
    assert {r["metadata"]["abTestArm"] for r in results} == {"challenger", "champion"}
    assert_rows_answer_as_singles(api, "lead-scoring-v2", rows, results, contexts=contexts, useCache=False)


def test_it_answers_rows_from_the_cache_and_the_model_alike(api):
    rows = varied_leads(12)
    for row in rows[::3]:  # these rows' answers are in the cache before the batch
        single(api, "lead-scoring-v1", row)
    results = batch(api, "lead-scoring-v1", rows)
    assert [r["cached"] for r in results] == [i % 3 == 0 for i in range(12)]
    assert [logged(r)[LOGGED.index("cached")] for r in results] == [i % 3 == 0 for i in range(12)]
    assert_rows_answer_as_singles(api, "lead-scoring-v1", rows, results, cached=False)


def test_it_answers_by_the_fallback_as_a_single_prediction_does(api, server):  # noqa: F811  # the fixture
    server.handle = lambda request: Reply(503)
    register("lead-external-v1", "custom", endpoint=f"{server.url}/lead", type="classification",
             schema=MLModel.objects.get(pk="lead-scoring-v1").feature_schema,
             fallback_model=MLModel.objects.get(pk="lead-scoring-v1"))
    rows = varied_leads(8)
    results = batch(api, "lead-external-v1", rows)
    assert {(r["modelId"], r["metadata"]["fallbackFrom"]) for r in results} == {("lead-scoring-v1", "lead-external-v1")}
    assert_rows_answer_as_singles(api, "lead-external-v1", rows, results)


@pytest.mark.parametrize(("bad", "code"), [
    ({"company_size": True}, "invalid_type"),
    ({"company_size": 2.5}, "invalid_type"),
    ({"company_size": 0}, "out_of_range"),
    ({"company_size": 10_000_001}, "out_of_range"),
    ({"budget": -1}, "out_of_range"),
    ({"industry": 7}, "invalid_type"),
    ({"job_title": "x" * 201}, "too_long"),
    ({"job_title": None}, "missing_feature"),
    ({"colour": "red"}, "unknown_feature"),
])
def test_it_refuses_a_batch_naming_its_first_bad_row_as_row_by_row_validation_does(api, bad, code):
    rows = varied_leads(10)
    rows[6] = {**rows[6], **bad}
    rows[8] = {**rows[8], "company_size": -5}
    model = MLModel.objects.get(pk="lead-scoring-v1")
    with pytest.raises(InvalidInput) as expected:
        [validate(model, row, row=i) for i, row in enumerate(rows)]
    response = api.post("/api/v1/predictions/batch/", {"modelId": "lead-scoring-v1", "features": rows}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == expected.value.code == code
    assert error["message"] == expected.value.message
    assert (error["row"], error.get("feature")) == (6, expected.value.extra.get("feature"))
    assert not PredictionLog.objects.exists()


# --- the column-wise validator beside the row-wise one, on any values -------------------------

SCHEMAS = [
    parse_schema({"features": [
        {"name": "n", "type": "integer", "min": -5, "max": 2**60},
        {"name": "x", "type": "number", "min": -1e300, "max": 1e300},
        {"name": "c", "type": "category", "categories": ["Alpha", "beta", "ALPHA"], "maxLength": 6},
        {"name": "o", "type": "category", "categories": ["One", "Other"], "otherCategory": "Other"},
        {"name": "s", "type": "string", "maxLength": 5, "required": False, "default": "none"},
        {"name": "b", "type": "boolean", "required": False, "default": False},
        {"name": "l", "type": "number_list", "required": False, "default": [], "maxItems": 3, "min": 0},
        {"name": "t", "type": "string_list", "required": False, "default": []},
        {"name": "j", "type": "object", "required": False, "default": {}},
    ]}),
]
VALUES = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
          | st.sampled_from([0, 1, -5, 2**53 - 1, 2**53, 2**60, 1e300, 1e301, 0.5, 3.0, -0.0])
          | st.floats(allow_nan=True, allow_infinity=True)
          | st.sampled_from(["Alpha", " beta ", "ALPHA", "alpha", "one", "x" * 7, "", "abc", "Other"])
          | st.lists(st.integers(min_value=-2, max_value=5) | st.floats(allow_nan=False, max_value=1e300), max_size=4)
          | st.dictionaries(st.text(max_size=3), st.integers(), max_size=3))
GOOD = {"n": 3, "x": 1.5, "c": "beta", "o": "One"}


@st.composite
def batches(draw):
    rows = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        row = dict(GOOD)
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            name = draw(st.sampled_from(["n", "x", "c", "o", "s", "b", "l", "t", "j", "zz"]))
            if draw(st.integers(min_value=0, max_value=4)) == 0:
                row.pop(name, None)
            else:
                row[name] = draw(VALUES)
        rows.append(row if draw(st.integers(min_value=0, max_value=20)) else draw(VALUES))
    return rows


def row_by_row(specs, rows):
    try:
        return [validate_features(specs, row) for row in rows]
    except FeatureError:
        return None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=batches())
def test_the_column_path_proves_valid_only_what_each_row_validates_to(rows):
    specs = SCHEMAS[0]
    expected = row_by_row(specs, rows)
    columns = clean_columns(specs, rows)
    if columns is None:
        return  # the caller validates row by row: the same outcome by construction
    assert expected is not None, rows
    got = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    assert repr(got) == repr(expected)  # repr: 3 and 3.0 differ, so do 0.0 and -0.0


def test_the_column_path_proves_a_typical_batch_valid():
    rows = [{"n": i, "x": i / 3, "c": " Alpha", "o": "Nope", "b": True, "l": [1, 2.5]} for i in range(50)]
    rows[3]["n"], rows[4]["s"] = 7.0, None
    columns = clean_columns(SCHEMAS[0], rows)
    assert columns is not None
    assert repr([dict(zip(columns, v, strict=True)) for v in zip(*columns.values(), strict=True)]) == repr(
        row_by_row(SCHEMAS[0], rows))
    assert math.isclose(sum(columns["x"]), sum(i / 3 for i in range(50)))
