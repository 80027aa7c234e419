"""Drift references an admin uploads: rows of features (JSON, or a CSV file with a header
of feature names), each checked against the model's featureSchema as a prediction's features
are, stored whole in place of the model's earlier reference (monitoring.drift compares the
model's recent inputs with them)."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.validation import non_finite_number, storable_text_error
from hotcrm_ai.errors import ApplicationError, InvalidInput, NotSupported
from ml.schema import FeatureSpec
from monitoring.models import DriftReference
from predictions.features import feature_specs, validate
from registry.models import MLModel

MIN_ROWS = 20  # fewer tell the drift tests next to nothing
_INTEGER = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def too_large(message: str) -> ApplicationError:
    return ApplicationError(message, code="reference_too_large", status=413)


def drift_reference_set(*, model: MLModel, rows: Any, source: str, uploaded_by: str) -> DriftReference:
    """Check every row against the model's schema and store them as its drift reference."""
    cleaned = reference_rows(model, rows)
    with transaction.atomic():
        reference, _ = DriftReference.objects.update_or_create(model_id=model.pk, defaults={
            "rows": cleaned, "row_count": len(cleaned), "uploaded_at": timezone.now(),
            "uploaded_by": uploaded_by[:200], "source": source,
        })
    return reference


def reference_rows(model: MLModel, rows: Any) -> list[dict[str, Any]]:
    """The rows as the model's schema cleans them, or the first problem as an error."""
    if not model.feature_schema or not feature_specs(model):
        raise NotSupported(f"Model '{model.pk}' has no featureSchema: drift compares features the schema types.",
                           code="no_feature_schema")
    limit = settings.HOTCRM["DRIFT_REFERENCE_MAX_ROWS"]
    if not isinstance(rows, list):
        raise InvalidInput("'rows' must be a list of feature objects.", code="invalid_reference")
    if len(rows) > limit:
        raise too_large(f"A drift reference may hold at most {limit:,} rows (got {len(rows):,}).")
    if len(rows) < MIN_ROWS:
        raise InvalidInput(f"A drift reference needs at least {MIN_ROWS} rows (got {len(rows)}).",
                           code="invalid_reference")
    cleaned = [validate(model, row, row=i) for i, row in enumerate(rows)]
    # CSV cells and JSON cells in them never met the request parser's checks
    unstorable = storable_text_error(cleaned, "rows")
    if unstorable:
        raise InvalidInput(unstorable, code="invalid_text")
    infinite = non_finite_number(cleaned, "rows")
    if infinite:
        raise InvalidInput(f"{infinite} is not a finite number.", code="number_out_of_range")
    return cleaned


def drift_reference_delete(*, model: MLModel) -> bool:
    deleted, _ = DriftReference.objects.filter(model_id=model.pk).delete()
    return bool(deleted)


def csv_rows(model: MLModel, data: bytes) -> list[dict[str, Any]]:
    """A CSV file's rows as feature objects: a header of feature names, one row per line;
    cells typed by the model's schema (an empty cell is a missing value). Hand-written
    rather than jobs/columns.py's pandas reader, which lives above monitoring; a reference
    is small (DRIFT_REFERENCE_MAX_ROWS)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The CSV file is not UTF-8 text.", code="invalid_csv") from None
    if "\x00" in text:
        raise InvalidInput("The CSV file holds a NUL character.", code="invalid_text")
    specs = {s.name: s for s in feature_specs(model)}
    limit = settings.HOTCRM["DRIFT_REFERENCE_MAX_ROWS"]
    rows: list[dict[str, Any]] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise InvalidInput("The CSV file needs a header row of feature names.", code="invalid_csv")
        names = [h.strip() for h in header]
        for line, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(names):
                raise InvalidInput(f"CSV line {line} has {len(record)} cells; the header has {len(names)}.",
                                   code="invalid_csv")
            if len(rows) >= limit:
                raise too_large(f"A drift reference may hold at most {limit:,} rows.")
            rows.append({name: _cell(specs.get(name), cell.strip()) for name, cell in zip(names, record, strict=True)
                         if cell.strip()})
    except csv.Error as exc:
        raise InvalidInput(f"The CSV file cannot be read: {str(exc)[:200]}", code="invalid_csv") from None
    return rows


def _cell(spec: FeatureSpec | None, cell: str) -> Any:
    """A CSV cell as the JSON value its feature's type takes; left as text when it does not
    read as one, so validation names the feature and what it must be."""
    kind = spec.type if spec else ""
    if kind == "integer" and _INTEGER.fullmatch(cell):
        return int(cell)
    if kind in ("integer", "number") and _NUMBER.fullmatch(cell):
        return float(cell)
    if kind == "boolean" and cell.lower() in _BOOLEANS:
        return _BOOLEANS[cell.lower()]
    if kind in ("number_list", "string_list", "object"):
        try:
            return json.loads(cell)
        except (ValueError, RecursionError):
            return cell
    return cell


def reference_summary(reference: DriftReference) -> dict[str, Any]:
    return {
        "modelId": reference.model_id, "rows": reference.row_count,
        "features": sorted(reference.columns()), "format": reference.source,
        "uploadedAt": reference.uploaded_at.isoformat(), "uploadedBy": reference.uploaded_by,
    }
