"""The `openai` provider through the official SDK against a local server implementing
`/v1/chat/completions` (structured output by JSON schema or tool call, log-probabilities) and
`/v1/models/{id}`."""

from __future__ import annotations

import json
import logging
import math

import pytest

from predictions.providers import provider_for
from tests.predictions.providers.conftest import predict, predict_batch, register
from tests.predictions.providers.servers import Reply

pytestmark = pytest.mark.django_db
KEY = "sk-proj-hotcrm-test-4b9f2c7e1a"
TEXT_SCHEMA = {"features": [{"name": "text", "type": "text"}]}
POSITIVE = {"love", "great", "excellent", "happy"}
NEGATIVE = {"hate", "awful", "broken", "refund"}


def judge(text: str) -> dict[str, float]:
    """The emulated model's belief over the three sentiments, from the words it sees."""
    words = set(text.lower().replace(".", " ").replace("!", " ").split())
    margin = len(words & POSITIVE) - len(words & NEGATIVE)
    if margin == 0:
        return {"neutral": 0.6, "positive": 0.25, "negative": 0.15}
    strength = min(0.95, 0.55 + 0.2 * abs(margin))
    top, other = ("positive", "negative") if margin > 0 else ("negative", "positive")
    return {top: strength, "neutral": (1 - strength) * 0.7, other: (1 - strength) * 0.3}


def completion(request):
    if request.headers.get("authorization") != f"Bearer {KEY}":
        return Reply(401, {"error": {"message": f"Incorrect API key provided: {request.headers.get('authorization')}",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}})
    if request.method == "GET":
        model = request.path.rsplit("/", 1)[1]
        return Reply(200, {"id": model, "object": "model", "created": 1700000000, "owned_by": "hotcrm-test"})
    body = request.json()
    assert body["temperature"] == 0
    tools = body.get("tools")
    schema = tools[0]["function"]["parameters"] if tools else body["response_format"]["json_schema"]["schema"]
    key = next(iter(schema["properties"]))
    labels = schema["properties"][key]["enum"]
    text = body["messages"][-1]["content"]
    beliefs = judge(text) if key == "sentiment" else {labels[len(text) % len(labels)]: 0.7}
    beliefs = {label: beliefs.get(label, 0.3 / (len(labels) - 1)) for label in labels}
    label = max(beliefs, key=beliefs.get)
    pieces = ['{"', key, '":"', label, '","', "confidence", '":', "0.5", "}"]  # it *says* 0.5
    content = "".join(pieces)
    message = {"role": "assistant", "content": content, "refusal": None}
    logprobs = None
    if tools:
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "record_answer", "arguments": content}}]}
    elif body.get("logprobs"):
        def token(piece, logprob, top=()):
            return {"token": piece, "logprob": logprob, "bytes": list(piece.encode()), "top_logprobs": list(top)}
        alternatives = [token(name, math.log(p)) for name, p in sorted(beliefs.items(), key=lambda kv: -kv[1])]
        logprobs = {"content": [token(p, math.log(beliefs[label]), alternatives) if p == label else token(p, -1e-6)
                                for p in pieces], "refusal": None}
    return Reply(200, {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000, "model": body["model"],
        "choices": [{"index": 0, "message": message, "logprobs": logprobs,
                     "finish_reason": "tool_calls" if tools else "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
    })


@pytest.fixture
def sentiment(server):
    server.handle = completion
    return register("gpt-sentiment-v1", "openai", endpoint=f"{server.url}/v1", type="nlp", schema=TEXT_SCHEMA,
                    credentials={"apiKey": KEY}, config={"model": "gpt-test-mini"})


def test_it_reads_sentiment_from_a_structured_answer_with_log_probabilities(api, server, sentiment):
    response = predict(api, "gpt-sentiment-v1", {"text": "I love this product, the support was great!"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["prediction"]["sentiment"] == "positive"
    assert body["confidence"] == pytest.approx(95.0)  # from the label token's probability, not the stated 0.5
    assert body["metadata"]["confidenceSource"] == "logprobs"
    assert body["prediction"]["score"] == pytest.approx(0.95 - 0.05 * 0.3)
    sent = server.requests[0].json()
    assert sent["model"] == "gpt-test-mini" and sent["logprobs"] is True
    assert sent["response_format"]["json_schema"]["strict"] is True
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_its_confidence_follows_the_models_certainty(api, server, sentiment):
    rows = [{"text": "I hate it, it is broken and awful"}, {"text": "I hate the wait"}, {"text": "The meeting is on Tuesday"}]
    results = predict_batch(api, "gpt-sentiment-v1", rows).json()["results"]
    assert [r["prediction"]["sentiment"] for r in results] == ["negative", "negative", "neutral"]
    assert [r["confidence"] for r in results] == [pytest.approx(95.0), pytest.approx(75.0), pytest.approx(60.0)]
    assert len(server.requests) == 3  # no batch endpoint: one call per row, sent concurrently


def test_it_classifies_through_a_forced_tool_call(api, server):
    server.handle = completion
    register("gpt-tier-v1", "openai", endpoint=f"{server.url}/v1", type="classification",
             credentials={"apiKey": KEY}, config={"labels": ["hot", "warm", "cold"], "structuredOutput": "tool"})
    body = predict(api, "gpt-tier-v1", {"amount": 500, "segment": "smb"}).json()
    assert body["prediction"]["class"] in {"hot", "warm", "cold"}
    assert body["confidence"] == pytest.approx(50.0)  # tool calls carry no log-probabilities: the stated one
    assert body["metadata"]["confidenceSource"] == "stated"
    sent = server.requests[0].json()
    assert sent["tool_choice"]["function"]["name"] == "record_answer"
    assert json.loads(sent["messages"][-1]["content"]) == {"amount": 500.0, "segment": "smb"}


def test_it_answers_504_when_the_server_sleeps_past_the_timeout(api, server, sentiment):
    server.queue(Reply(200, {}, delay=1.5))
    response = predict(api, "gpt-sentiment-v1", {"text": "hello"})
    assert response.status_code == 504
    assert len(server.requests) == 1


def test_it_retries_a_500_then_succeeds(api, server, sentiment):
    server.queue(Reply(500, {"error": {"message": "overloaded", "type": "server_error"}}))
    assert predict(api, "gpt-sentiment-v1", {"text": "great"}).status_code == 200
    assert len(server.requests) == 2


def test_it_does_not_retry_a_400(api, server, sentiment):
    server.queue(Reply(400, {"error": {"message": "logprobs not supported", "type": "invalid_request_error",
                                       "code": "unsupported_parameter"}}))
    response = predict(api, "gpt-sentiment-v1", {"text": "great"})
    assert response.status_code == 502
    assert "HTTP 400" in response.json()["error"]["message"]
    assert len(server.requests) == 1


@pytest.mark.parametrize("content", ["not json", '{"sentiment": "ecstatic", "confidence": 0.9}', "[1, 2]"])
def test_it_refuses_a_malformed_answer(api, server, sentiment, content):
    server.queue(Reply(200, {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}))
    response = predict(api, "gpt-sentiment-v1", {"text": "great"})
    assert response.status_code == 502
    assert response.json()["error"]["reason"] == "malformed_response"


def test_it_never_shows_the_key_the_server_quotes_back(api, server, caplog):
    caplog.set_level(logging.DEBUG)
    server.handle = completion
    register("gpt-bad-key-v1", "openai", endpoint=f"{server.url}/v1", type="nlp", schema=TEXT_SCHEMA,
             credentials={"apiKey": "sk-proj-wrong-key-77aa"})
    response = predict(api, "gpt-bad-key-v1", {"text": "great"})
    assert response.status_code == 502
    assert "invalid_api_key" in response.json()["error"]["message"]
    assert "sk-proj-wrong-key-77aa" not in response.content.decode() + caplog.text
    assert "Incorrect API key" not in response.content.decode()


def test_its_health_check_looks_the_model_up(server, sentiment):
    result = provider_for(sentiment).health_check(sentiment)
    assert result.ok, result.detail
    assert server.requests[0].method == "GET" and server.requests[0].path == "/v1/models/gpt-test-mini"


def test_it_classifies_with_probabilities_from_the_top_alternatives(api, server):
    server.handle = completion
    register("gpt-tier-v2", "openai", endpoint=f"{server.url}/v1", type="classification",
             credentials={"apiKey": KEY}, config={"labels": ["hot", "warm", "cold"]})
    body = predict(api, "gpt-tier-v2", {"amount": 500, "segment": "smb"}).json()
    assert body["confidence"] == pytest.approx(70.0)
    assert body["prediction"]["probabilities"][body["prediction"]["class"]] == pytest.approx(0.7)
    assert sum(body["prediction"]["probabilities"].values()) == pytest.approx(1.0)


def test_it_returns_free_text_for_the_text_task(api, server):
    server.queue(Reply(200, {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Call them on Monday."},
         "logprobs": {"content": [{"token": "Call them", "logprob": -0.1, "bytes": None, "top_logprobs": []},
                                  {"token": " on Monday.", "logprob": -0.3, "bytes": None, "top_logprobs": []}]}}]}))
    register("gpt-advice-v1", "openai", endpoint=f"{server.url}/v1", type="regression", schema=TEXT_SCHEMA,
             credentials={"apiKey": KEY}, config={"task": "text", "instructions": "Suggest a next step."})
    body = predict(api, "gpt-advice-v1", {"text": "Lead went quiet after the demo"}).json()
    assert body["prediction"] == {"text": "Call them on Monday."}
    assert body["confidence"] == pytest.approx(100 * math.exp(-0.2))  # geometric mean of the tokens' probabilities
    sent = server.requests[0].json()
    assert sent["messages"][0] == {"role": "system", "content": "Suggest a next step."}
    assert "response_format" not in sent


# --- embeddings -----------------------------------------------------------------------------

def embeddings(request):
    """`POST /v1/embeddings`: a deterministic 8-dimensional vector per input, as floats or as
    base64 little-endian float32 (the SDK asks for base64 by default)."""
    import base64
    import struct

    if request.headers.get("authorization") != f"Bearer {KEY}":
        return Reply(401, {"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}})
    body = request.json()
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = []
    for index, text in enumerate(texts):
        vector = [round((len(text) * (i + 1) % 7) / 7 - 0.5, 4) for i in range(body.get("dimensions", 8))]
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        else:
            data.append({"object": "embedding", "index": index, "embedding": vector})
    data.reverse()  # the answer's `index`, not its order, says which input a vector belongs to
    return Reply(200, {"object": "list", "data": data, "model": body["model"],
                       "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})


@pytest.fixture
def embedder(server):
    server.handle = embeddings
    return register("gpt-embed-v1", "openai", endpoint=f"{server.url}/v1", type="nlp", schema=TEXT_SCHEMA,
                    credentials={"apiKey": KEY}, config={"task": "embedding", "model": "text-embedding-test"},
                    cache_ttl=300)


def test_it_embeds_a_text_feature_without_a_confidence(api, server, embedder):
    body = predict(api, "gpt-embed-v1", {"text": "Renewal at risk"}).json()
    expected = [round((15 * (i + 1) % 7) / 7 - 0.5, 4) for i in range(8)]
    assert body["prediction"]["dimensions"] == 8
    assert body["prediction"]["embedding"] == pytest.approx(expected, abs=1e-6)
    assert body["confidence"] is None and body["metadata"]["confidenceSource"] is None
    sent = server.requests[0].json()
    assert sent["model"] == "text-embedding-test" and sent["input"] == ["Renewal at risk"]


def test_it_caches_embeddings_like_predictions(api, server, embedder):
    first = predict(api, "gpt-embed-v1", {"text": "Renewal at risk"}).json()
    second = predict(api, "gpt-embed-v1", {"text": "Renewal at risk"}).json()
    assert second["cached"] is True and second["prediction"] == first["prediction"]
    assert len(server.requests) == 1


def test_it_sends_a_batch_in_requests_of_at_most_2048_inputs(server, embedder):
    rows = [{"text": "x" * (i % 50)} for i in range(4100)]
    results = provider_for(embedder).predict_batch(embedder, rows)
    assert [len(r.json()["input"]) for r in server.requests] == [2048, 2048, 4]
    assert [r.value["embedding"][0] for r in results[:3]] == pytest.approx(
        [round((len(row["text"]) % 7) / 7 - 0.5, 4) for row in rows[:3]], abs=1e-6)


def test_it_asks_for_the_configured_dimensions(api, server):
    server.handle = embeddings
    register("gpt-embed-v2", "openai", endpoint=f"{server.url}/v1", type="nlp", schema=TEXT_SCHEMA,
             credentials={"apiKey": KEY}, config={"task": "embedding", "dimensions": 3})
    body = predict(api, "gpt-embed-v2", {"text": "hello"}).json()
    assert body["prediction"]["dimensions"] == 3 and server.requests[0].json()["dimensions"] == 3


def test_it_refuses_a_non_finite_embedding(api, server, embedder):
    server.queue(Reply(200, b'{"object": "list", "model": "m", "data": [{"object": "embedding", "index": 0, '
                            b'"embedding": [0.1, NaN]}], "usage": {"prompt_tokens": 1, "total_tokens": 1}}'))
    response = predict(api, "gpt-embed-v1", {"text": "hello"})
    assert response.status_code == 502
    assert response.json()["error"]["reason"] == "malformed_response"
