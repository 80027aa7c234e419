"""`anthropic`: Claude through the official `anthropic` SDK (the Messages API), or any server
speaking it (set `providerConfig.endpoint` to its base URL).

`config`: `model` (default `claude-haiku-4-5`), `task` `sentiment` | `classification` | `text`
(default from the model type), `labels` (classification), `instructions` (the system prompt),
`textFeature`, `maxTokens`.

Every answer is a forced tool call at temperature 0, so it is structured JSON whatever the
task. The Messages API returns no token probabilities: the confidence is the one the model
states in that answer (`metadata.confidenceSource: "stated"`), never a constant."""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any

import anthropic

from core.outbound import OutboundTransport
from ml.base import Prediction
from predictions.providers.external import CallContext, ExternalProvider
from predictions.providers.llm import (
    SENTIMENTS,
    answer_key,
    answer_schema,
    input_text,
    instructions,
    labels_for,
    sentiment_score,
    stated,
    task_for,
)
from predictions.providers.mapping import example_row
from predictions.providers.resilience import (
    UpstreamError,
    malformed,
    misconfigured,
    model_config,
    status_error,
)

if TYPE_CHECKING:
    from registry.models import MLModel

DEFAULT_MODEL = "claude-haiku-4-5"
DEFAULT_BASE = "https://api.anthropic.com"
TOOL = "record_answer"


class AnthropicProvider(ExternalProvider):
    name = "anthropic"

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], anthropic.Anthropic] = {}
        self._lock = threading.Lock()

    def target(self, model: MLModel) -> str:
        base = (model.provider_config or {}).get("endpoint") or DEFAULT_BASE
        return f"{self.name}|{base}|{model_config(model).get('model', DEFAULT_MODEL)}"

    def predict_batch(self, model: MLModel, rows: list[dict[str, Any]]) -> list[Prediction]:
        ctx = self.context(model)
        task = task_for(model)
        # The Messages API has no synchronous batch: the rows go concurrently, each one guarded.
        return self.each_row(ctx, rows, lambda row: self._ask(ctx, task, row))

    def _ask(self, ctx: CallContext, task: str, row: dict[str, Any]) -> Prediction:
        c = model_config(ctx.model)
        params: dict[str, Any] = {
            "model": str(c.get("model") or DEFAULT_MODEL),
            "system": instructions(ctx.model, task),
            "messages": [{"role": "user", "content": input_text(ctx.model, row)}],
            "temperature": 0,
            "max_tokens": int(c.get("maxTokens") or (400 if task == "text" else 100)),
            "tools": [{"name": TOOL, "description": "Record the answer.",
                       "input_schema": answer_schema(task, labels_for(ctx.model))}],
            "tool_choice": {"type": "tool", "name": TOOL},
        }
        return self._read(ctx.model, task, self._create(ctx, params))

    def _create(self, ctx: CallContext, params: dict[str, Any]) -> Any:
        try:
            return self._client(ctx).messages.create(**params)
        except anthropic.APITimeoutError:
            raise UpstreamError("timed out", timeout=True) from None
        except anthropic.APIConnectionError as exc:
            raise UpstreamError(f"connection failed ({type(exc).__name__})", retryable=True,
                                reason="connection") from None
        except anthropic.APIStatusError as exc:
            # The error type, not the server's message, which may echo request details.
            kind = exc.body.get("error", {}).get("type") if isinstance(exc.body, dict) else None
            # 529 "overloaded" is Anthropic's own retryable status (status_error retries >= 500).
            raise status_error(exc.status_code, exc.response.headers.get("retry-after"),
                               kind if isinstance(kind, str) else "") from None

    def _read(self, model: MLModel, task: str, message: Any) -> Prediction:
        if getattr(message, "stop_reason", None) == "max_tokens":
            raise malformed("the answer was cut off (raise config.maxTokens)")
        calls = [b for b in getattr(message, "content", None) or []
                 if getattr(b, "type", None) == "tool_use" and getattr(b, "name", None) == TOOL]
        if not calls or not isinstance(calls[0].input, dict):
            raise malformed("no tool call")
        answer = calls[0].input
        key = answer_key(task)
        label = answer.get(key)
        confidence = stated(answer.get("confidence"))
        percent = None if confidence is None else round(confidence * 100, 4)
        if task == "text":
            if not isinstance(label, str):
                raise malformed("no text")
            return Prediction({"text": label}, percent, "stated")
        labels = SENTIMENTS if task == "sentiment" else labels_for(model)
        if label not in labels:
            raise malformed(f"'{key}' is not one of {', '.join(map(str, labels))}")
        value: dict[str, Any] = {key: label}
        if task == "sentiment":
            value["score"] = sentiment_score(label, confidence, {})
        return Prediction(value, percent, "stated")

    def _client(self, ctx: CallContext) -> anthropic.Anthropic:
        key = ctx.credentials.get("apiKey")
        if not key:
            raise misconfigured("credentials.apiKey (or apiKeyEnv) is required")
        base_url = (ctx.model.provider_config or {}).get("endpoint") or None
        cache_key = (ctx.model.pk, ctx.model.revision, base_url, hashlib.sha256(key.encode()).hexdigest(), ctx.policy)
        client = self._clients.get(cache_key)
        if client is None:
            with self._lock:
                client = anthropic.Anthropic(
                    api_key=key, base_url=base_url, max_retries=0,  # our retry layer decides
                    timeout=anthropic.Timeout(ctx.policy.read_timeout, connect=ctx.policy.connect_timeout),
                    # Every request checked against PROVIDER_ALLOWED_HOSTS, as for the others.
                    http_client=anthropic.DefaultHttpxClient(transport=OutboundTransport()),
                )
                self._clients = {k: v for k, v in self._clients.items() if k[0] != ctx.model.pk}
                self._clients[cache_key] = client
        return client

    def probe(self, ctx: CallContext) -> str:
        """GET /v1/models/{model}: proves the URL, the key and the model name; costs no tokens.
        `config.healthCheck: "complete"` answers an example row instead."""
        name = str(model_config(ctx.model).get("model") or DEFAULT_MODEL)
        if model_config(ctx.model).get("healthCheck") == "complete":
            prediction = self._ask(ctx, task_for(ctx.model), example_row(ctx.model))
            return f"answered an example: {prediction.value}"
        try:
            found = self._client(ctx).models.retrieve(name)
        except anthropic.APITimeoutError:
            raise UpstreamError("timed out", timeout=True) from None
        except anthropic.APIConnectionError as exc:
            raise UpstreamError(f"connection failed ({type(exc).__name__})", retryable=True) from None
        except anthropic.APIStatusError as exc:
            raise status_error(exc.status_code, None, "") from None
        return f"model {getattr(found, 'id', name)} is available"
