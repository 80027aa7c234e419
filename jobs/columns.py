"""Column-wise validation of CSV rows: each feature's whole column is checked and converted
at once with numpy/pandas (a 5,000-row chunk in milliseconds), with the same meaning as
`ml.schema.clean_value` for one value. The first failing feature of a row (in schema order)
is that row's error, worded as the single-prediction API words it.

CSV cells are text: an empty cell is a missing value (its default, or `missing_feature`);
numbers are parsed as the CSV says them; booleans are true/false/1/0/yes/no.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml.schema import MAX_SAFE_INTEGER, FeatureError, FeatureSpec, clean_value

TRUE = {"true", "1", "yes"}
FALSE = {"false", "0", "no"}


class ColumnErrors:
    """The first error of each row: row position -> (code, message)."""

    def __init__(self) -> None:
        self.by_row: dict[int, tuple[str, str]] = {}

    def add(self, mask: np.ndarray, code: str, message: str) -> None:
        for i in np.flatnonzero(mask):
            self.by_row.setdefault(int(i), (code, message))


def validate_columns(specs: list[FeatureSpec], frame: pd.DataFrame) -> tuple[dict[str, list[Any]], ColumnErrors]:
    """Cleaned values per feature (lists in row order; rows with an error hold junk) and the
    errors. `frame` holds one str column per CSV column."""
    errors = ColumnErrors()
    cleaned: dict[str, list[Any]] = {}
    n = len(frame)
    for spec in specs:
        if spec.name not in frame:
            if spec.required:
                errors.add(np.ones(n, bool), "missing_feature", f"Missing required feature '{spec.name}'.")
            cleaned[spec.name] = [spec.default] * n
            continue
        # A frame that says so (frame.attrs["stripped"]) holds no cell with blanks around it.
        text = frame[spec.name] if frame.attrs.get("stripped") else frame[spec.name].str.strip()
        missing = (text == "").to_numpy()
        if spec.required:
            errors.add(missing, "missing_feature", f"Missing required feature '{spec.name}'.")
        cleaned[spec.name] = _column(spec, text, missing, errors)
        if not spec.required and missing.any():
            values = cleaned[spec.name]
            for i in np.flatnonzero(missing):
                values[i] = spec.default
    return cleaned, errors


def _column(spec: FeatureSpec, text: pd.Series, missing: np.ndarray, errors: ColumnErrors) -> list[Any]:
    kind, name = spec.type, spec.name
    if kind in ("integer", "number"):
        numbers = pd.to_numeric(text.where(~missing, "0"), errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(numbers) & ~missing
        errors.add(bad, "invalid_type", f"Feature '{name}' must be {'an integer' if kind == 'integer' else 'a number'}.")
        ok = ~np.isnan(numbers)
        errors.add(ok & ~np.isfinite(numbers), "invalid_value", f"Feature '{name}' must be a finite number.")
        finite = np.where(np.isfinite(numbers), numbers, 0.0)
        if kind == "integer":
            errors.add(ok & (finite != np.floor(finite)), "invalid_type", f"Feature '{name}' must be an integer.")
            errors.add(ok & (np.abs(finite) > MAX_SAFE_INTEGER), "out_of_range", f"Feature '{name}' is beyond ±(2^53-1).")
        if spec.minimum is not None:
            errors.add(ok & (finite < spec.minimum), "out_of_range", f"Feature '{name}' must be at least {spec.minimum:g}.")
        if spec.maximum is not None:
            errors.add(ok & (finite > spec.maximum), "out_of_range", f"Feature '{name}' must be at most {spec.maximum:g}.")
        if kind == "integer":
            return np.clip(finite, -MAX_SAFE_INTEGER, MAX_SAFE_INTEGER).astype(np.int64).tolist()
        return finite.tolist()
    if kind == "boolean":
        lowered = text.str.lower()
        is_true, is_false = lowered.isin(TRUE).to_numpy(), lowered.isin(FALSE).to_numpy()
        errors.add(~(is_true | is_false) & ~missing, "invalid_type", f"Feature '{name}' must be true or false.")
        return is_true.tolist()
    if kind == "category":
        raw = text.to_numpy(dtype=object)
        errors.add(text.str.len().to_numpy() > spec.max_length, "too_long",
                   f"Feature '{name}' is longer than {spec.max_length} characters.")
        mapped = text.str.lower().map(spec.category_lookup)
        unknown = mapped.isna().to_numpy() & ~missing
        if spec.other_category is not None:
            mapped = mapped.fillna(spec.other_category)
        else:
            errors.add(unknown, "invalid_value", f"Feature '{name}' must be one of {', '.join(spec.categories)}.")
            mapped = mapped.fillna(pd.Series(raw, index=mapped.index))
        return mapped.tolist()
    if kind in ("string", "text"):
        errors.add(text.str.len().to_numpy() > spec.max_length, "too_long",
                   f"Feature '{name}' is longer than {spec.max_length} characters.")
        return text.tolist()
    # Lists and objects do not fit a CSV cell: one value at a time, as JSON.
    return _one_by_one(spec, text, missing, errors)


def _one_by_one(spec: FeatureSpec, text: pd.Series, missing: np.ndarray, errors: ColumnErrors) -> list[Any]:
    import json

    values: list[Any] = []
    for i, cell in enumerate(text.tolist()):
        if missing[i]:
            values.append(spec.default)
            continue
        try:
            values.append(clean_value(spec, json.loads(cell)))
        except FeatureError as exc:
            errors.by_row.setdefault(i, (exc.code, exc.message))
            values.append(None)
        except ValueError:
            errors.by_row.setdefault(i, ("invalid_type", f"Feature '{spec.name}' must be JSON in a CSV cell."))
            values.append(None)
    return values
