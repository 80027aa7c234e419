"""`anthropic`: Claude through the official `anthropic` SDK (the Messages API), or any server
speaking it (set `providerConfig.endpoint` to its base URL).

`config`: `model` (default `claude-haiku-4-5`), `task` `sentiment` | `classification` | `text`
(default from the model type), `labels` (classification), `instructions` (the system prompt),
`textFeature`, `maxTokens`.

Every answer is a forced tool call at temperature 0, so it is structured JSON whatever the
task. The Messages API returns no token probabilities: the confidence is the one the model
states in that answer (`metadata.confidenceSource: "stated"`), never a constant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anthropic

from core.outbound import OutboundTransport
from ml.base import Prediction
from predictions.providers.external import CallContext
from predictions.providers.llm import (
    SENTIMENTS,
    LlmProvider,
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
from predictions.providers.resilience import CallPolicy, malformed, model_config

if TYPE_CHECKING:
    from registry.models import MLModel

DEFAULT_MODEL = "claude-haiku-4-5"
DEFAULT_BASE = "https://api.anthropic.com"
TOOL = "record_answer"


class AnthropicProvider(LlmProvider):
    name = "anthropic"
    default_model, default_base = DEFAULT_MODEL, DEFAULT_BASE
    sdk_errors = (anthropic.APITimeoutError, anthropic.APIConnectionError, anthropic.APIStatusError)

    def new_client(self, options: dict[str, Any], policy: CallPolicy) -> anthropic.Anthropic:
        timeout = anthropic.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        transport = OutboundTransport()  # the check of PROVIDER_ALLOWED_HOSTS
        return anthropic.Anthropic(**options, timeout=timeout, http_client=anthropic.DefaultHttpxClient(transport=transport))

    def error_code(self, exc: Any) -> str:
        # The error type, not the server's message, which may echo request details. 529
        # "overloaded" is Anthropic's own retryable status (status_error retries >= 500).
        kind = exc.body.get("error", {}).get("type") if isinstance(exc.body, dict) else None
        return kind if isinstance(kind, str) else ""

    def predict_batch(self, model: MLModel, rows: list[dict[str, Any]]) -> list[Prediction]:
        ctx = self.context(model)
        task = task_for(model)
        # The Messages API has no synchronous batch: the rows go concurrently, each one guarded.
        return self.each_row(ctx, rows, lambda row: self._ask(ctx, task, row))

    def answer_example(self, ctx: CallContext) -> Prediction:
        return self._ask(ctx, task_for(ctx.model), example_row(ctx.model))

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
        return self._read(ctx.model, task, self.request(lambda: self.client(ctx).messages.create(**params)))

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
