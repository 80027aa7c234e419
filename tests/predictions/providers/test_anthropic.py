"""The `anthropic` provider through the official SDK against a local server implementing the
Messages API (`POST /v1/messages` with tools, `GET /v1/models/{id}`): forced tool calls at
temperature 0, the stated confidence, retries, timeouts and the circuit breaker."""

from __future__ import annotations

import logging

import pytest

from predictions.providers import provider_for
from tests.predictions.providers.conftest import predict, predict_batch, register
from tests.predictions.providers.servers import Reply
from tests.predictions.providers.test_openai import TEXT_SCHEMA, judge

pytestmark = pytest.mark.django_db
KEY = "sk-ant-api03-hotcrm-test-9c1d2e3f"


def error(status: int, kind: str, message: str) -> Reply:
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}})


def messages(request):
    """An emulated Claude: it believes what `judge` says and states that belief."""
    if request.headers.get("x-api-key") != KEY:
        return error(401, "authentication_error", f"invalid x-api-key {request.headers.get('x-api-key')}")
    if request.method == "GET":
        model = request.path.rsplit("/", 1)[1]
        return Reply(200, {"type": "model", "id": model, "display_name": model, "created_at": "2025-01-01T00:00:00Z"})
    body = request.json()
    assert body["temperature"] == 0 and "anthropic-version" in request.headers
    [tool] = body["tools"]
    assert body["tool_choice"] == {"type": "tool", "name": tool["name"]}
    schema = tool["input_schema"]
    key = next(iter(schema["properties"]))
    text = body["messages"][-1]["content"]
    if key == "text":
        answer = {"text": f"Next step for: {text}", "confidence": 0.8}
    else:
        labels = schema["properties"][key]["enum"]
        beliefs = judge(text) if key == "sentiment" else {labels[len(text) % len(labels)]: 0.7}
        label = max(beliefs, key=beliefs.get)
        answer = {key: label, "confidence": beliefs[label]}
    return Reply(200, {
        "id": "msg_test", "type": "message", "role": "assistant", "model": body["model"],
        "content": [{"type": "tool_use", "id": "toolu_test", "name": tool["name"], "input": answer}],
        "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 30, "output_tokens": 12},
    })


@pytest.fixture
def sentiment(server):
    server.handle = messages
    return register("claude-sentiment-v1", "anthropic", endpoint=server.url, type="nlp", schema=TEXT_SCHEMA,
                    credentials={"apiKey": KEY}, config={"model": "claude-test"})


def test_it_reads_sentiment_and_the_stated_confidence_from_a_forced_tool_call(api, server, sentiment):
    response = predict(api, "claude-sentiment-v1", {"text": "I love this product, the support was great!"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["prediction"] == {"sentiment": "positive", "score": pytest.approx(0.95)}
    assert body["confidence"] == pytest.approx(95.0)
    assert body["metadata"]["confidenceSource"] == "stated"
    assert body["metadata"]["provider"] == "anthropic"
    [request] = server.requests
    assert request.path == "/v1/messages"
    sent = request.json()
    assert sent["model"] == "claude-test"
    assert sent["tools"][0]["input_schema"]["properties"]["sentiment"]["enum"] == ["positive", "neutral", "negative"]
    assert request.headers["x-api-key"] == KEY


def test_its_confidence_follows_what_the_model_states_row_by_row(api, server, sentiment):
    rows = [{"text": "I hate it, it is broken and awful"}, {"text": "I hate the wait"}, {"text": "Meeting on Tuesday"}]
    results = predict_batch(api, "claude-sentiment-v1", rows).json()["results"]
    assert [r["prediction"]["sentiment"] for r in results] == ["negative", "negative", "neutral"]
    assert [r["confidence"] for r in results] == [pytest.approx(95.0), pytest.approx(75.0), pytest.approx(60.0)]
    assert len(server.requests) == 3


def test_it_classifies_into_the_configured_labels(api, server):
    server.handle = messages
    register("claude-tier-v1", "anthropic", endpoint=server.url, type="classification",
             credentials={"apiKey": KEY}, config={"labels": ["hot", "warm", "cold"]})
    body = predict(api, "claude-tier-v1", {"amount": 500, "segment": "smb"}).json()
    assert body["prediction"]["class"] in {"hot", "warm", "cold"}
    assert body["confidence"] == pytest.approx(70.0)
    sent = server.requests[0].json()
    assert sent["tools"][0]["input_schema"]["properties"]["class"]["enum"] == ["hot", "warm", "cold"]
    assert "hot, warm, cold" in sent["system"]


def test_it_answers_free_text_through_the_tool_too(api, server):
    server.handle = messages
    register("claude-advice-v1", "anthropic", endpoint=server.url, type="regression", schema=TEXT_SCHEMA,
             credentials={"apiKey": KEY}, config={"task": "text", "instructions": "Suggest a next step."})
    body = predict(api, "claude-advice-v1", {"text": "Lead went quiet"}).json()
    assert body["prediction"] == {"text": "Next step for: Lead went quiet"}
    assert body["confidence"] == pytest.approx(80.0)
    assert server.requests[0].json()["system"] == "Suggest a next step."


def test_it_refuses_a_classifier_without_labels(staff_api):
    response = staff_api.post("/api/v1/models/", {
        "id": "claude-nolabels-v1", "name": "x", "version": "1", "type": "classification", "provider": "anthropic",
        "providerConfig": {"config": {"task": "classification"}}}, format="json")
    assert response.status_code == 400
    assert "labels" in response.json()["error"]["message"]


def test_it_retries_an_overloaded_529_then_succeeds(api, server, sentiment):
    server.queue(error(529, "overloaded_error", "Overloaded"))
    response = predict(api, "claude-sentiment-v1", {"text": "great"})
    assert response.status_code == 200, response.content
    assert len(server.requests) == 2


def test_it_answers_504_when_the_server_sleeps_past_the_timeout(api, server, sentiment):
    server.queue(Reply(200, {}, delay=1.5))
    assert predict(api, "claude-sentiment-v1", {"text": "hello"}).status_code == 504
    assert len(server.requests) == 1


@pytest.mark.parametrize("answer", [
    {"content": [{"type": "text", "text": "positive"}], "stop_reason": "end_turn"},
    {"content": [{"type": "tool_use", "id": "t", "name": "record_answer",
                  "input": {"sentiment": "ecstatic", "confidence": 0.9}}], "stop_reason": "tool_use"},
    {"content": [{"type": "tool_use", "id": "t", "name": "record_answer", "input": {"sentiment": "pos"}}],
     "stop_reason": "max_tokens"},
])
def test_it_refuses_a_malformed_answer(api, server, sentiment, answer):
    server.queue(Reply(200, {"id": "m", "type": "message", "role": "assistant", "model": "claude-test",
                             "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}, **answer}))
    response = predict(api, "claude-sentiment-v1", {"text": "great"})
    assert response.status_code == 502
    assert response.json()["error"]["reason"] == "malformed_response"


def test_it_never_shows_the_key_the_server_quotes_back(api, server, caplog):
    caplog.set_level(logging.DEBUG)
    server.handle = messages
    register("claude-bad-key-v1", "anthropic", endpoint=server.url, type="nlp", schema=TEXT_SCHEMA,
             credentials={"apiKey": "sk-ant-wrong-key-55bb"})
    response = predict(api, "claude-bad-key-v1", {"text": "great"})
    assert response.status_code == 502
    assert "authentication_error" in response.json()["error"]["message"]
    assert "sk-ant-wrong-key-55bb" not in response.content.decode() + caplog.text
    assert len(server.requests) == 1  # a 401 is not retried


def test_it_opens_the_shared_circuit_after_repeated_failures(api, server, sentiment):
    server.handle = lambda request: error(500, "api_error", "Internal server error")
    statuses = [predict(api, "claude-sentiment-v1", {"text": f"row {i}"}).status_code for i in range(5)]
    sent = len(server.requests)
    response = predict(api, "claude-sentiment-v1", {"text": "one more"})
    assert set(statuses) == {502}
    assert response.json()["error"]["reason"] == "circuit_open"
    assert len(server.requests) == sent  # the open circuit kept the call from the endpoint


def test_its_health_check_looks_the_model_up(server, sentiment):
    result = provider_for(sentiment).health_check(sentiment)
    assert result.ok, result.detail
    assert server.requests[0].method == "GET" and server.requests[0].path == "/v1/models/claude-test"


@pytest.mark.parametrize("text", ["Call them\ud800 now", "Call them\u0000 now"])
def test_it_refuses_text_that_cannot_be_stored_or_sent(api, server, text):
    server.handle = messages
    register("claude-bad-text-v1", "anthropic", endpoint=server.url, type="regression", schema=TEXT_SCHEMA,
             credentials={"apiKey": KEY}, config={"task": "text"})
    server.queue(Reply(200, ('{"id": "m", "type": "message", "role": "assistant", "model": "claude-test", '
                             '"stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}, '
                             '"stop_reason": "tool_use", "content": [{"type": "tool_use", "id": "t", '
                             '"name": "record_answer", "input": {"text": ' + __import__("json").dumps(text)
                             + ', "confidence": 0.9}}]}').encode()))
    response = predict(api, "claude-bad-text-v1", {"text": "Lead went quiet"})
    assert response.status_code == 502, response.content
    assert response.json()["error"]["reason"] == "malformed_response"
