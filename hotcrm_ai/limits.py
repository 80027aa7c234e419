"""Request limits enforced before a view runs: body size, JSON nesting depth, numbers
that JSON clients cannot represent (NaN, infinities, integers past 2**53) and strings that
cannot be stored (NUL, lone surrogates)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from typing import Any

import orjson
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
        return checked_json(stream.read() if stream is not None else b"", encoding)


def checked_json(raw: bytes, encoding: str) -> Any:
    """The JSON value of a body, or a clear 400 for what the service refuses."""
    try:
        text = raw.decode(encoding)
        data = json.loads(text, parse_float=_finite_float, parse_int=_safe_int, parse_constant=_reject_constant)
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


class FastJSONParser(JSONParser):
    """JSONParser's answers for large bodies (a 1,000-row batch), parsed by orjson in a fifth
    of the time. orjson refuses what the checked parse refuses or words differently (NaN,
    infinities, lone surrogates, invalid UTF-8, a BOM, nesting past 1,024) and then the
    checked parse runs, so every error is JSONParser's own. What orjson accepts and the
    service does not is checked on the raw bytes: integers of 16 or more digits (past
    2^53-1 they are refused; orjson even turns those past 2^64 into floats) send the body to
    the checked parse, nesting is measured on the brackets, and NUL is looked for only when
    the body spells it."""

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        if codecs.lookup(encoding).name == "utf-8" and not has_long_integer(raw):
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
            else:
                limit = settings.HOTCRM["MAX_JSON_DEPTH"]
                if (not isinstance(data, dict | list) or json_bytes_depth(raw, limit) <= limit) and not (
                        b"\\u0000" in raw and storable_text_error(data)):
                    return data
        return checked_json(raw, encoding)


# Digits as "0", the characters of a fraction or an exponent as ".", anything else a space:
# an integer is then a run of zeros alone between spaces.
_NUMBER_SHAPES = bytes((48 if 48 <= c <= 57 else 46 if c in b".eE" else 32) for c in range(256))
_LONG_RUN = b"0" * 16


def has_long_integer(raw: bytes) -> bool:
    """True when valid JSON `raw` may hold an integer of 16 or more digits (any run of 16
    digits that is not part of a decimal fraction or exponent, strings included)."""
    shapes = raw.translate(_NUMBER_SHAPES)
    if _LONG_RUN not in shapes:  # the usual answer, from two C loops over the bytes
        return False
    return any(len(token) >= 16 and b"." not in token for token in shapes.split())


# Brackets of both kinds as "[" and "]", quotes kept, every other byte dropped.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')


def json_bytes_depth(raw: bytes, limit: int) -> int:
    """The nesting depth of valid JSON `raw` as json_depth_exceeds counts it, measured on
    its bytes (a 1,000-row body in a fraction of a millisecond, where walking the parsed
    value took 1.4 ms), or limit + 1 once past `limit`. Escapes are dropped first (a valid
    document has backslashes only inside strings, and they pair from the left), then
    strings (between the remaining quotes), leaving only brackets; each pass drops the
    innermost pairs, one level."""
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(raw.translate(_BRACKETS, _NOT_STRUCTURE).split(b'"')[::2])
    depth = 0
    while brackets:
        depth += 1
        if depth > limit:
            break
        brackets = brackets.replace(b"[]", b"")
    return depth
