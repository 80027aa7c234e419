"""`openai`: OpenAI, or any server speaking its `/v1/chat/completions` (set
`providerConfig.endpoint` to its base URL), through the official SDK.

`config`: `model` (default `gpt-4o-mini`), `task` `sentiment` | `classification` | `text`
(default from the model type), `labels` (classification), `instructions` (the system
prompt), `textFeature` (else the one text feature, else all features as JSON),
`structuredOutput` `json_schema` (default) or `tool`, `logprobs` (default true), `maxTokens`.

Answers are structured (a strict JSON schema, or a forced tool call) at temperature 0. The
confidence is the probability the model gave its own answer, from the tokens'
log-probabilities where the server returns them; otherwise the confidence the model reports
in the structured answer. It is never a constant."""

from __future__ import annotations

import hashlib
import json
import math
import threading
from typing import Any

import openai

from core.outbound import outbound_openai_client
from ml.base import Prediction
from predictions.providers.external import CallContext, ExternalProvider
from predictions.providers.mapping import example_row
from predictions.providers.resilience import (
    UpstreamError,
    malformed,
    misconfigured,
    model_config,
    status_error,
)

SENTIMENTS = ["positive", "neutral", "negative"]
DEFAULT_MODEL = "gpt-4o-mini"
PROMPTS = {
    "sentiment": "Classify the sentiment of the customer's text as positive, neutral or negative.",
    "classification": "Classify the input into exactly one of these classes: {labels}.",
    "text": "Answer the request in the input concisely.",
}


class OpenAIProvider(ExternalProvider):
    name = "openai"

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], openai.OpenAI] = {}
        self._lock = threading.Lock()

    def target(self, model: Any) -> str:
        base = (model.provider_config or {}).get("endpoint") or "https://api.openai.com/v1"
        return f"{self.name}|{base}|{model_config(model).get('model', DEFAULT_MODEL)}"

    def predict_batch(self, model: Any, rows: list[dict[str, Any]]) -> list[Prediction]:
        ctx = self.context(model)
        task = self.task(model)
        # The chat API has no synchronous batch: the rows go concurrently, each one guarded.
        return self.each_row(ctx, rows, lambda row: self._ask(ctx, task, row))

    def task(self, model: Any) -> str:
        default = {"nlp": "sentiment", "classification": "classification"}.get(model.type, "text")
        task = model_config(model).get("task", default)
        if task not in PROMPTS:
            raise misconfigured("config.task must be sentiment, classification or text")
        if task == "classification" and not _labels(model):
            raise misconfigured("config.labels (a list of class names) is required for classification")
        return task

    # --- one row --------------------------------------------------------------------------

    def _ask(self, ctx: CallContext, task: str, row: dict[str, Any]) -> Prediction:
        c = model_config(ctx.model)
        use_tool = c.get("structuredOutput", "json_schema") == "tool"
        want_logprobs = bool(c.get("logprobs", True)) and (not use_tool or task == "text")
        params: dict[str, Any] = {
            "model": str(c.get("model") or DEFAULT_MODEL),
            "messages": [
                {"role": "system", "content": self._instructions(ctx.model, task)},
                {"role": "user", "content": _input_text(ctx.model, row)},
            ],
            "temperature": 0,
            "max_tokens": int(c.get("maxTokens") or (400 if task == "text" else 60)),
        }
        if want_logprobs:
            params |= {"logprobs": True, "top_logprobs": 5}
        if task != "text":
            schema = _schema(task, _labels(ctx.model))
            if use_tool:
                params["tools"] = [{"type": "function", "function": {
                    "name": "record_answer", "description": "Record the answer.", "parameters": schema,
                    "strict": True}}]
                params["tool_choice"] = {"type": "function", "function": {"name": "record_answer"}}
            else:
                params["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": f"{task}_answer", "strict": True, "schema": schema}}
        completion = self._create(ctx, params)
        return self._read(ctx.model, task, completion, use_tool)

    def _create(self, ctx: CallContext, params: dict[str, Any]) -> Any:
        try:
            return self._client(ctx).chat.completions.create(**params)
        except openai.APITimeoutError:
            raise UpstreamError("timed out", timeout=True) from None
        except openai.APIConnectionError as exc:
            raise _connection_error(exc) from None
        except openai.APIStatusError as exc:
            # Not the server's message: OpenAI's 401 message quotes part of the key.
            code = exc.code if isinstance(getattr(exc, "code", None), str) else ""
            raise status_error(exc.status_code, exc.response.headers.get("retry-after"), code) from None

    def _read(self, model: Any, task: str, completion: Any, use_tool: bool) -> Prediction:
        choices = getattr(completion, "choices", None) or []
        if not choices or choices[0].message is None:
            raise malformed("no choices")
        choice = choices[0]
        if choice.finish_reason == "length":
            raise malformed("the answer was cut off (raise config.maxTokens)")
        tokens = (choice.logprobs.content if choice.logprobs and choice.logprobs.content else None) or []
        if task == "text":
            text = choice.message.content
            if not isinstance(text, str):
                raise malformed("no text")
            # Free text: the geometric mean of its tokens' probabilities.
            mean = sum(t.logprob for t in tokens) / len(tokens) if tokens else None
            return Prediction({"text": text}, None if mean is None else round(math.exp(mean) * 100, 4))
        raw = _raw_answer(choice.message, use_tool)
        try:
            answer = json.loads(raw)
        except (TypeError, ValueError):
            raise malformed("the answer is not JSON") from None
        key, labels = ("sentiment", SENTIMENTS) if task == "sentiment" else ("class", _labels(model))
        label = answer.get(key) if isinstance(answer, dict) else None
        if label not in labels:
            raise malformed(f"'{key}' is not one of {', '.join(map(str, labels))}")
        confidence, distribution = _token_probabilities(raw, key, label, labels, tokens)
        if confidence is None:
            confidence = _reported(answer.get("confidence"))
        value: dict[str, Any] = {key: label}
        if task == "sentiment":
            value["score"] = _sentiment_score(label, confidence, distribution)
        elif distribution:
            value["probabilities"] = distribution
        return Prediction(value, None if confidence is None else round(confidence * 100, 4))

    def _instructions(self, model: Any, task: str) -> str:
        custom = model_config(model).get("instructions")
        if isinstance(custom, str) and custom.strip():
            return custom
        return PROMPTS[task].format(labels=", ".join(map(str, _labels(model))))

    def _client(self, ctx: CallContext) -> openai.OpenAI:
        key = ctx.credentials.get("apiKey")
        if not key:
            raise misconfigured("credentials.apiKey (or apiKeyEnv) is required")
        base_url = (ctx.model.provider_config or {}).get("endpoint") or None
        cache_key = (ctx.model.pk, ctx.model.revision, base_url, hashlib.sha256(key.encode()).hexdigest(), ctx.policy)
        client = self._clients.get(cache_key)
        if client is None:
            with self._lock:
                client = openai.OpenAI(
                    api_key=key, base_url=base_url, max_retries=0,  # our retry layer decides
                    # The SDK's own timeout type: openai 3.x runs on httpx2 and refuses httpx's.
                    timeout=openai.Timeout(ctx.policy.read_timeout, connect=ctx.policy.connect_timeout),
                    # Every request checked against PROVIDER_ALLOWED_HOSTS, as for the others.
                    http_client=outbound_openai_client(),
                )
                self._clients = {k: v for k, v in self._clients.items() if k[0] != ctx.model.pk}
                self._clients[cache_key] = client
        return client

    def probe(self, ctx: CallContext) -> str:
        """GET /models/{model}: proves the URL, the key and the model name; costs no tokens."""
        name = str(model_config(ctx.model).get("model") or DEFAULT_MODEL)
        if model_config(ctx.model).get("healthCheck") == "complete":
            prediction = self._ask(ctx, self.task(ctx.model), example_row(ctx.model))
            return f"answered an example: {prediction.value}"
        try:
            found = self._client(ctx).models.retrieve(name)
        except openai.APITimeoutError:
            raise UpstreamError("timed out", timeout=True) from None
        except openai.APIConnectionError as exc:
            raise _connection_error(exc) from None
        except openai.APIStatusError as exc:
            raise status_error(exc.status_code, None, exc.code if isinstance(exc.code, str) else "") from None
        return f"model {getattr(found, 'id', name)} is available"


def _connection_error(exc: openai.APIConnectionError) -> UpstreamError:
    return UpstreamError(f"connection failed ({type(exc).__name__})", retryable=True, reason="connection")


def _labels(model: Any) -> list[str]:
    labels = model_config(model).get("labels")
    if model.type == "nlp" and not labels:
        return SENTIMENTS
    return [str(label) for label in labels] if isinstance(labels, list) else []


def _schema(task: str, labels: list[str]) -> dict[str, Any]:
    key = "sentiment" if task == "sentiment" else "class"
    return {
        "type": "object",
        "properties": {
            key: {"type": "string", "enum": SENTIMENTS if task == "sentiment" else labels},
            "confidence": {"type": "number", "description": "Your probability (0 to 1) that the answer is right."},
        },
        "required": [key, "confidence"],
        "additionalProperties": False,
    }


def _input_text(model: Any, row: dict[str, Any]) -> str:
    name = model_config(model).get("textFeature")
    if not name:
        texts = [f["name"] for f in (model.feature_schema or {}).get("features", [])
                 if f.get("type") in ("text", "string")]
        name = texts[0] if len(texts) == 1 and len(row) == 1 else None
    if name:
        return str(row.get(name, ""))
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def _raw_answer(message: Any, use_tool: bool) -> str:
    if use_tool:
        calls = getattr(message, "tool_calls", None) or []
        if not calls:
            raise malformed("no tool call")
        return calls[0].function.arguments
    if getattr(message, "refusal", None):
        raise malformed("the model refused")
    return message.content


def _token_probabilities(
    raw: str, key: str, label: str, labels: list[str], tokens: list[Any],
) -> tuple[float | None, dict[str, float]]:
    """The probability of the label's own tokens in the answer, and of each label at its first
    token (from the top alternatives); (None, {}) when the server gave no log-probabilities."""
    if not tokens:
        return None, {}
    text = "".join(t.token for t in tokens)
    if text != raw:
        return None, {}
    key_at = text.find(json.dumps(key))
    at = text.find(json.dumps(label), key_at + len(key) + 2) + 1
    if key_at < 0 or at <= 0:
        return None, {}
    span = (at, at + len(label))
    offset, logprob, first = 0, 0.0, None
    for token in tokens:
        start, end = offset, offset + len(token.token)
        offset = end
        if end > span[0] and start < span[1]:
            logprob += token.logprob
            first = first or token
    if first is None:
        return None, {}
    distribution: dict[str, float] = {}
    for alternative in first.top_logprobs or []:
        piece = alternative.token.strip().lstrip('"')
        matches = [name for name in labels if piece and name.startswith(piece)]
        if len(matches) == 1:
            distribution[matches[0]] = distribution.get(matches[0], 0.0) + math.exp(alternative.logprob)
    return math.exp(logprob), {k: round(v, 6) for k, v in distribution.items()}


def _reported(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def _sentiment_score(label: str, confidence: float | None, distribution: dict[str, float]) -> float | None:
    """-1 (surely negative) .. +1 (surely positive)."""
    if distribution:
        return round(distribution.get("positive", 0.0) - distribution.get("negative", 0.0), 6)
    if confidence is None:
        return None
    return round({"positive": confidence, "negative": -confidence}.get(label, 0.0), 6)
