"""A request's features checked against the answering model's schema (ml.schema), or, for a
model registered without one, against the limits every JSON value has here."""

from __future__ import annotations

from typing import Any

from core.validation import non_finite_number, storable_text_error
from hotcrm_ai.errors import InvalidInput
from ml.schema import MAX_FEATURES, FeatureError, FeatureSpec, clean_columns, parse_schema, validate_features
from registry.models import MLModel


def validate(model: MLModel, features: Any, *, row: int | None = None) -> dict[str, Any]:
    try:
        specs = feature_specs(model)
        return validate_features(specs, features) if specs else schemaless_features(features)
    except FeatureError as exc:
        where = f"features[{row}]: " if row is not None else ""
        extra: dict[str, Any] = {"feature": exc.feature} if exc.feature else {}
        if row is not None:
            extra["row"] = row
        raise InvalidInput(where + exc.message, code=exc.code, extra=extra) from None


def validate_columns(model: MLModel, rows: list[Any]) -> list[dict[str, Any]] | None:
    """`validate` for many rows of one model, a column at a time: the cleaned rows when every
    row is valid, None when one may not be (or the model has no schema); the caller then
    validates each row, so that an error is exactly the one `validate` raises."""
    specs = feature_specs(model)
    columns = clean_columns(specs, rows) if specs else None
    if columns is None:
        return None
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def schemaless_features(features: Any) -> dict[str, Any]:
    """A model without a featureSchema takes any JSON object and sends it to its provider as
    it is: nothing is coerced, added or dropped. The limits every value has still hold: the
    JSON parsers at each door (request bodies, job files) bound the size, the nesting and
    the integers; here, at most MAX_FEATURES keys, finite numbers and storable strings (a
    job's CSV cell or JSON line reaches this check without the body parser's)."""
    if not isinstance(features, dict):
        raise FeatureError("invalid_features", None, "'features' must be a JSON object.")
    if len(features) > MAX_FEATURES:
        raise FeatureError(
            "too_many_features", None, f"'features' has {len(features)} keys; at most {MAX_FEATURES} are accepted."
        )
    if where := non_finite_number(features, "features"):
        raise FeatureError("invalid_value", None, f"{where} is not a finite number.")
    if problem := storable_text_error(features, "features"):
        raise FeatureError("invalid_text", None, problem)
    return features


def feature_specs(model: MLModel) -> list[FeatureSpec]:
    """The model's parsed schema, parsed once per loaded model row (model_get keeps rows per
    process until the registry changes) and again whenever its schema is replaced. Empty for
    a model without a schema."""
    parsed = getattr(model, "_parsed_schema", None)
    if parsed is None or parsed[0] is not model.feature_schema:
        parsed = (model.feature_schema, parse_schema(model.feature_schema))
        model._parsed_schema = parsed  # type: ignore[attr-defined]  # a per-row memo
    return parsed[1]
