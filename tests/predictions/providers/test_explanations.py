"""Explanations of models served by external providers: the explainer's coalition rows go
through the provider's batch path (one scoring call for Azure ML, as few invocations as the
payload allows for SageMaker, concurrent calls for OpenAI), and the Shapley values add up."""

from __future__ import annotations

import pytest

from tests.predictions.providers import test_azure, test_openai, test_sagemaker
from tests.predictions.providers.conftest import register

pytestmark = pytest.mark.django_db
BACKGROUND = [{"amount": 100, "segment": "smb"}, {"amount": 300, "segment": "enterprise"}]
DEAL = {"amount": 300, "segment": "enterprise"}


def explain(api, model_id, features):
    response = api.post("/api/v1/explanations/", {"modelId": model_id, "features": features}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def shap_values(body):
    return {c["feature"]: c["shapValue"] for c in body["featureContributions"]}


def test_it_explains_an_azure_ml_model_in_one_scoring_call(api, server):
    server.handle = test_azure.scoring
    register("azure-explained-v1", "azure-ml", endpoint=f"{server.url}/score", type="classification",
             credentials={"apiKey": test_azure.KEY}, config={"explanationBackground": BACKGROUND})
    body = explain(api, "azure-explained-v1", DEAL)
    # The endpoint scores amount / 1000 + 0.3 for enterprise: additive, so the values are exact.
    assert shap_values(body) == {"amount": pytest.approx(0.1), "segment": pytest.approx(0.15)}
    assert body["baseValue"] == pytest.approx(0.35) and body["outputValue"] == pytest.approx(0.6)
    assert len(server.requests) == 1


def test_it_explains_a_sagemaker_model_in_few_invocations(api, server):
    server.handle = test_sagemaker.sagemaker
    register("sm-explained-v1", "aws-sagemaker", endpoint=server.url, type="classification",
             credentials=test_sagemaker.CREDENTIALS,
             config={"endpointName": "deal-endpoint", "explanationBackground": BACKGROUND})
    body = explain(api, "sm-explained-v1", DEAL)
    assert shap_values(body) == {"amount": pytest.approx(0.1), "segment": pytest.approx(0.125)}
    assert body["baseValue"] + sum(shap_values(body).values()) == pytest.approx(body["outputValue"])
    assert len(server.requests) == 1


def test_it_explains_an_openai_sentiment_word_by_word(api, server):
    server.handle = test_openai.completion
    register("gpt-explained-v1", "openai", endpoint=f"{server.url}/v1", type="nlp", schema=test_openai.TEXT_SCHEMA,
             credentials={"apiKey": test_openai.KEY}, config={"model": "gpt-test-mini"})
    body = explain(api, "gpt-explained-v1", {"text": "great support, broken app"})
    assert body["baseValue"] + sum(shap_values(body).values()) == pytest.approx(body["outputValue"], abs=1e-6)
    words = {c["feature"]: c["shapValue"] for c in body["featureContributions"]}
    assert max(words, key=words.get).startswith("great") and min(words, key=words.get).startswith("broken")


@pytest.mark.parametrize(("answer", "path"), [
    (lambda p: {"class": "yes" if p > 0.5 else "no", "probabilities": {"yes": p, "no": 1 - p}}, "probabilities.yes"),
    (lambda p: {"scores": [1 - p, p]}, "scores.1"),
])
def test_it_explains_the_number_explanation_output_points_to_inside_an_answer(api, server, answer, path):
    from tests.predictions.providers.servers import Reply

    def endpoint(request):
        rows = request.json()["instances"]
        return Reply(200, {"predictions": [
            answer(r["amount"] / 1000 + (0.3 if r["segment"] == "enterprise" else 0)) for r in rows]})

    server.handle = endpoint
    register("nested-v1", "custom", endpoint=f"{server.url}/invocations", type="classification",
             config={"explanationBackground": BACKGROUND, "explanationOutput": path})
    body = explain(api, "nested-v1", DEAL)
    assert shap_values(body) == {"amount": pytest.approx(0.1), "segment": pytest.approx(0.15)}
    assert body["outputValue"] == pytest.approx(0.6)
