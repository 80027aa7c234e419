"""Request limits enforced before a view runs: body size, JSON nesting depth, numbers
that JSON clients cannot represent (NaN, infinities, integers past 2**53) and strings that
cannot be stored (NUL, lone surrogates)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DrfJSONParser

from core.validation import storable_text_error
from hotcrm_ai.errors import InvalidInput, error_body

# The CRM's clients are TypeScript: integers beyond this lose precision in a JS number.
MAX_SAFE_INTEGER = 2**53 - 1
JOB_UPLOAD_PATH = "/api/v1/jobs/"


class BodySizeLimitMiddleware:
    """Refuse a body larger than MAX_BODY_BYTES by its Content-Length, before it is read.

    Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only when `request.body` is read; DRF reads
    the stream itself, so the limit is checked here for every request."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # A job upload is a whole file: its own, larger limit, refused with 413 (the spec's).
        is_upload = request.path == JOB_UPLOAD_PATH and request.method == "POST"
        limit = settings.HOTCRM["JOB_MAX_BYTES" if is_upload else "MAX_BODY_BYTES"]
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("bad_request", "Content-Length is not a number."), status=400)
        if length > limit:
            code = "file_too_large" if is_upload else "body_too_large"
            return JsonResponse(
                error_body(code, f"The request body is {length} bytes; the limit is {limit}."),
                status=413 if is_upload else 400,
            )
        return self.get_response(request)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise InvalidInput(f"The number {text[:40]} is too large: numbers must be finite.", code="number_out_of_range")
    return value


def _safe_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise InvalidInput(
            f"The integer {text[:40]} is beyond ±(2^53-1), the range JSON clients can represent.",
            code="number_out_of_range",
        )
    return value


def _reject_constant(name: str) -> None:
    raise InvalidInput(f"{name} is not a valid JSON number: numbers must be finite.", code="number_out_of_range")


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when containers nest deeper than `limit`. Iterative, so depth costs no stack."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class JSONParser(DrfJSONParser):
    """DRF's JSON parser with the project's limits on numbers and nesting."""

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            data = json.loads(
                text, parse_float=_finite_float, parse_int=_safe_int, parse_constant=_reject_constant
            )
        except RecursionError:
            raise InvalidInput("JSON nested too deeply.", code="too_deep") from None
        except InvalidInput:
            raise
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        limit = settings.HOTCRM["MAX_JSON_DEPTH"]
        if isinstance(data, dict | list) and json_depth_exceeds(data, limit):
            raise InvalidInput(f"JSON nested more than {limit} levels deep.", code="too_deep")
        # Refused here, at the one door every JSON body comes through, so that nothing
        # later tries (and fails, after answering 200) to store such a string. JSON can only
        # spell NUL or a lone surrogate as a \u escape: bodies without one skip the walk.
        if "\\u" in text and (problem := storable_text_error(data)):
            raise InvalidInput(problem, code="invalid_text")
        return data
