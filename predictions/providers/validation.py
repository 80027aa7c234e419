"""Checks of an external model's provider config when it is registered or edited, so a typo
is a 400 (or a form error in the admin) rather than a failing prediction later."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from core.outbound import outbound_url_problem
from core.secrets import URL_KEYS, secret_name
from hotcrm_ai.errors import ApplicationError
from predictions.providers.resilience import CallPolicy

NEEDS_ENDPOINT = {"azure-ml", "custom"}
METHODS = ("POST", "PUT")
# Headers that steer the HTTP exchange itself, which a model's config must not set.
FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te",
                     "trailer", "keep-alive", "proxy-authorization", "proxy-connection", "expect"}
CHOICES = {
    ("aws-sagemaker", "contentType"): ("application/json", "text/csv"),
    ("azure-ml", "requestFormat"): ("input_data", "data"),
    ("openai", "task"): ("sentiment", "classification", "text", "embedding"),
    ("openai", "structuredOutput"): ("json_schema", "tool"),
    ("anthropic", "task"): ("sentiment", "classification", "text"),
    ("custom", "protocol"): ("v1", "v2"),
}


_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")


def provider_config_errors(provider: str, model_type: str, provider_config: Any) -> list[str]:
    if provider == "local" or not isinstance(provider_config, dict):
        return []
    config = provider_config.get("config") or {}
    if not isinstance(config, dict):
        return ["providerConfig.config must be an object."]
    problems = _endpoint_errors(provider, provider_config.get("endpoint"))
    for key in URL_KEYS:
        if config.get(key) not in (None, "") and (problem := outbound_url_problem(str(config[key]))):
            problems.append(f"providerConfig.config.{key}: {problem}")
    if "method" in config and str(config["method"]).upper() not in METHODS:
        problems.append(f"providerConfig.config.method must be one of: {', '.join(METHODS)}.")
    problems += _header_errors(config.get("headers"))
    try:
        CallPolicy.from_config(config)
    except ApplicationError as exc:
        problems.append(exc.message)
    for (name, key), allowed in CHOICES.items():
        if name == provider and key in config and config[key] not in allowed:
            problems.append(f"providerConfig.config.{key} must be one of: {', '.join(allowed)}.")
    if provider == "aws-sagemaker" and not (isinstance(config.get("endpointName"), str) and config["endpointName"]):
        problems.append("providerConfig.config.endpointName (the SageMaker endpoint) is required.")
    dimensions = config.get("dimensions")
    if provider == "openai" and dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= 65536):
        problems.append("providerConfig.config.dimensions must be an integer from 1 to 65536.")
    if provider in ("openai", "anthropic"):
        task = config.get("task", {"nlp": "sentiment", "classification": "classification"}.get(model_type, "text"))
        labels = config.get("labels")
        if task == "classification" and not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
            problems.append("providerConfig.config.labels (a list of class names) is required for classification.")
    for section, keys in (("request", ("rowsKey", "rowFormat", "features", "extra")),
                          ("response", ("predictionsPath", "valuePath", "confidencePath", "labels", "outputKey"))):
        value = config.get(section)
        if value is not None and not isinstance(value, dict):
            problems.append(f"providerConfig.config.{section} must be an object with {', '.join(keys)}.")
    request = config.get("request")
    if not isinstance(request, dict):
        request = {}
    if request.get("rowFormat", "object") not in ("object", "array"):
        problems.append("providerConfig.config.request.rowFormat must be object or array.")
    return problems


def _endpoint_errors(provider: str, endpoint: Any) -> list[str]:
    if not endpoint:
        return [f"providerConfig.endpoint (an http(s) URL) is required for {provider}."] if provider in NEEDS_ENDPOINT else []
    parts = urlsplit(str(endpoint))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ["providerConfig.endpoint must be an http(s) URL."]
    if problem := outbound_url_problem(str(endpoint)):
        return [f"providerConfig.endpoint: {problem}"]
    return []


def _header_errors(headers: Any) -> list[str]:
    if headers is None:
        return []
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return ["providerConfig.config.headers must be an object of header names to strings."]
    problems = []
    for name in headers:
        if name.lower() in FORBIDDEN_HEADERS or not _TOKEN.fullmatch(name):
            problems.append(f"providerConfig.config.headers may not set {name[:60]!r}.")
        elif secret_name(name):
            problems.append(f"providerConfig.config.headers.{name} looks like a credential: put it in "
                            "credentials.apiKey and name the header in config.authHeader.")
    return problems
