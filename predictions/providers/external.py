"""The base of every provider that calls a service outside this process."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from core.outbound import OutboundRefused
from core.secrets import config_secrets
from core.validation import non_finite_number, unstorable_text
from hotcrm_ai.errors import ApplicationError, ProviderFailed
from ml.base import Prediction
from predictions.providers.base import HealthResult, Provider
from predictions.providers.credentials import credentials_for
from predictions.providers.resilience import (
    CallPolicy,
    CircuitBreaker,
    Redactor,
    UpstreamError,
    guarded_call,
    malformed,
    misconfigured,
    model_config,
)

if TYPE_CHECKING:
    from registry.models import MLModel

T = TypeVar("T")


@dataclass
class CallContext:
    model: MLModel
    credentials: dict[str, str]
    policy: CallPolicy
    redact: Redactor


class ExternalProvider(Provider):
    def target(self, model: MLModel) -> str:
        """What the circuit breaker guards: one endpoint, whichever models share it."""
        return f"{self.name}|{model_endpoint(model, required=False)}"

    def circuit_state(self, model: MLModel) -> str:
        """"closed", "open" or "half-open": the state of the breaker guarding its endpoint."""
        return CircuitBreaker(self.target(model), CallPolicy.for_model(model)).state()[0]

    def context(self, model: MLModel) -> CallContext:
        credentials = credentials_for(model)
        secrets = [*credentials.values(), *config_secrets(model.provider_config)]
        return CallContext(model, credentials, CallPolicy.for_model(model), Redactor(secrets))

    def call(self, ctx: CallContext, fn: Callable[[], T]) -> T:
        def checked() -> T:
            try:
                return checked_answer(fn())
            except OutboundRefused as exc:  # raised by the transport, whichever SDK wraps it
                raise misconfigured(exc.message) from None

        return guarded_call(checked, model=ctx.model, target=self.target(ctx.model),
                            policy=ctx.policy, redact=ctx.redact)

    def each_row(self, ctx: CallContext, rows: list[dict[str, Any]],
                 one: Callable[[dict[str, Any]], Prediction]) -> list[Prediction]:
        """For endpoints without a native batch: the rows concurrently, answers in input order."""
        if len(rows) == 1:
            return [self.call(ctx, lambda: one(rows[0]))]
        workers = int(model_config(ctx.model).get("concurrency", 4) or 1)
        with ThreadPoolExecutor(max_workers=max(1, min(workers, 16, len(rows)))) as pool:
            return list(pool.map(lambda row: self.call(ctx, lambda: one(row)), rows))

    def probe(self, ctx: CallContext) -> str:
        """One real, cheap call; returns a short description of what answered."""
        raise NotImplementedError

    def score_example(self, ctx: CallContext) -> Prediction:
        """One example row built from the feature schema, scored unguarded (health checks)."""
        raise NotImplementedError

    def probe_by_scoring(self, ctx: CallContext, readiness: str = "") -> str:
        """After a readiness answer, score one example row when the model has a schema: a
        server can say "ready" while every prediction fails (wrong mapping, wrong model).
        `config.healthCheck: "ready"` keeps the readiness answer alone."""
        if readiness and (not has_schema(ctx.model) or model_config(ctx.model).get("healthCheck") == "ready"):
            return readiness
        prediction = self.score_example(ctx)
        scored = f"scored one example row: {prediction.value}"  # redacted, then cut, by health_check
        return f"{readiness}; {scored}" if readiness else scored

    def health_check(self, model: MLModel) -> HealthResult:
        """Calls the endpoint once, past the circuit breaker (an admin testing the connection
        wants the truth, not the cached verdict); a success closes the circuit."""
        started = time.perf_counter()
        redact = Redactor([])
        try:
            ctx = self.context(model)
            redact = ctx.redact
            detail = self.probe(ctx)
        except UpstreamError as exc:  # the admin (staff) may read what the upstream said
            said = f": {exc.detail}" if exc.detail else ""
            return HealthResult(False, _ms(started), redact(exc.message + said)[:300])
        except ApplicationError as exc:
            return HealthResult(False, _ms(started), redact(exc.message)[:300])
        except Exception as exc:
            return HealthResult(False, _ms(started), f"unexpected {type(exc).__name__}")
        CircuitBreaker(self.target(model), ctx.policy).reset()
        return HealthResult(True, _ms(started), redact(detail)[:300])


def checked_answer(answer: T) -> T:
    """The provider's answer, if every number in it is finite and every string storable:
    else a malformed response (502, never cached), not a 500 or a row no database takes."""
    items = answer if isinstance(answer, list) else [answer]
    values = [(p.value, p.confidence) if isinstance(p, Prediction) else p for p in items]
    if non_finite_number(values) is not None:
        raise malformed("a number in the answer is NaN or infinite")
    if unstorable_text(values) is not None:
        raise malformed("a string in the answer holds a NUL character or a lone surrogate")
    return answer


def has_schema(model: MLModel) -> bool:
    return bool((model.feature_schema or {}).get("features"))


def model_endpoint(model: MLModel, *, required: bool = True) -> str:
    endpoint = str((model.provider_config or {}).get("endpoint") or "")
    if required and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ProviderFailed(
            f"Model '{model.pk}' has no http(s) endpoint in providerConfig.endpoint.",
            extra={"reason": "misconfigured"},
        )
    return endpoint


def auth_headers(ctx: CallContext) -> dict[str, str]:
    """`credentials.apiKey` as `Authorization: Bearer …`, or in `config.authHeader` as is."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    extra = model_config(ctx.model).get("headers") or {}
    if isinstance(extra, dict):
        headers |= {str(k): str(v) for k, v in extra.items()}
    key = ctx.credentials.get("apiKey")
    if key:
        header = str(model_config(ctx.model).get("authHeader") or "Authorization")
        headers[header] = f"Bearer {key}" if header.lower() == "authorization" else key
    return headers


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
