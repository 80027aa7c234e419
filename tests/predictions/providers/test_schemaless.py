"""A remote model registered without a featureSchema takes any JSON object of features and
sends it to its provider as it is, checked against the same local servers the providers'
own tests use; the limits every request has still hold."""

from __future__ import annotations

import json

import pytest

from monitoring.drift import model_drift
from predictions.models import PredictionLog
from registry.models import MLModel
from tests.predictions.providers.conftest import predict, predict_batch, register
from tests.predictions.providers.servers import Reply
from tests.predictions.providers.test_anthropic import KEY as ANTHROPIC_KEY
from tests.predictions.providers.test_anthropic import messages

pytestmark = pytest.mark.django_db

# What a CRM might send a model it knows better than we do: nesting, lists, nulls, flags,
# a float that happens to be whole, text beyond ASCII, keys no schema would allow.
FEATURES = {
    "account": {"tier": "gold", "regions": ["EMEA", "APAC"], "owner": None},
    "seats": 40, "arr": 125000.0, "churned_before": False, "notes": "Zürich — renewal 🚀",
    "Last Touch (days)": 3, "": "an empty key is still a key",
}


def echo(request):
    """A KServe V1 server whose answer depends on what it received: the number of keys and
    the sum of the numbers at the top level of each instance."""
    rows = request.json()["instances"]
    return Reply(200, {"predictions": [
        {"keys": len(r), "total": sum(v for v in r.values() if isinstance(v, int | float) and not isinstance(v, bool)),
         "confidence": 0.9}
        for r in rows
    ]})


@pytest.fixture
def bare(server):
    server.handle = echo
    return register("bare-v1", "custom", endpoint=f"{server.url}/v1/models/bare:predict", schema={})


def sent_instances(server):
    [request] = server.requests
    # Parsed without losing key order, so "as it is" includes the order the caller chose.
    return json.loads(request.body)["instances"]


def test_it_sends_the_features_of_a_model_without_a_schema_unchanged(api, server, bare):
    response = predict(api, "bare-v1", FEATURES)
    assert response.status_code == 200, response.content
    assert response.json()["prediction"] == {"keys": 7, "total": 125043.0}
    [instance] = sent_instances(server)
    assert instance == FEATURES
    assert list(instance) == list(FEATURES)
    assert b'"arr":125000.0' in server.requests[0].body.replace(b" ", b"")  # not coerced to an integer
    log = PredictionLog.objects.get()
    assert log.features == FEATURES


def test_it_sends_a_batch_of_rows_with_different_keys_unchanged(api, server, bare):
    rows = [{"a": 1}, {"b": [1, 2], "c": {"d": "x"}}, {}]
    response = predict_batch(api, "bare-v1", rows)
    assert response.status_code == 200, response.content
    assert [r["prediction"]["keys"] for r in response.json()["results"]] == [1, 2, 0]
    assert sent_instances(server) == rows


def test_it_caches_on_the_canonical_json_of_the_features(api, server, bare):
    MLModel.objects.filter(pk="bare-v1").update(cache_ttl=300)
    first = predict(api, "bare-v1", {"x": 1, "y": {"p": [1, 2], "q": "s"}}).json()
    again = predict(api, "bare-v1", {"y": {"q": "s", "p": [1, 2]}, "x": 1.0}).json()  # other order, 1.0 is 1 in JSON
    other = predict(api, "bare-v1", {"x": 1, "y": {"p": [2, 1], "q": "s"}}).json()  # a list's order matters
    assert (first["cached"], again["cached"], other["cached"]) == (False, True, False)
    assert again["prediction"] == first["prediction"]
    assert len(server.requests) == 2


@pytest.mark.parametrize(("features", "code"), [
    (["not", "an", "object"], "invalid_features"),
    ("text", "invalid_features"),
    ({f"k{i}": i for i in range(201)}, "too_many_features"),
    ({"deep": {"er": {"est": "\u0000"}}}, "invalid_text"),
    ({"surrogate": ["ok", "\ud800"]}, "invalid_text"),
])
def test_it_still_refuses_what_no_request_may_hold(api, server, bare, features, code):
    # Sent as JSON text with \u escapes, as a client would spell NUL or a lone surrogate.
    body = json.dumps({"modelId": "bare-v1", "features": features})
    response = api.post("/api/v1/predictions/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert server.requests == [] and not PredictionLog.objects.exists()


def test_it_refuses_json_nested_past_the_limit(api, server, bare, settings):
    deep: dict = {}
    node = deep
    for _ in range(settings.HOTCRM["MAX_JSON_DEPTH"]):
        node["n"] = {}
        node = node["n"]
    response = predict(api, "bare-v1", deep)
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_deep"
    assert server.requests == []


def test_it_refuses_a_non_finite_number_in_a_row_built_outside_the_parser():
    from hotcrm_ai.errors import InvalidInput
    from predictions.features import validate

    model = MLModel(id="bare-local-check", feature_schema={})
    with pytest.raises(InvalidInput) as refused:
        validate(model, {"a": [1.0, float("nan")]}, row=3)
    assert refused.value.code == "invalid_value" and refused.value.message.startswith("features[3]: features.a.1")


def test_it_sends_a_table_with_the_rows_own_columns_to_azure(api, server):
    def scoring(request):
        frame = request.json()["input_data"]
        return Reply(200, [len([v for v in row if v is not None]) for row in frame["data"]])

    server.handle = scoring
    register("bare-azure", "azure-ml", endpoint=f"{server.url}/score", schema={}, credentials={"apiKey": "k"})
    response = predict_batch(api, "bare-azure", [{"a": 1, "b": {"n": [1]}}, {"b": "x", "c": True}])
    assert response.status_code == 200, response.content
    assert [r["prediction"] for r in response.json()["results"]] == [2, 2]
    [request] = server.requests
    assert request.json()["input_data"] == {"columns": ["a", "b", "c"], "index": [0, 1],
                                            "data": [[1, {"n": [1]}, None], [None, "x", True]]}


def test_it_gives_an_llm_the_features_as_json(api, server):
    server.handle = messages
    register("bare-claude", "anthropic", endpoint=server.url, schema={}, credentials={"apiKey": ANTHROPIC_KEY},
             config={"model": "claude-test", "task": "text"})
    response = predict(api, "bare-claude", FEATURES)
    assert response.status_code == 200, response.content
    prompt = server.requests[0].json()["messages"][-1]["content"]
    # Keys sorted, so that two orders of one object (one cache entry) are one prompt.
    assert json.loads(prompt) == FEATURES and prompt == json.dumps(FEATURES, sort_keys=True, ensure_ascii=False)
    assert response.json()["prediction"] == {"text": f"Next step for: {prompt}"}


AWS = {"accessKeyId": "AKIDHOTCRMTEST0001", "secretAccessKey": "secret", "region": "eu-west-1"}


@pytest.mark.parametrize(("provider", "config", "credentials", "says"), [
    ("custom", {"request": {"rowFormat": "array"}}, None, "set config.request.features or a featureSchema"),
    ("aws-sagemaker", {"endpointName": "deal-endpoint", "contentType": "text/csv"}, AWS,
     "set config.request.features or a featureSchema"),
    ("custom", {"protocol": "v2"}, None, "import-schema"),
])
def test_it_says_what_to_set_when_rows_must_go_by_position(api, server, provider, config, credentials, says):
    register("bare-positional", provider, endpoint=server.url, schema={}, config=config, credentials=credentials)
    response = predict(api, "bare-positional", {"a": 1, "b": 2})
    assert response.status_code == 502, response.content
    error = response.json()["error"]
    assert error["reason"] == "misconfigured" and says in error["message"]
    assert server.requests == []


def test_it_refuses_to_explain_a_model_without_a_schema_and_says_what_to_add(api, server, bare):
    explain = api.post("/api/v1/explanations/", {"modelId": "bare-v1", "features": {"a": 1}}, format="json")
    compare = api.post("/api/v1/explanations/compare/", {"modelId": "bare-v1", "features1": {"a": 1},
                                                         "features2": {"a": 2}}, format="json")
    for response in (explain, compare):
        assert response.status_code == 422, response.content
        error = response.json()["error"]
        assert error["code"] == "explanation_needs_schema" and "add a featureSchema" in error["message"]
    assert server.requests == []


def test_it_skips_drift_for_a_model_without_a_schema_and_says_why(api, server, bare):
    predict_batch(api, "bare-v1", [{"a": i} for i in range(50)])
    drift = model_drift(MLModel.objects.get(pk="bare-v1"))
    assert drift["available"] is False and drift["drifting"] == []
    assert "no featureSchema" in drift["reason"]


def test_its_v2_endpoint_takes_any_columns_and_sends_them_on_as_rows(api, server, bare):
    metadata = api.get("/v2/models/bare-v1").json()
    assert metadata["inputs"] == []
    response = api.post("/v2/models/bare-v1/infer", {"inputs": [
        {"name": "seats", "shape": [2, 1], "datatype": "INT64", "data": [40, 7]},
        {"name": "region", "shape": [2], "datatype": "BYTES", "data": ["EMEA", "APAC"]},
    ]}, format="json")
    assert response.status_code == 200, response.content
    assert sent_instances(server) == [{"seats": 40, "region": "EMEA"}, {"seats": 7, "region": "APAC"}]
    total = next(o for o in response.json()["outputs"] if o["name"] == "total")
    assert total["data"] == [40.0, 7.0]


def test_its_health_check_scores_the_configured_example_row_as_it_is(server):
    from predictions.providers import health_check

    server.handle = echo
    row = {"account": {"tier": "gold"}, "seats": 3}
    model = register("bare-health", "custom", endpoint=f"{server.url}/score", schema={},
                     config={"healthCheckFeatures": row})
    result = health_check(model)
    assert result.ok, result.detail
    assert "scored one example row" in result.detail
    assert sent_instances(server) == [row]
