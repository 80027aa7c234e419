"""Scoring one chunk: rows parsed and validated column-wise, each routed with its object id
(sticky A/B arms), answered through the prediction pipeline's own steps (cache, provider,
fallback), and turned into result lines, prediction-log rows, row errors and aggregated
metrics. Nothing here writes to the database; jobs.services commits it all at once."""

from __future__ import annotations

import csv
import io
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

import pandas as pd
from django.utils import timezone

from hotcrm_ai.errors import ApplicationError
from hotcrm_ai.limits import json_depth_exceeds
from jobs import inputs
from jobs.columns import validate_columns
from jobs.models import InputFormat, Job, JobChunk
from ml.schema import FeatureError, validate_features
from predictions.ab.routing import route_rows
from predictions.features import feature_specs, schemaless_features
from predictions.ids import new_prediction_ids
from predictions.recording import LogRow, log_label
from predictions.services import (
    Answer,
    answer_by_fallback,
    cache_lookup,
    cache_store,
    invoke_provider,
)
from registry.models import MLModel

MAX_JSON_DEPTH = 32
OBJECT_ID_LENGTH = 200


@dataclass
class RowError:
    row: int
    object_id: str
    code: str
    message: str


@dataclass
class MetricGroup:
    """One aggregated metric record: the rows one model answered on one arm in this chunk."""

    model: MLModel
    arm: str
    cached: bool
    rows: int = 0
    confidence_sum: float = 0.0
    confidence_rows: int = 0


@dataclass
class ChunkResult:
    output: bytes = b""
    result_columns: list[str] = field(default_factory=list)
    logs: list[LogRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    metrics: list[MetricGroup] = field(default_factory=list)
    latency_ms: float = 0.0  # per row: the chunk's scoring time divided by its rows


@dataclass
class Row:
    number: int
    object_id: str
    features: dict[str, Any] | None = None


def score_chunk(job: Job, requested: MLModel, chunk: JobChunk) -> ChunkResult:
    started = time.perf_counter()
    result = ChunkResult()
    rows = parse_rows(job, requested, chunk, result.errors)
    answers = answer_rows(job, requested, rows, result.errors, started)
    result.latency_ms = (time.perf_counter() - started) * 1000 / max(1, chunk.row_count)
    result.result_columns = job.result_columns or _result_columns(answers)
    result.output = result_lines(job, result.result_columns, answers)
    result.logs = log_rows(job, requested, answers)
    result.metrics = metric_groups(answers)
    result.errors.sort(key=lambda e: e.row)
    return result


# --- parsing and validation -------------------------------------------------------------

def parse_rows(job: Job, requested: MLModel, chunk: JobChunk, errors: list[RowError]) -> list[Row]:
    texts = chunk_texts(job, chunk, errors)
    if job.input_format == InputFormat.CSV:
        return _csv_rows(job, requested, texts, errors)
    return _json_rows(job, requested, texts, errors)


def chunk_texts(job: Job, chunk: JobChunk, errors: list[RowError]) -> list[tuple[int, str]]:
    """The chunk's records as text with their row numbers; a record that is not UTF-8 or
    holds a NUL is a row error."""
    records = inputs.split_chunk(bytes(chunk.input), job.input_format)
    texts: list[tuple[int, str]] = []
    for offset, record in enumerate(records):
        number = chunk.first_row + offset
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError:
            errors.append(RowError(number, "", "invalid_encoding", "The row is not UTF-8 text."))
            continue
        if "\x00" in text:
            errors.append(RowError(number, "", "invalid_character", "The row holds a NUL character."))
            continue
        texts.append((number, text))
    return texts


def _csv_rows(job: Job, requested: MLModel, texts: list[tuple[int, str]], errors: list[RowError]) -> list[Row]:
    width = len(job.columns)
    cells, numbers = [], []
    try:  # the whole chunk in one pass of the C parser; row by row only when a row is broken
        parsed = list(csv.reader([text for _, text in texts], strict=True))
        if len(parsed) != len(texts):
            raise csv.Error("a record split in two")
    except csv.Error:
        parsed = [None] * len(texts)  # type: ignore[list-item]  # None: parse each line on its own below
    for (number, text), fields in zip(texts, parsed, strict=True):
        try:
            fields = fields if fields is not None else inputs.parse_csv_record(text)
        except (csv.Error, StopIteration):
            errors.append(RowError(number, "", "invalid_csv", "The row is not valid CSV (an unclosed quote?)."))
            continue
        if len(fields) != width:
            errors.append(RowError(number, "", "wrong_field_count",
                                   f"The row has {len(fields)} fields; the header has {width}."))
            continue
        cells.append(fields)
        numbers.append(number)
    frame = pd.DataFrame(cells, columns=job.columns, dtype=object) if cells else pd.DataFrame(columns=job.columns)
    ids = object_ids(frame[job.id_column].tolist() if job.id_column else [""] * len(cells))
    specs = feature_specs(requested)
    if not specs:  # a model without a schema takes every column but the id as it is
        names = [c for c in job.columns if c != job.id_column]
        return [Row(n, oid, dict(zip(names, (r[job.columns.index(c)] for c in names), strict=True)))
                for n, oid, r in zip(numbers, ids, cells, strict=True)]
    cleaned, column_errors = validate_columns(specs, frame)
    names = list(cleaned)
    rows = []
    for i, values in enumerate(zip(*cleaned.values(), strict=True)):
        error = column_errors.by_row.get(i)
        if error is not None:
            errors.append(RowError(numbers[i], ids[i], *error))
            continue
        rows.append(Row(numbers[i], ids[i], dict(zip(names, values, strict=True))))
    return rows


def _json_rows(job: Job, requested: MLModel, texts: list[tuple[int, str]], errors: list[RowError]) -> list[Row]:
    specs = feature_specs(requested)
    names = {spec.name for spec in specs}
    rows = []
    for number, text in texts:
        record = json_object(number, text, errors)
        if record is None:
            continue
        object_id = object_ids([record.get(job.id_column, "")])[0] if job.id_column else ""
        features = {k: v for k, v in record.items() if k != job.id_column and (not names or k in names)}
        try:
            rows.append(Row(number, object_id, validate_features(specs, features) if specs else schemaless_features(features)))
        except FeatureError as exc:
            errors.append(RowError(number, object_id, exc.code, exc.message))
    return rows


def json_object(number: int, text: str, errors: list[RowError]) -> dict[str, Any] | None:
    """A JSON line as an object, read with the request bodies' limits (finite numbers,
    integers within ±2^53, bounded depth); None, with a row error, when it is not one."""
    from hotcrm_ai.limits import _finite_float, _reject_constant, _safe_int

    try:
        record = json.loads(text, parse_float=_finite_float, parse_int=_safe_int, parse_constant=_reject_constant)
    except ApplicationError as exc:
        errors.append(RowError(number, "", exc.code, exc.message))
        return None
    except (ValueError, RecursionError):
        errors.append(RowError(number, "", "invalid_json", "The line is not valid JSON."))
        return None
    if not isinstance(record, dict) or json_depth_exceeds(record, MAX_JSON_DEPTH):
        errors.append(RowError(number, "", "invalid_json", "The line is not a JSON object of bounded depth."))
        return None
    return record


def object_ids(values: list[Any]) -> list[str]:
    """Each row's objectId as it is stored: text, stripped, at most 200 characters."""
    out = []
    for value in values:
        if value is None or isinstance(value, dict | list):
            value = ""
        text = str(value).strip()[:OBJECT_ID_LENGTH]
        # A lone surrogate (from a JSON escape) cannot be stored or echoed as UTF-8.
        out.append(text.encode("utf-8", "replace").decode("utf-8"))
    return out


# --- answering ----------------------------------------------------------------------------

def answer_rows(job: Job, requested: MLModel, rows: list[Row], errors: list[RowError],
                started: float) -> list[tuple[Row, Answer]]:
    ids = new_prediction_ids(len(rows))
    routes = route_rows(requested, [{"objectId": row.object_id} if row.object_id else None for row in rows])
    pairs = [(row, Answer(route, cast(dict, row.features), prediction_id=prediction_id))
             for row, route, prediction_id in zip(rows, routes, ids, strict=True)]
    answers = [a for _, a in pairs]
    cache_lookup(answers, job.use_cache)
    try:
        invoke_provider(answers, started, on_failure=answer_by_fallback)
    except ApplicationError as exc:
        # Rows a failing provider did not answer are row errors; the others stand.
        for row, a in pairs:
            if a.prediction is None:
                errors.append(RowError(row.number, row.object_id, exc.code, exc.message))
    cache_store([a for a in answers if a.prediction is not None], job.use_cache)
    return [(row, a) for row, a in pairs if a.prediction is not None]


# --- what is stored -----------------------------------------------------------------------

def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A prediction as result columns: nested keys joined with dots, lists as JSON."""
    if not isinstance(value, dict):
        return {prefix or "prediction": value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, dict):
            out |= flatten(item, name)
        else:
            out[name] = json.dumps(item, separators=(",", ":")) if isinstance(item, list) else item
    return out


def _result_columns(answers: list[tuple[Row, Answer]]) -> list[str]:
    return list(flatten(answers[0][1].result.value)) if answers else []


def result_header(job: Job) -> list[str]:
    return [job.id_column or "id", *job.result_columns, "confidence", "modelId", "modelVersion",
            "abTestArm", "predictionId"]


def result_lines(job: Job, columns: list[str], answers: list[tuple[Row, Answer]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row, a in answers:
        flat = flatten(a.result.value)
        model = a.route.model
        writer.writerow([row.object_id, *(flat.get(c, "") for c in columns), a.result.confidence,
                         model.pk, model.version, a.route.arm or "", a.prediction_id])
    return buffer.getvalue().encode("utf-8")


def log_rows(job: Job, requested: MLModel, answers: list[tuple[Row, Answer]]) -> list[LogRow]:
    now = timezone.now()
    object_type = job.object_type
    return [
        LogRow(
            id=a.prediction_id, model_id=a.route.model.pk, model_version=a.route.model.version,
            requested_model_id=requested.pk, ab_arm=a.route.arm or "", provider=a.route.model.provider,
            features=a.features, prediction=a.result.value, label=log_label(a.result.value),
            confidence=a.result.confidence, cached=a.cached, shadow=False, user_id="",
            object_type=object_type if row.object_id else "", object_id=row.object_id, created_at=now,
            actual=None, feedback_at=None,
        )
        for row, a in answers
    ]


def metric_groups(answers: list[tuple[Row, Answer]]) -> list[MetricGroup]:
    groups: dict[tuple[str, str, bool], MetricGroup] = defaultdict(lambda: None)  # type: ignore[arg-type, return-value]
    for _, a in answers:
        key = (a.route.model.pk, a.route.arm or "", a.cached)
        group = groups[key]
        if group is None:
            group = groups[key] = MetricGroup(a.route.model, key[1], a.cached)
        group.rows += 1
        if a.result.confidence is not None:
            group.confidence_sum += a.result.confidence
            group.confidence_rows += 1
    return list(groups.values())
