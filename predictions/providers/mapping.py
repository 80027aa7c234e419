"""From a model's features to a provider's payload, and from its answer back to `prediction`
and `confidence`, as the model's `providerConfig.config` says:

    "request":  {"rowsKey": "instances", "rowFormat": "object" | "array", "features": [...],
                 "extra": {...}}
    "response": {"predictionsPath": "predictions", "valuePath": "", "confidencePath": "confidence",
                 "labels": ["cold", "warm", "hot"], "outputKey": "score"}

Paths are dotted (`outputs.0.data`); list indexes are numbers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ml.base import Prediction
from ml.schema import example_row as schema_example_row
from predictions.providers.resilience import malformed, misconfigured, model_config

if TYPE_CHECKING:
    from registry.models import MLModel

_MISSING = object()


def request_config(model: MLModel) -> dict[str, Any]:
    value = model_config(model).get("request") or {}
    return value if isinstance(value, dict) else {}


def response_config(model: MLModel) -> dict[str, Any]:
    value = model_config(model).get("response") or {}
    return value if isinstance(value, dict) else {}


def feature_order(model: MLModel) -> list[str]:
    """The order of values in an array row: `request.features`, else the feature schema's."""
    order = request_config(model).get("features")
    if isinstance(order, list) and order:
        return [str(name) for name in order]
    return [f["name"] for f in (model.feature_schema or {}).get("features", []) if "name" in f]


def positional_order(model: MLModel) -> list[str]:
    """`feature_order` for rows sent by position (arrays, CSV lines). A model without a
    schema has none: the keys of a JSON object have no order its cache key could keep."""
    order = feature_order(model)
    if not order:
        raise misconfigured("rows sent by position (an array or CSV line) need the order of the features: "
                            "set config.request.features or a featureSchema")
    return order


def column_names(model: MLModel, rows: list[dict[str, Any]]) -> list[str]:
    """The columns of a table sent with named columns: `feature_order`, else (a model without
    a schema) every key of the rows, in the order they first appear."""
    return feature_order(model) or list(dict.fromkeys(key for row in rows for key in row))


def row_payload(model: MLModel, row: dict[str, Any]) -> Any:
    if request_config(model).get("rowFormat", "object") == "array":
        return [row.get(name) for name in positional_order(model)]
    return row


def dig(value: Any, path: str | None, default: Any = _MISSING) -> Any:
    if not path:
        return value
    for part in str(path).split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            if default is _MISSING:
                raise malformed(f"no '{path}' in the answer")
            return default
    return value


def predictions_list(model: MLModel, body: Any, expected: int, default_path: str = "predictions") -> list[Any]:
    """The list of per-row answers in a batch response, checked against the rows sent."""
    path = response_config(model).get("predictionsPath", default_path)
    # Many scoring servers answer with the bare list.
    items = body if path == default_path and isinstance(body, list) else dig(body, path)
    if not isinstance(items, list):
        raise malformed(f"'{path or 'the body'}' is not a list")
    if len(items) != expected:
        raise malformed(f"{len(items)} predictions for {expected} rows")
    return items


def to_prediction(model: MLModel, item: Any) -> Prediction:
    """One answer as a Prediction; the confidence comes from the answer itself or is None."""
    config = response_config(model)
    value = dig(item, config.get("valuePath"))
    confidence = _number_or_none(dig(item, config.get("confidencePath", "confidence"), None)
                                 if isinstance(item, dict) else None)
    labels = config.get("labels")
    if isinstance(labels, list) and labels:
        value, derived = _labelled(value, labels)
        confidence = confidence if confidence is not None else derived
    if confidence is None:
        confidence = _derived_confidence(model, value)
    if isinstance(value, dict):
        key = config.get("confidencePath", "confidence")
        value = {k: v for k, v in value.items() if k != key}
    elif config.get("outputKey"):
        value = {str(config["outputKey"]): value}
    _check_json_number(value)
    return Prediction(value, _as_percent(confidence))


def _labelled(value: Any, labels: list[Any]) -> tuple[Any, float | None]:
    """A class index or a vector of class probabilities, named by `labels`."""
    if _is_number(value) and float(value).is_integer() and 0 <= int(value) < len(labels):
        return {"class": labels[int(value)]}, None
    if isinstance(value, list) and len(value) == len(labels) and all(_is_number(v) for v in value):
        best = max(range(len(value)), key=lambda i: value[i])
        return {"class": labels[best], "probabilities": dict(zip(map(str, labels), value, strict=True))}, value[best]
    if isinstance(value, str) and value in labels:
        return {"class": value}, None
    raise malformed("the answer is not one of the configured labels")


def _derived_confidence(model: MLModel, value: Any) -> float | None:
    """From the answer's own probability: a classifier's p in 0..1 or a probability vector."""
    if isinstance(value, dict):
        for key in ("probabilities", "probability", "scores"):
            if key in value:
                return _derived_confidence(model, value[key])
        return None
    if isinstance(value, list) and value and all(_is_number(v) for v in value):
        if all(0 <= v <= 1 for v in value) and abs(sum(value) - 1) < 1e-3:
            return max(value)
        return None
    if isinstance(value, dict | list) or not _is_number(value):
        return None
    # Only a float is a probability: an int 0 or 1 is a class index (MLflow's `predict`),
    # which says nothing about how sure the model is.
    if model.type == "classification" and isinstance(value, float) and 0 <= value <= 1:
        return max(value, 1 - value)
    return None


def _as_percent(confidence: float | None) -> float | None:
    """Fractions 0..1 become percent; percentages stay; anything else is refused."""
    if confidence is None:
        return None
    if not 0 <= confidence <= 100:
        raise malformed("the confidence is outside 0..1 and 0..100")
    return round(confidence * 100 if confidence <= 1 else confidence, 4)


def _number_or_none(value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value):
        raise malformed("the confidence is not a number")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_json_number(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise malformed("a prediction is not a finite number")


def example_row(model: MLModel) -> dict[str, Any]:
    """A valid row for health checks (a real, cheap call): `config.healthCheckFeatures`, else
    one built from the feature schema alone."""
    configured = model_config(model).get("healthCheckFeatures")
    if isinstance(configured, dict):
        return configured
    return schema_example_row(model.feature_schema)
