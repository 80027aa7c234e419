"""What every external provider shares: per-model timeouts, bounded retries with backoff on
retryable failures only, a circuit breaker whose state lives in the shared cache (so every
app-server process sees it), and the translation of a failure into a sanitised 502/504."""

from __future__ import annotations

import email.utils
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from core.cache import shared_cache
from hotcrm_ai.errors import ApplicationError, ProviderFailed, ProviderTimeout
from predictions.providers import telemetry

if TYPE_CHECKING:
    from registry.models import MLModel

logger = logging.getLogger(__name__)
T = TypeVar("T")


class UpstreamError(Exception):
    """One failed call to a provider. `message` must already be free of secrets.

    `retryable`: worth another attempt (connection errors, 429, 5xx).
    `trips`: counts toward the circuit breaker (the endpoint, not our request, is at fault).
    """

    def __init__(
        self, message: str, *, timeout: bool = False, retryable: bool = False,
        retry_after: float | None = None, status: int | None = None, trips: bool = True,
        reason: str = "", detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.timeout = timeout
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.trips = trips
        self.reason = reason or ("timeout" if timeout else "upstream_error")
        # What the upstream said (its error body): for logs and the admin only, redacted.
        self.detail = detail


def status_error(status: int, retry_after: str | None, code: str = "", *, detail: str = "") -> UpstreamError:
    """An HTTP status from a provider: 429 and 5xx are retried, other 4xx are not and do not
    trip the breaker (the endpoint is up; the request or the credentials are wrong). Of the
    body only an error code (`invalid_api_key`) is kept, never prose the upstream chose."""
    retryable = status == 429 or status >= 500
    suffix = f": {code}" if code and not retryable and _ERROR_CODE.fullmatch(code) else ""
    return UpstreamError(
        f"HTTP {status}{suffix}", retryable=retryable, retry_after=parse_retry_after(retry_after),
        status=status, trips=retryable, reason="http_status", detail=detail,
    )


_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")


def malformed(what: str) -> UpstreamError:
    return UpstreamError(f"malformed response: {what}", reason="malformed_response")


def misconfigured(what: str) -> UpstreamError:
    return UpstreamError(f"misconfigured: {what}", trips=False, reason="misconfigured")


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# --- per-model policy ---------------------------------------------------------------------

def model_config(model: MLModel) -> dict[str, Any]:
    config = (model.provider_config or {}).get("config") or {}
    return config if isinstance(config, dict) else {}


def _number(config: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ApplicationError(
            f"providerConfig.config.{key} must be a number from {low:g} to {high:g}.",
            code="provider_misconfigured", status=422,
        )
    return float(value)


@dataclass(frozen=True)
class CallPolicy:
    connect_timeout: float
    read_timeout: float
    attempts: int
    backoff: float
    max_backoff: float
    max_retry_after: float
    failure_threshold: int
    failure_window: float
    open_seconds: float

    @classmethod
    def for_model(cls, model: MLModel) -> CallPolicy:
        return cls.from_config(model_config(model))

    @classmethod
    def from_config(cls, c: dict[str, Any]) -> CallPolicy:
        timeout = _number(c, "timeout", 10.0, 0.01, 300)
        return cls(
            connect_timeout=_number(c, "connectTimeout", min(timeout, 3.0), 0.01, 60),
            read_timeout=_number(c, "readTimeout", timeout, 0.01, 300),
            attempts=1 + int(_number(c, "retries", 2, 0, 10)),
            backoff=_number(c, "backoff", 0.2, 0, 30),
            max_backoff=_number(c, "maxBackoff", 5.0, 0, 60),
            max_retry_after=_number(c, "maxRetryAfter", 10.0, 0, 120),
            failure_threshold=int(_number(c, "circuitFailureThreshold", 5, 1, 1000)),
            failure_window=_number(c, "circuitFailureWindow", 60.0, 1, 86_400),
            open_seconds=_number(c, "circuitOpenSeconds", 30.0, 0.1, 86_400),
        )


# --- circuit breaker ----------------------------------------------------------------------

class CircuitOpen(Exception):
    def __init__(self, retry_in: float) -> None:
        super().__init__("circuit open")
        self.retry_in = retry_in


class CircuitBreaker:
    """Closed -> open after `failure_threshold` failures within `failure_window` seconds ->
    after `open_seconds` one trial call (half-open) -> closed on success, open again on failure.

    Hand-written rather than pybreaker: pybreaker shares state only through a raw Redis
    connection, while ours must go through the project's cache manager (key prefix, and the
    in-process cache standing in while Redis is down). State is three small cache keys.
    """

    def __init__(self, target: str, policy: CallPolicy) -> None:
        digest = hashlib.sha256(target.encode()).hexdigest()[:20]
        self.failures_key = f"circuit:{digest}:failures"
        self.open_key = f"circuit:{digest}:open-until"
        self.probe_key = f"circuit:{digest}:probe"
        self.policy = policy
        self._dirty = False

    def state(self) -> tuple[str, float]:
        """("closed" | "open" | "half-open", seconds until the next trial)."""
        found = shared_cache().get_many([self.failures_key, self.open_key])
        open_until = found.get(self.open_key) or 0.0
        if not open_until:
            return "closed", 0.0
        left = open_until - time.time()
        return ("open", left) if left > 0 else ("half-open", 0.0)

    def before_call(self) -> None:
        found = shared_cache().get_many([self.failures_key, self.open_key])
        self._dirty = bool(found)
        open_until = found.get(self.open_key) or 0.0
        if not open_until:
            return
        left = open_until - time.time()
        if left > 0:
            raise CircuitOpen(left)
        # Half-open: one trial call across all processes; the others wait for its outcome.
        trial_time = self.policy.attempts * (self.policy.read_timeout + self.policy.max_backoff) + 1
        if not shared_cache().add(self.probe_key, 1, int(trial_time) + 1):
            raise CircuitOpen(trial_time)

    def succeeded(self) -> None:
        if self._dirty:
            for key in (self.failures_key, self.open_key, self.probe_key):
                shared_cache().delete(key)
            self._dirty = False

    def failed(self) -> None:
        cache = shared_cache()
        cache.add(self.failures_key, 0, int(self.policy.failure_window))
        failures = cache.incr(self.failures_key)
        was_open = cache.get_or_default(self.open_key, 0.0)
        if failures >= self.policy.failure_threshold or was_open:
            cache.set(self.open_key, time.time() + self.policy.open_seconds,
                      int(self.policy.open_seconds + self.policy.failure_window) + 60)
            cache.delete(self.probe_key)
        self._dirty = True

    def reset(self) -> None:
        for key in (self.failures_key, self.open_key, self.probe_key):
            shared_cache().delete(key)


# --- one guarded call ---------------------------------------------------------------------

class Redactor:
    """Removes credential values from any text before it can reach a log or a response."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if isinstance(s, str) and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _should_retry(policy: CallPolicy) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if not isinstance(exc, UpstreamError) or not exc.retryable:
            return False
        # A provider asking us to wait longer than we are willing to hold a request: give up.
        return exc.retry_after is None or exc.retry_after <= policy.max_retry_after
    return check


def _wait(policy: CallPolicy) -> Callable[[Any], float]:
    backoff = wait_exponential_jitter(initial=policy.backoff, max=policy.max_backoff, jitter=policy.backoff)

    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, UpstreamError) and exc.retry_after is not None:
            return exc.retry_after
        return backoff(state)
    return wait


def failure_reason(exc: UpstreamError) -> str:
    """A failure's reason as counted on /metrics: an HTTP status names itself (http_503)."""
    return f"http_{exc.status}" if exc.reason == "http_status" and exc.status else exc.reason


def guarded_call(
    fn: Callable[[], T], *, model: MLModel, target: str, policy: CallPolicy, redact: Redactor,
) -> T:
    """Run `fn` (one provider call raising UpstreamError) with retries and the breaker, and
    turn a final failure into ProviderFailed (502) or ProviderTimeout (504). Each call, its
    retries and the outcome are counted on /metrics (telemetry)."""
    breaker = CircuitBreaker(target, policy)
    label = f"Model '{model.pk}' ({model.provider})"
    try:
        breaker.before_call()
    except CircuitOpen as exc:
        logger.warning("%s: circuit open, call skipped", model.pk)
        telemetry.call_finished(model, telemetry.CIRCUIT_OPEN, None)
        raise ProviderFailed(
            f"{label} failed repeatedly; calls to its endpoint are paused for about "
            f"{max(1, round(exc.retry_in))} s.", extra={"reason": "circuit_open"},
        ) from None
    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts), wait=_wait(policy),
        retry=retry_if_exception(_should_retry(policy)), reraise=True,
        before_sleep=lambda state: telemetry.call_retried(model, _attempt_reason(state)),
    )
    started = time.perf_counter()
    try:
        result = retrying(fn)
    except UpstreamError as exc:
        telemetry.call_finished(model, failure_reason(exc), started)
        if exc.trips:
            breaker.failed()
        attempts = retrying.statistics.get("attempt_number", 1)
        message = redact(exc.message)[:300]
        logger.warning("%s failed after %d attempt(s): %s%s", model.pk, attempts, message,
                       f" ({redact(exc.detail)[:300]})" if exc.detail else "")
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if exc.timeout:
            raise ProviderTimeout(
                f"{label} did not answer within {policy.read_timeout:g} s{tries}.",
                extra={"reason": "timeout"},
            ) from None
        raise ProviderFailed(f"{label} failed{tries}: {message}", extra={"reason": exc.reason}) from None
    except BaseException:
        telemetry.call_finished(model, telemetry.UNEXPECTED, started)
        raise
    telemetry.call_finished(model, telemetry.SUCCESS, started)
    breaker.succeeded()
    return result


def _attempt_reason(state: Any) -> str:
    exc = state.outcome.exception() if state.outcome else None
    return failure_reason(exc) if isinstance(exc, UpstreamError) else telemetry.UNEXPECTED
