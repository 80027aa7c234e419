"""Feature schemas: what a model accepts, and the validation of one request's features.

A schema is JSON kept in the registry (`featureSchema`)::

    {"features": [
        {"name": "company_size", "type": "integer", "min": 1, "max": 1000000},
        {"name": "industry", "type": "category", "categories": ["Technology", "Other"],
         "otherCategory": "Other"},
        {"name": "usage_patterns", "type": "object", "required": false, "default": {}}
    ]}

Types: integer, number, boolean, category, string, text, number_list, string_list, object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

SCALAR_TYPES = {"integer", "number", "boolean", "category"}
TYPES = SCALAR_TYPES | {"string", "text", "number_list", "string_list", "object"}
MAX_STRING_LENGTH = 10_000
MAX_LIST_ITEMS = 1_000
MAX_OBJECT_DEPTH = 4
MAX_OBJECT_KEYS = 100
MAX_FEATURES = 200
MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer a JSON (JavaScript) client holds exactly


class FeatureError(ValueError):
    """One feature is wrong; `code` is machine-readable, the message names the feature."""

    def __init__(self, code: str, feature: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.feature = feature
        self.message = message


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    type: str
    label: str
    required: bool
    default: Any
    minimum: float | None
    maximum: float | None
    categories: tuple[str, ...]
    other_category: str | None
    max_length: int
    min_items: int
    max_items: int

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FeatureSpec:
        return cls(
            name=raw["name"],
            type=raw["type"],
            label=raw.get("label") or raw["name"].replace("_", " ").title(),
            required=raw.get("required", "default" not in raw),
            default=raw.get("default"),
            minimum=raw.get("min"),
            maximum=raw.get("max"),
            categories=tuple(raw.get("categories", ())),
            other_category=raw.get("otherCategory"),
            max_length=int(raw.get("maxLength", MAX_STRING_LENGTH)),
            min_items=int(raw.get("minItems", 0)),
            max_items=int(raw.get("maxItems", MAX_LIST_ITEMS)),
        )

    @cached_property
    def category_lookup(self) -> dict[str, str]:
        """Each category by its case-folded form (the first category wins a tie)."""
        lookup: dict[str, str] = {}
        for category in self.categories:
            lookup.setdefault(category.lower(), category)
        return lookup

    @property
    def is_scalar(self) -> bool:
        return self.type in SCALAR_TYPES


class Schema(list):
    """The parsed features of a schema, with their names as a set (validation checks every
    request's keys against it)."""

    def __init__(self, specs: list[FeatureSpec]) -> None:
        super().__init__(specs)
        self.names = frozenset(spec.name for spec in specs)


def parse_schema(schema: dict[str, Any] | None) -> Schema:
    return Schema([FeatureSpec.from_json(f) for f in (schema or {}).get("features", [])])


def check_schema(schema: Any) -> None:
    """Raise ValueError with a readable message when a registry schema is malformed."""
    if schema in (None, {}):
        return
    if not isinstance(schema, dict) or not isinstance(schema.get("features"), list):
        raise ValueError('featureSchema must be {"features": [ {name, type, ...}, ... ]}.')
    if len(schema["features"]) > MAX_FEATURES:
        raise ValueError(f"featureSchema may declare at most {MAX_FEATURES} features.")
    seen: set[str] = set()
    for raw in schema["features"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
            raise ValueError("Every feature needs a non-empty string 'name'.")
        name = raw["name"]
        if name in seen:
            raise ValueError(f"Feature '{name}' is declared twice.")
        seen.add(name)
        if raw.get("type") not in TYPES:
            raise ValueError(f"Feature '{name}' has type {raw.get('type')!r}; use one of {sorted(TYPES)}.")
        for bound in ("min", "max"):
            value = raw.get(bound)
            if value is not None and (not _is_number(value) or not math.isfinite(value)):
                raise ValueError(f"Feature '{name}': '{bound}' must be a finite number.")
        if raw.get("min") is not None and raw.get("max") is not None and raw["min"] > raw["max"]:
            raise ValueError(f"Feature '{name}': 'min' is greater than 'max'.")
        _check_spec_values(name, raw)
        if raw["type"] == "category":
            categories = raw.get("categories")
            if not isinstance(categories, list) or not categories or not all(isinstance(c, str) for c in categories):
                raise ValueError(f"Feature '{name}': a category needs a non-empty list of string 'categories'.")
            other = raw.get("otherCategory")
            if other is not None and other not in categories:
                raise ValueError(f"Feature '{name}': 'otherCategory' must be one of its categories.")
        if raw.get("default") is not None:
            try:
                clean_value(FeatureSpec.from_json(raw), raw["default"])
            except FeatureError as exc:
                raise ValueError(f"Feature '{name}': its default is invalid: {exc.message}") from None


def _check_spec_values(name: str, raw: dict[str, Any]) -> None:
    """The optional keys hold values of their type, so parsing the schema for a request can
    never fail (a `maxLength: "abc"` used to pass here and break every prediction)."""
    for key in ("maxLength", "minItems", "maxItems"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not
                                  0 <= value <= MAX_SAFE_INTEGER):
            raise ValueError(f"Feature '{name}': '{key}' must be a non-negative integer.")
    if raw.get("minItems", 0) > raw.get("maxItems", MAX_LIST_ITEMS):
        raise ValueError(f"Feature '{name}': 'minItems' is greater than 'maxItems'.")
    if "required" in raw and not isinstance(raw["required"], bool):
        raise ValueError(f"Feature '{name}': 'required' must be true or false.")
    for key in ("label", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise ValueError(f"Feature '{name}': '{key}' must be a string.")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_range(spec: FeatureSpec, value: float) -> None:
    if not math.isfinite(value):
        raise FeatureError("invalid_value", spec.name, f"Feature '{spec.name}' must be a finite number.")
    if spec.minimum is not None and value < spec.minimum:
        raise FeatureError("out_of_range", spec.name, f"Feature '{spec.name}' must be at least {spec.minimum:g} (got {value:g}).")
    if spec.maximum is not None and value > spec.maximum:
        raise FeatureError("out_of_range", spec.name, f"Feature '{spec.name}' must be at most {spec.maximum:g} (got {value:g}).")


def _type_error(spec: FeatureSpec, expected: str, value: Any) -> FeatureError:
    return FeatureError(
        "invalid_type", spec.name, f"Feature '{spec.name}' must be {expected}, not {type(value).__name__}."
    )


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def clean_value(spec: FeatureSpec, value: Any) -> Any:
    """Coerce one value to its declared type or raise FeatureError."""
    kind = spec.type
    if kind == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _type_error(spec, "an integer", value)
        if abs(value) > MAX_SAFE_INTEGER:
            raise FeatureError("out_of_range", spec.name, f"Feature '{spec.name}' is beyond ±(2^53-1).")
        _check_range(spec, value)
        return value
    if kind == "number":
        if not _is_number(value):
            raise _type_error(spec, "a number", value)
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            raise FeatureError("out_of_range", spec.name, f"Feature '{spec.name}' is too large.") from None
        _check_range(spec, number)
        return number
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _type_error(spec, "true or false", value)
        return value
    if kind == "category":
        if not isinstance(value, str):
            raise _type_error(spec, "a string", value)
        if len(value) > spec.max_length:
            raise FeatureError("too_long", spec.name, f"Feature '{spec.name}' is longer than {spec.max_length} characters.")
        category = spec.category_lookup.get(value.strip().lower())
        if category is not None:
            return category
        if spec.other_category is not None:
            return spec.other_category
        raise FeatureError(
            "invalid_value", spec.name, f"Feature '{spec.name}' must be one of {', '.join(spec.categories)}."
        )
    if kind in ("string", "text"):
        if not isinstance(value, str):
            raise _type_error(spec, "a string", value)
        if len(value) > spec.max_length:
            raise FeatureError("too_long", spec.name, f"Feature '{spec.name}' is longer than {spec.max_length} characters.")
        return value
    if kind in ("number_list", "string_list"):
        if not isinstance(value, list):
            raise _type_error(spec, "a list", value)
        if not spec.min_items <= len(value) <= spec.max_items:
            raise FeatureError(
                "invalid_length", spec.name,
                f"Feature '{spec.name}' must have between {spec.min_items} and {spec.max_items} items (got {len(value)}).",
            )
        if kind == "number_list":
            if not all(_is_number(v) for v in value):
                raise FeatureError("invalid_type", spec.name, f"Feature '{spec.name}' must be a list of numbers.")
            try:
                numbers = [float(v) for v in value]
            except OverflowError:
                raise FeatureError("out_of_range", spec.name, f"Feature '{spec.name}' holds a number too large.") from None
            for v in numbers:
                _check_range(spec, v)
            return numbers
        if not all(isinstance(v, str) and len(v) <= 200 for v in value):
            raise FeatureError("invalid_type", spec.name, f"Feature '{spec.name}' must be a list of short strings.")
        return list(value)
    if kind == "object":
        if not isinstance(value, dict):
            raise _type_error(spec, "an object", value)
        if len(value) > MAX_OBJECT_KEYS or _depth(value) > MAX_OBJECT_DEPTH:
            raise FeatureError(
                "too_complex", spec.name,
                f"Feature '{spec.name}' may have at most {MAX_OBJECT_KEYS} keys and {MAX_OBJECT_DEPTH} levels.",
            )
        return value
    raise FeatureError("invalid_schema", spec.name, f"Feature '{spec.name}' has an unknown type {kind!r}.")


def validate_features(specs: list[FeatureSpec], features: Any) -> dict[str, Any]:
    """Return the cleaned features, or raise FeatureError naming the first offending one."""
    if not isinstance(features, dict):
        raise FeatureError("invalid_features", None, "'features' must be a JSON object.")
    if len(features) > MAX_FEATURES:
        raise FeatureError(
            "too_many_features", None, f"'features' has {len(features)} keys; at most {MAX_FEATURES} are accepted."
        )
    known = specs.names if isinstance(specs, Schema) else {spec.name for spec in specs}
    if not features.keys() <= known:
        unknown = sorted(features.keys() - known)
        name = unknown[0][:100]  # echo a bounded part of whatever the caller sent
        raise FeatureError(
            "unknown_feature", name, f"Unknown feature '{name}'; this model accepts: {', '.join(sorted(known))}.",
        )
    cleaned: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in features or features[spec.name] is None:
            if spec.required:
                raise FeatureError("missing_feature", spec.name, f"Missing required feature '{spec.name}'.")
            cleaned[spec.name] = spec.default
            continue
        cleaned[spec.name] = clean_value(spec, features[spec.name])
    return cleaned


def example_row(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A valid row built from a feature schema alone: defaults, minimums, first categories."""
    row: dict[str, Any] = {}
    for spec in (schema or {}).get("features", []):
        kind = spec.get("type")
        if "default" in spec:
            row[spec["name"]] = spec["default"]
        elif kind in ("integer", "number"):
            low = spec.get("min", 0)
            row[spec["name"]] = int(low) if kind == "integer" else float(low)
        elif kind == "category":
            row[spec["name"]] = (spec.get("categories") or ["Other"])[0]
        elif kind in ("string", "text"):
            row[spec["name"]] = "health check"
        elif kind == "boolean":
            row[spec["name"]] = False
        elif kind in ("number_list", "string_list"):
            row[spec["name"]] = []
        elif kind == "object":
            row[spec["name"]] = {}
    return row


# --- a whole batch at once -------------------------------------------------------------------

_COLUMN_TYPES: dict[str, set[type]] = {
    "integer": {int, float}, "number": {int, float}, "boolean": {bool}, "category": {str},
    "string": {str}, "text": {str},
}


def clean_columns(specs: list[FeatureSpec], rows: list[Any]) -> dict[str, list[Any]] | None:
    """Every row's cleaned features, one list per feature in schema order, when every row is
    valid: what `validate_features` returns for each row, checked a column at a time (numpy
    for numbers). None when some row may be wrong (or holds a value this path does not
    prove); the caller then validates row by row, so an error is worded, coded and placed
    exactly as `validate_features` words it for the first bad row."""
    known = specs.names if isinstance(specs, Schema) else frozenset(spec.name for spec in specs)
    if len(known) > MAX_FEATURES or not all(type(row) is dict and row.keys() <= known for row in rows):
        return None
    columns: dict[str, list[Any]] = {}
    for spec in specs:
        values = [row.get(spec.name) for row in rows]
        absent = [i for i, v in enumerate(values) if v is None] if None in values else []
        if absent and spec.required:
            return None
        present = [v for v in values if v is not None] if absent else values
        cleaned = _clean_column(spec, present)
        if cleaned is None:
            return None
        if absent:  # an optional feature left out (or null) takes its default, uncleaned
            filled = iter(cleaned)
            gap = set(absent)
            cleaned = [spec.default if i in gap else next(filled) for i in range(len(rows))]
        columns[spec.name] = cleaned
    return columns


def _clean_column(spec: FeatureSpec, values: list[Any]) -> list[Any] | None:
    """`clean_value` over a column whose values are all given, or None when one may fail."""
    if not values:
        return values
    types = set(map(type, values))
    allowed = _COLUMN_TYPES.get(spec.type)
    if allowed is None:  # lists and objects: their own checks, value by value
        try:
            return [clean_value(spec, v) for v in values]
        except FeatureError:
            return None
    if not types <= allowed:  # bool is not a number here (type(True) is bool, not int)
        return None
    if spec.type in ("integer", "number"):
        return _clean_numbers(spec, values, has_float=float in types)
    if spec.type == "boolean":
        return values
    if max(map(len, values)) > spec.max_length:
        return None
    if spec.type != "category":
        return values
    lookup = {}
    for value in set(values):
        category = spec.category_lookup.get(value.strip().lower(), spec.other_category)
        if category is None:
            return None
        lookup[value] = category
    return list(map(lookup.__getitem__, values))


def _clean_numbers(spec: FeatureSpec, values: list[Any], *, has_float: bool) -> list[Any] | None:
    try:
        numbers = np.array(values, dtype=np.float64)
    except OverflowError:  # an int too large for a float: the row's own error says so
        return None
    if not np.isfinite(numbers).all():
        return None
    low, high = numbers.min(), numbers.max()
    if (spec.minimum is not None and low < spec.minimum) or (spec.maximum is not None and high > spec.maximum):
        return None
    if spec.type == "number":
        cleaned: list[Any] = numbers.tolist()
        return cleaned
    # An integer: whole numbers within ±(2^53-1), where a float holds every integer exactly
    # (so the float comparisons above are the exact ones), integral floats turned into ints.
    if max(abs(low), abs(high)) > MAX_SAFE_INTEGER:
        return None
    if has_float:
        if (numbers != np.floor(numbers)).any():
            return None
        return [int(v) if type(v) is float else v for v in values]
    return values
