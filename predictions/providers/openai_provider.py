"""`openai`: OpenAI, or any server speaking its `/v1/chat/completions` (set
`providerConfig.endpoint` to its base URL), through the official SDK.

`config`: `model` (default `gpt-4o-mini`), `task` `sentiment` | `classification` | `text` |
`embedding` (default from the model type; `embedding` answers `{embedding, dimensions}` from
`/v1/embeddings`, default model `text-embedding-3-small`, optional `dimensions`), `labels` (classification), `instructions` (the system
prompt), `textFeature` (else the one text feature, else all features as JSON),
`structuredOutput` `json_schema` (default) or `tool`, `logprobs` (default true), `maxTokens`.

Answers are structured (a strict JSON schema, or a forced tool call) at temperature 0. The
confidence is the probability the model gave its own answer, from the tokens'
log-probabilities where the server returns them; otherwise the confidence the model reports
in the structured answer. It is never a constant."""

from __future__ import annotations

import functools
import json
import math
from typing import TYPE_CHECKING, Any

import openai

from core.outbound import outbound_openai_client
from ml.base import Prediction
from predictions.providers.external import CallContext
from predictions.providers.llm import (
    SENTIMENTS,
    LlmProvider,
    input_text,
    instructions,
    labels_for,
    sentiment_score,
    stated,
    task_for,
)
from predictions.providers.llm import answer_schema as _schema
from predictions.providers.mapping import example_row
from predictions.providers.resilience import CallPolicy, malformed, model_config

if TYPE_CHECKING:
    from registry.models import MLModel

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
EMBEDDING_BATCH = 2048  # the embeddings API's limit of inputs per request


class OpenAIProvider(LlmProvider):
    name = "openai"
    default_model, default_base = DEFAULT_MODEL, "https://api.openai.com/v1"
    sdk_errors = (openai.APITimeoutError, openai.APIConnectionError, openai.APIStatusError)

    def new_client(self, options: dict[str, Any], policy: CallPolicy) -> openai.OpenAI:
        # The SDK's own timeout type: openai 3.x runs on httpx2 and refuses httpx's.
        timeout = openai.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        return openai.OpenAI(**options, timeout=timeout, http_client=outbound_openai_client())

    def error_code(self, exc: Any) -> str:
        # Not the server's message: OpenAI's 401 message quotes part of the key.
        return exc.code if isinstance(exc.code, str) else ""

    def predict_batch(self, model: MLModel, rows: list[dict[str, Any]]) -> list[Prediction]:
        ctx = self.context(model)
        if model_config(model).get("task") == "embedding":
            return self._embed_all(ctx, rows)
        task = self.task(model)
        # The chat API has no synchronous batch: the rows go concurrently, each one guarded.
        return self.each_row(ctx, rows, lambda row: self._ask(ctx, task, row))

    def task(self, model: MLModel) -> str:
        return task_for(model)

    # --- embeddings -----------------------------------------------------------------------

    def _embed_all(self, ctx: CallContext, rows: list[dict[str, Any]]) -> list[Prediction]:
        """The embeddings API takes a list: requests of at most EMBEDDING_BATCH inputs."""
        out: list[Prediction] = []
        for start in range(0, len(rows), EMBEDDING_BATCH):
            chunk = rows[start : start + EMBEDDING_BATCH]
            out += self.call(ctx, functools.partial(self._embed, ctx, chunk))
        return out

    def _embed(self, ctx: CallContext, rows: list[dict[str, Any]]) -> list[Prediction]:
        c = model_config(ctx.model)
        params: dict[str, Any] = {"model": str(c.get("model") or DEFAULT_EMBEDDING_MODEL),
                                  "input": [input_text(ctx.model, row) for row in rows]}
        if c.get("dimensions"):
            params["dimensions"] = int(c["dimensions"])
        result = self.request(lambda: self.client(ctx).embeddings.create(**params))
        data = sorted(getattr(result, "data", None) or [], key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(rows))):
            raise malformed(f"{len(data)} embeddings for {len(rows)} inputs")
        out = []
        for item in data:
            vector = [float(x) for x in item.embedding]
            if not vector or not all(math.isfinite(x) for x in vector):
                raise malformed("an embedding is empty or not finite")
            # An embedding is not a guess about anything: no confidence.
            out.append(Prediction({"embedding": vector, "dimensions": len(vector)}, None, "model"))
        return out

    # --- one row --------------------------------------------------------------------------

    def _ask(self, ctx: CallContext, task: str, row: dict[str, Any]) -> Prediction:
        c = model_config(ctx.model)
        use_tool = c.get("structuredOutput", "json_schema") == "tool"
        want_logprobs = bool(c.get("logprobs", True)) and (not use_tool or task == "text")
        params: dict[str, Any] = {
            "model": str(c.get("model") or DEFAULT_MODEL),
            "messages": [
                {"role": "system", "content": instructions(ctx.model, task)},
                {"role": "user", "content": input_text(ctx.model, row)},
            ],
            "temperature": 0,
            "max_tokens": int(c.get("maxTokens") or (400 if task == "text" else 60)),
        }
        if want_logprobs:
            params |= {"logprobs": True, "top_logprobs": 5}
        if task != "text":
            schema = _schema(task, labels_for(ctx.model))
            if use_tool:
                params["tools"] = [{"type": "function", "function": {
                    "name": "record_answer", "description": "Record the answer.", "parameters": schema,
                    "strict": True}}]
                params["tool_choice"] = {"type": "function", "function": {"name": "record_answer"}}
            else:
                params["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": f"{task}_answer", "strict": True, "schema": schema}}
        completion = self.request(lambda: self.client(ctx).chat.completions.create(**params))
        return self._read(ctx.model, task, completion, use_tool)

    def _read(self, model: MLModel, task: str, completion: Any, use_tool: bool) -> Prediction:
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
            return Prediction({"text": text}, None if mean is None else round(math.exp(mean) * 100, 4), "logprobs")
        raw = _raw_answer(choice.message, use_tool)
        try:
            answer = json.loads(raw)
        except (TypeError, ValueError):
            raise malformed("the answer is not JSON") from None
        key, labels = ("sentiment", SENTIMENTS) if task == "sentiment" else ("class", labels_for(model))
        label = answer.get(key) if isinstance(answer, dict) else None
        if label not in labels:
            raise malformed(f"'{key}' is not one of {', '.join(map(str, labels))}")
        confidence, distribution = _token_probabilities(raw, key, label, labels, tokens)
        source = "logprobs"
        if confidence is None:
            confidence, source = stated(answer.get("confidence")), "stated"
        value: dict[str, Any] = {key: label}
        if task == "sentiment":
            value["score"] = sentiment_score(label, confidence, distribution)
        elif distribution:
            value["probabilities"] = distribution
        return Prediction(value, None if confidence is None else round(confidence * 100, 4), source)

    def answer_example(self, ctx: CallContext) -> Prediction:
        row = example_row(ctx.model)
        if model_config(ctx.model).get("task") == "embedding":
            return self._embed(ctx, [row])[0]
        return self._ask(ctx, self.task(ctx.model), row)


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

