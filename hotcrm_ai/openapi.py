"""OpenAPI details drf-spectacular cannot infer: the token scheme and the error responses
every operation can give, all in the one `{"error": {"code", "message"}}` shape."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Machine-readable, e.g. `unknown_feature`."},
                "message": {"type": "string", "description": "What was wrong, for a person."},
            },
            "required": ["code", "message"],
            "additionalProperties": True,
        }
    },
    "required": ["error"],
}

DESCRIPTIONS = {
    400: "Bad input: malformed JSON, unknown or missing feature, wrong type, out of range, "
         "batch or body too large, nesting too deep, non-finite number, a string holding NUL "
         "or a lone surrogate.",
    401: "No token, or an invalid or revoked one.",
    403: "The caller may not do this (registry writes, cache clearing and erasure need staff, and a "
         "user the Django permission for it).",
    404: "No such model or resource.",
    409: "Conflict, e.g. the model is not active or already exists.",
    412: "If-Match names an ETag the model no longer has: it changed since it was read.",
    413: "The upload is larger than the limit.",
    414: "The request line (path and query string) is longer than the server accepts.",
    422: "Not supported for this model.",
    429: "Throttled: too many requests for this token. See the Retry-After header.",
    502: "The model's provider failed.",
    503: "A backing service (the database) is unavailable; retry shortly.",
    504: "The model's provider timed out.",
}
# 414: gunicorn refuses an over-long request line on any operation (found by schemathesis).
ALWAYS = (401, 403, 414, 429, 503)
METHODS = ("get", "post", "put", "patch", "delete")
# Statuses beyond the generic ones, for views of other apps that do not declare
# `error_statuses` themselves; found by reading their services and by schemathesis.
KNOWN_STATUSES: dict[str, tuple[int, ...]] = {
    "ExplanationApi": (404, 409, 422, 502, 504),
    "CompareApi": (404, 409, 422, 502, 504),
    "PredictionFeedbackApi": (409, 422),
    "ModelPromoteApi": (409, 422),
    "CacheApi": (404,),
    "ReportQueryApi": (422, 502, 504),
    "AbTestReportApi": (422,),
}


class AutoSchema(SpectacularAutoSchema):
    def get_operation_id(self) -> str:
        """What the operation does, without the API version: `predictions_create`,
        `models_list`; a sub-resource is named after its one parent: `model_stats_retrieve`,
        `prediction_feedback_create`."""
        operation_id = super().get_operation_id()
        plain = "_".join(t.replace("-", "_") for t in self._tokenize_path())
        action = operation_id.removeprefix(plain + "_")
        parent_param_child = re.compile(r"^/?([\w-]+)/\{[\w-]+\}/(.+)$")
        match = parent_param_child.match(re.sub(self.path_prefix, "", self.path, flags=re.IGNORECASE))
        if match is None:
            return operation_id
        parent, child = match.group(1).removesuffix("s"), match.group(2)
        tokens = [parent, *(t for t in child.strip("/").split("/") if not t.startswith("{"))]
        return "_".join(t.replace("-", "_") for t in tokens) + "_" + action


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apiauth.authentication.ApiTokenAuthentication"
    name = "TokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`Token <key>`; create one with `python manage.py create_api_token NAME [--staff]`.",
        }


def _view_statuses(generator: Any) -> dict[tuple[str, str], tuple[int, ...]]:
    """Extra statuses a view declares in `error_statuses` (a tuple for every method, or a
    dict by method), by (path, method)."""
    out: dict[tuple[str, str], tuple[int, ...]] = {}
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or []:
        view = getattr(callback, "cls", None)
        declared = getattr(view, "error_statuses", None) or KNOWN_STATUSES.get(getattr(view, "__name__", ""), ())
        if isinstance(declared, dict):
            declared = declared.get(method.lower(), ())
        out[(path, method.lower())] = tuple(declared)
    return out


def add_error_responses(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    headers = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    declared = _view_statuses(generator)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            params = operation.get("parameters", [])
            statuses = set(ALWAYS) | set(declared.get((path, method), ()))
            if "requestBody" in operation or any(p.get("in") == "query" for p in params):
                statuses.add(400)
            if any(p.get("in") == "path" for p in params) or any(p.get("name") == "page" for p in params):
                statuses.add(404)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses.setdefault(str(status), {
                    "description": DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    **({"headers": headers} if status == 429 else {}),
                })
    return result
