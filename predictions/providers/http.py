"""JSON over HTTP for the `azure-ml` and `custom` providers: one pooled httpx client per
process, per-model connect and read timeouts, and every failure turned into UpstreamError."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from core.outbound import OutboundRefused, OutboundTransport
from predictions.providers.resilience import (
    CallPolicy,
    UpstreamError,
    malformed,
    misconfigured,
    status_error,
)

_client: httpx.Client | None = None
_lock = threading.Lock()


def client() -> httpx.Client:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                # Every request is checked against PROVIDER_ALLOWED_HOSTS by the transport.
                _client = httpx.Client(follow_redirects=False, transport=OutboundTransport(
                    limits=httpx.Limits(max_connections=100, max_keepalive_connections=20)))
    return _client


def timeout(policy: CallPolicy) -> httpx.Timeout:
    return httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)


def send(
    method: str, url: str, *, policy: CallPolicy, headers: dict[str, str] | None = None,
    body: Any = None,
) -> httpx.Response:
    try:
        response = client().request(
            method, url, headers=headers, timeout=timeout(policy),
            content=None if body is None else json.dumps(body, allow_nan=False).encode(),
        )
    except OutboundRefused as exc:
        raise misconfigured(exc.message) from None
    except httpx.ConnectTimeout:
        raise UpstreamError("connection timed out", retryable=True, reason="connection") from None
    except httpx.TimeoutException:
        # A read timeout is not retried: the model may still be working, and retrying would
        # multiply the wait of a caller who already waited the whole timeout.
        raise UpstreamError("timed out", timeout=True) from None
    except httpx.TransportError as exc:
        raise UpstreamError(f"connection failed ({type(exc).__name__})", retryable=True,
                            reason="connection") from None
    if response.status_code >= 400:
        # The status only: an upstream body never reaches our caller (it may echo a key,
        # or be whatever the endpoint's owner wants our callers to read).
        raise status_error(response.status_code, response.headers.get("Retry-After"),
                           detail=_detail(response))
    return response


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        raise malformed("the body is not JSON") from None


def says_not_ready(response: httpx.Response) -> bool:
    """A readiness answer: any 2xx is ready unless its JSON says `"ready": false`. A 2xx
    that is not JSON counts as ready (MLflow's /ping answers a bare newline)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(body, dict) and body.get("ready") is False


def _detail(response: httpx.Response) -> str:
    """A short hint from an error body, for the log and the admin's connection test only
    (redacted there): never in an answer to an API caller."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return ""
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, list):
                value = _validation_messages(value)
            if isinstance(value, str) and value:
                return value[:200]
    return ""


def _validation_messages(errors: list[Any]) -> str:
    """FastAPI/pydantic's 422 body (MLServer, BentoML, ...): `[{loc, msg}, ...]` as
    "inputs.0.datatype: Field required; ...". Only `loc` and `msg`: `input` echoes the data."""
    parts = []
    for error in errors[:3]:
        if isinstance(error, dict) and isinstance(error.get("msg"), str):
            loc = error.get("loc")
            loc = loc if isinstance(loc, list) else []
            where = ".".join(str(p) for p in loc if p != "body" and isinstance(p, str | int))
            parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)
