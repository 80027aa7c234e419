"""What the LLM providers (`openai`, `anthropic`) share: `LlmProvider`, the base that owns
their SDK clients and turns the SDK's errors into `UpstreamError`; the tasks, their prompts,
the structured answer each task asks for, the input text, and reading a stated confidence."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from predictions.providers.external import CallContext, ExternalProvider
from predictions.providers.resilience import (
    CallPolicy,
    UpstreamError,
    misconfigured,
    model_config,
    status_error,
)

if TYPE_CHECKING:
    from ml.base import Prediction
    from registry.models import MLModel

T = TypeVar("T")

SENTIMENTS = ["positive", "neutral", "negative"]
PROMPTS = {
    "sentiment": "Classify the sentiment of the customer's text as positive, neutral or negative.",
    "classification": "Classify the input into exactly one of these classes: {labels}.",
    "text": "Answer the request in the input concisely.",
}
CONFIDENCE = {"type": "number", "description": "Your probability (0 to 1) that the answer is right."}


def task_for(model: MLModel) -> str:
    default = {"nlp": "sentiment", "classification": "classification"}.get(model.type, "text")
    task = model_config(model).get("task", default)
    if task not in PROMPTS:
        raise misconfigured("config.task must be sentiment, classification or text")
    if task == "classification" and not labels_for(model):
        raise misconfigured("config.labels (a list of class names) is required for classification")
    return task


def labels_for(model: MLModel) -> list[str]:
    labels = model_config(model).get("labels")
    if model.type == "nlp" and not labels:
        return SENTIMENTS
    return [str(label) for label in labels] if isinstance(labels, list) else []


def instructions(model: MLModel, task: str) -> str:
    custom = model_config(model).get("instructions")
    if isinstance(custom, str) and custom.strip():
        return custom
    return PROMPTS[task].format(labels=", ".join(map(str, labels_for(model))))


def answer_key(task: str) -> str:
    return {"sentiment": "sentiment", "classification": "class"}.get(task, "text")


def answer_schema(task: str, labels: list[str]) -> dict[str, Any]:
    key = answer_key(task)
    if task == "text":
        answer: dict[str, Any] = {"type": "string", "description": "The answer."}
    else:
        answer = {"type": "string", "enum": SENTIMENTS if task == "sentiment" else labels}
    return {
        "type": "object",
        "properties": {key: answer, "confidence": CONFIDENCE},
        "required": [key, "confidence"],
        "additionalProperties": False,
    }


def input_text(model: MLModel, row: dict[str, Any]) -> str:
    name = model_config(model).get("textFeature")
    if not name:
        texts = [f["name"] for f in (model.feature_schema or {}).get("features", [])
                 if f.get("type") in ("text", "string")]
        name = texts[0] if len(texts) == 1 and len(row) == 1 else None
    if name:
        return str(row.get(name, ""))
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def stated(value: Any) -> float | None:
    """The confidence an LLM wrote in its answer, if it is a probability."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def sentiment_score(label: str, confidence: float | None, distribution: dict[str, float]) -> float | None:
    """-1 (surely negative) .. +1 (surely positive)."""
    if distribution:
        return round(distribution.get("positive", 0.0) - distribution.get("negative", 0.0), 6)
    if confidence is None:
        return None
    return round({"positive": confidence, "negative": -confidence}.get(label, 0.0), 6)


class LlmProvider(ExternalProvider):
    """An LLM behind its official SDK. A subclass names its SDK's exception classes, builds
    its client (`new_client`) and reads the error code of a failed status (`error_code`);
    this base keeps one client per model revision, endpoint, key and call policy (a client
    holds a connection pool: built once, reused by every request, thread-safe) and maps the
    SDK's errors the same way for both."""

    default_model = ""
    default_base = ""
    # The SDK's timeout, connection and HTTP status errors (its timeout error is a kind of
    # connection error, so it is caught first).
    sdk_errors: tuple[type[Exception], type[Exception], type[Exception]]

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def target(self, model: MLModel) -> str:
        base = (model.provider_config or {}).get("endpoint") or self.default_base
        return f"{self.name}|{base}|{model_config(model).get('model', self.default_model)}"

    def new_client(self, options: dict[str, Any], policy: CallPolicy) -> Any:
        """A client of the SDK built with `options` (key, base URL, no retries of its own: our
        retry layer decides), the policy's timeouts, and an HTTP client that checks every
        request against PROVIDER_ALLOWED_HOSTS."""
        raise NotImplementedError

    def error_code(self, exc: Any) -> str:
        """The machine-readable code of a failed status, never the server's message (which may
        echo the key or the request)."""
        return ""

    def answer_example(self, ctx: CallContext) -> Prediction:
        """One example row answered (`config.healthCheck: "complete"`)."""
        raise NotImplementedError

    def client(self, ctx: CallContext) -> Any:
        key = ctx.credentials.get("apiKey")
        if not key:
            raise misconfigured("credentials.apiKey (or apiKeyEnv) is required")
        base_url = (ctx.model.provider_config or {}).get("endpoint") or None
        cache_key = (ctx.model.pk, ctx.model.revision, base_url, hashlib.sha256(key.encode()).hexdigest(), ctx.policy)
        client = self._clients.get(cache_key)
        if client is None:
            with self._lock:
                options = {"api_key": key, "base_url": base_url, "max_retries": 0}
                client = self.new_client(options, ctx.policy)
                self._clients = {k: v for k, v in self._clients.items() if k[0] != ctx.model.pk}
                self._clients[cache_key] = client
        return client

    def request(self, send: Callable[[], T]) -> T:
        """One SDK call, its failures as UpstreamError (what is retried, what is a timeout)."""
        timeout, connection, status = self.sdk_errors
        try:
            return send()
        except timeout:
            raise UpstreamError("timed out", timeout=True) from None
        except connection as exc:
            raise UpstreamError(f"connection failed ({type(exc).__name__})", retryable=True,
                                reason="connection") from None
        except status as exc:
            failed: Any = exc
            raise status_error(failed.status_code, failed.response.headers.get("retry-after"),
                               self.error_code(failed)) from None

    def probe(self, ctx: CallContext) -> str:
        """GET the model (`/models/{model}`): proves the URL, the key and the model name; costs
        no tokens. `config.healthCheck: "complete"` answers an example row instead."""
        if model_config(ctx.model).get("healthCheck") == "complete":
            return f"answered an example: {self.answer_example(ctx).value}"
        name = str(model_config(ctx.model).get("model") or self.default_model)
        found = self.request(lambda: self.client(ctx).models.retrieve(name))
        return f"model {getattr(found, 'id', name)} is available"
