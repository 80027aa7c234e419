"""Outcomes jobs: a file of outcomes by object (columns objectType, objectId, actual and,
optionally, modelId), recorded chunk by chunk on the workers exactly as POST /outcomes/batch/
records them (predictions.outcomes). A row refused is a row error, like a scoring job's bad
row; the results file lists each prediction an outcome reached."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from core.validation import storable_text_error
from jobs.models import InputFormat, Job, JobChunk
from jobs.scoring import RowError, chunk_texts, json_object
from predictions.outcomes import ObjectOutcome, object_outcomes_record

REQUIRED_COLUMNS = ("objectType", "objectId", "actual")
COLUMNS = (*REQUIRED_COLUMNS, "modelId")
LIMITS = {"objectType": 100, "objectId": 200, "modelId": 100}
RESULT_HEADER = ["objectId", "objectType", "actual", "predictionId", "modelId", "requestedModelId", "abTestArm",
                 "recorded"]


@dataclass
class OutcomeRow:
    number: int
    outcome: ObjectOutcome


@dataclass
class OutcomeChunkResult:
    output: bytes = b""
    rows_done: int = 0
    errors: list[RowError] = field(default_factory=list)


def missing_columns(columns: list[str]) -> list[str]:
    return [c for c in REQUIRED_COLUMNS if c not in columns]


def parse_outcome_rows(job: Job, chunk: JobChunk, errors: list[RowError]) -> list[OutcomeRow]:
    """The chunk's rows as outcomes; a row that is not one is a row error. Reads only."""
    rows = []
    csv_file = job.input_format == InputFormat.CSV
    for number, text in chunk_texts(job, chunk, errors):
        record = _csv_record(job, number, text, errors) if csv_file else json_object(number, text, errors)
        if record is None:
            continue
        outcome = _outcome(number, record, errors, actual_is_text=csv_file)
        if outcome is not None:
            rows.append(OutcomeRow(number, outcome))
    return rows


def record_outcomes(rows: list[OutcomeRow], errors: list[RowError]) -> OutcomeChunkResult:
    """Record the rows' outcomes (inside the caller's transaction) and say what each reached."""
    result = OutcomeChunkResult(errors=errors)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row, outcome in zip(rows, object_outcomes_record([r.outcome for r in rows]), strict=True):
        o = row.outcome
        if outcome.error is not None:
            errors.append(RowError(row.number, o.object_id, outcome.error.code, outcome.error.message))
            continue
        result.rows_done += 1
        for reached in outcome.reached:
            log = reached.log
            writer.writerow([o.object_id, o.object_type, log.actual, log.pk, log.model_id, log.requested_model_id,
                             log.ab_arm, "true" if reached.recorded else "false"])
    errors.sort(key=lambda e: e.row)
    result.output = out.getvalue().encode("utf-8")
    return result


def _csv_record(job: Job, number: int, text: str, errors: list[RowError]) -> dict[str, Any] | None:
    try:
        fields = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        errors.append(RowError(number, "", "invalid_csv", "The row is not valid CSV (an unclosed quote?)."))
        return None
    if len(fields) != len(job.columns):
        errors.append(RowError(number, "", "wrong_field_count",
                               f"The row has {len(fields)} fields; the header has {len(job.columns)}."))
        return None
    # An empty cell is a missing value, as in scoring jobs.
    return {name: value for name, value in zip(job.columns, fields, strict=True) if value != ""}


def _outcome(number: int, record: dict[str, Any], errors: list[RowError], *, actual_is_text: bool) -> ObjectOutcome | None:
    object_id = record.get("objectId")
    named = object_id.strip()[:200] if isinstance(object_id, str) and not storable_text_error(object_id) else ""
    problem = _problem(record)
    if problem is not None:
        errors.append(RowError(number, named, "invalid_input", problem))
        return None
    model_id = record.get("modelId")
    return ObjectOutcome(object_type=record["objectType"].strip(), object_id=record["objectId"].strip(),
                         actual=record["actual"], model_id=model_id.strip() if model_id else None,
                         actual_is_text=actual_is_text)


def _problem(record: dict[str, Any]) -> str | None:
    """What is wrong with the row's values (as POST /outcomes/ would refuse them), else None."""
    for name in COLUMNS:
        value = record.get(name)
        if value is None:
            if name != "modelId":
                return f"{name}: This field is required."
            continue
        if name != "actual":
            if not isinstance(value, str) or not value.strip():
                return f"{name}: must be a non-empty string."
            if len(value.strip()) > LIMITS[name]:
                return f"{name}: Ensure this field has no more than {LIMITS[name]} characters."
        if problem := storable_text_error(value, name):
            return problem
    return None
