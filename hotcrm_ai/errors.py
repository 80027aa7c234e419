"""One family of application errors and the one handler that turns every error into
`{"error": {"code", "message"}}` with the status that fits."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.extra = extra or {}


class InvalidInput(ApplicationError):
    status = 400
    code = "invalid_input"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"


class PreconditionFailed(ApplicationError):
    status = 412
    code = "precondition_failed"


class NotSupported(ApplicationError):
    status = 422
    code = "not_supported"


class ProviderFailed(ApplicationError):
    status = 502
    code = "provider_failed"


class ProviderTimeout(ApplicationError):
    status = 504
    code = "provider_timeout"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _flatten(detail: Any, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out: list[str] = []
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            out += _flatten(value, f"{prefix}{name}" if not prefix else f"{prefix}.{name}")
        return out
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item, prefix)]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def invalid_input_of(exc: drf.ValidationError) -> InvalidInput:
    """A serializer's refusal as the InvalidInput the handler would answer (400 invalid_input),
    for a caller that reports errors item by item rather than raising them."""
    return InvalidInput("; ".join(_flatten(exc.detail)) or "Invalid input.", code="invalid_input")


_DRF_CODES = {
    drf.NotAuthenticated: "not_authenticated",
    drf.AuthenticationFailed: "authentication_failed",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "throttled",
    drf.ParseError: "malformed_json",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, **exc.extra), status=exc.status)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away (restart, failover): say so, and let the client retry;
        # CONN_HEALTH_CHECKS replaces the broken connection on the next request.
        logger.warning("Database unavailable: %s", exc)
        return Response(error_body("service_unavailable", "The database is unavailable; retry shortly."),
                        status=503, headers={"Retry-After": "1"})
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("body_too_large", "The request body is too large."), status=400)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.ValidationError):
        messages = _flatten(exc.detail)
        return Response(
            error_body("invalid_input", "; ".join(messages) or "Invalid input.", details=exc.detail),
            status=400,
        )
    if isinstance(exc, drf.APIException):
        code = next((c for k, c in _DRF_CODES.items() if isinstance(exc, k)), "error")
        if auth_header := getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = auth_header
        if wait := getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(wait + 0.999))
        detail = exc.detail if isinstance(exc.detail, str) else "; ".join(_flatten(exc.detail))
        return Response(error_body(code, str(detail)), status=exc.status_code, headers=headers)
    return None


def json_404(request: Any, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "No such resource."), status=404)


def json_500(request: Any) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)


def json_400(request: Any, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)
