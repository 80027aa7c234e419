"""A request's features checked against the answering model's schema (ml.schema)."""

from __future__ import annotations

from typing import Any

from hotcrm_ai.errors import InvalidInput
from ml.schema import FeatureError, FeatureSpec, parse_schema, validate_features
from registry.models import MLModel


def validate(model: MLModel, features: Any, *, row: int | None = None) -> dict[str, Any]:
    try:
        return validate_features(feature_specs(model), features)
    except FeatureError as exc:
        where = f"features[{row}]: " if row is not None else ""
        extra: dict[str, Any] = {"feature": exc.feature} if exc.feature else {}
        if row is not None:
            extra["row"] = row
        raise InvalidInput(where + exc.message, code=exc.code, extra=extra) from None


def feature_specs(model: MLModel) -> list[FeatureSpec]:
    """The model's parsed schema, parsed once per loaded model row (model_get keeps rows per
    process until the registry changes) and again whenever its schema is replaced."""
    parsed = getattr(model, "_parsed_schema", None)
    if parsed is None or parsed[0] is not model.feature_schema:
        parsed = (model.feature_schema, parse_schema(model.feature_schema))
        model._parsed_schema = parsed  # type: ignore[attr-defined]  # a per-row memo
    return parsed[1]
