"""Scoring one chunk, column-wise: the rows parsed into columns and validated a column at a
time, grouped by route (one group without an A/B test; sticky arms per object with one),
each group answered in one provider call (its fallback answering when the provider fails),
and turned into result lines, prediction-log columns (their JSON documents written by
orjson), row errors and one aggregated metric per model and arm. A shadow challenger runs on
the rows its route drew, as for single predictions. Nothing here writes to the database;
jobs.services commits it all at once.

The only per-row Python work left is what cannot be columnar: the feature dict each row is
answered with (the provider contract), its two JSON documents, and its result and log
tuples. bench/profile_jobs.py measures the rest.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.utils import timezone

from hotcrm_ai.errors import ApplicationError
from hotcrm_ai.limits import json_depth_exceeds
from jobs import inputs
from jobs.columns import validate_columns
from jobs.models import InputFormat, Job, JobChunk
from ml.base import Prediction
from ml.schema import FeatureError, validate_features
from predictions.ab.routing import Route, route_rows
from predictions.features import feature_specs, schemaless_features
from predictions.ids import new_prediction_ids, shadow_id
from predictions.providers import provider_for
from predictions.recording import LogColumns, json_texts, log_label
from predictions.services import (
    Answer,
    answer_by_fallback,
    cache_lookup,
    cache_store,
    invoke_provider,
    provider_failed,
)
from registry.models import AbArm, MLModel

logger = logging.getLogger(__name__)
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
    logs: LogColumns = field(default_factory=LogColumns)
    scored: int = 0  # answered rows (the log may hold shadow rows besides)
    errors: list[RowError] = field(default_factory=list)
    metrics: list[MetricGroup] = field(default_factory=list)
    latency_ms: float = 0.0  # per row: the chunk's scoring time divided by its rows


@dataclass
class Table:
    """A chunk's valid rows in input order: file row numbers, object ids, cleaned features."""

    numbers: list[int]
    object_ids: list[str]
    rows: list[dict[str, Any]]


@dataclass
class Group:
    """The rows of one route, answered together."""

    route: Route
    at: list[int]  # positions in the Table
    predictions: list[Prediction | None] = field(default_factory=list)
    models: list[MLModel] = field(default_factory=list)  # the answering model per row (a fallback may answer)
    rows: list[dict[str, Any]] = field(default_factory=list)  # the features each row was answered with
    cached: list[bool] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def score_chunk(job: Job, requested: MLModel, chunk: JobChunk) -> ChunkResult:
    # A chunk makes a few objects per row and no reference cycles: the cyclic collector,
    # triggered by every 700 allocations and walking all of them, was a fifth of its time.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _score_chunk(job, requested, chunk)
    finally:
        if paused:
            gc.enable()


def _score_chunk(job: Job, requested: MLModel, chunk: JobChunk) -> ChunkResult:
    started = time.perf_counter()
    result = ChunkResult()
    table = parse_table(job, requested, chunk, result.errors)
    groups = route_groups(requested, table)
    for group in groups:
        answer_group(job, table, group, result.errors, started)
    result.latency_ms = (time.perf_counter() - started) * 1000 / max(1, chunk.row_count)
    answered = in_input_order(table, groups)
    result.scored = len(answered.ids)
    result.result_columns = job.result_columns or _result_columns(answered)
    result.output = result_lines(job, result.result_columns, answered)
    result.logs = log_columns(job, requested, answered)
    result.metrics = metric_groups(groups)
    shadow_logs, shadow_metrics = shadow_runs(job, table, groups)
    result.logs.extend(shadow_logs)
    result.metrics += shadow_metrics
    result.errors.sort(key=lambda e: e.row)
    return result


# --- parsing and validation -------------------------------------------------------------

def parse_table(job: Job, requested: MLModel, chunk: JobChunk, errors: list[RowError]) -> Table:
    if job.input_format == InputFormat.CSV:
        frame = _plain_csv_frame(job, chunk, bytes(chunk.input))
        if frame is not None:
            return _csv_table(job, requested, frame, list(range(chunk.first_row, chunk.first_row + len(frame))),
                              errors)
    texts = chunk_texts(job, chunk, errors)
    if job.input_format == InputFormat.CSV:
        return _csv_rows(job, requested, texts, errors)
    return _json_rows(job, requested, texts, errors)


def _plain_csv_frame(job: Job, chunk: JobChunk, data: bytes) -> pd.DataFrame | None:
    """The whole chunk through pandas' C reader, when nothing in it needs the careful
    record-by-record path: no quotes (so one record is one line), no NUL or bare CR, valid
    UTF-8, and every line with the header's field count (pandas would pad a short one)."""
    width = len(job.columns)
    if b'"' in data or b"\x00" in data or b"\r" in data:
        return None
    per_line = _commas_per_line(data)
    if len(per_line) != chunk.row_count or (per_line != width - 1).any():
        return None
    try:
        data.decode("utf-8")
        frame = pd.read_csv(io.BytesIO(data), header=None, names=job.columns, dtype=object, keep_default_na=False,
                            na_filter=False, index_col=False, skip_blank_lines=False, quoting=csv.QUOTE_NONE,
                            encoding="utf-8")
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError):
        return None
    if len(frame) != chunk.row_count:
        return None
    # No cell can start or end with blanks: validation need not strip every cell.
    frame.attrs["stripped"] = not (data[:1].isspace() or data[-1:].isspace() or any(
        blank in data for blank in (b" ,", b", ", b" \n", b"\n ", b"\t")))
    return frame


def _commas_per_line(data: bytes) -> np.ndarray:
    """How many commas each newline-separated line of `data` holds, with numpy (a Python
    loop over the lines cost about 1 us a row)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    commas = np.cumsum(raw == ord(","), dtype=np.int64)
    total = commas[-1] if len(commas) else 0
    return np.diff(np.concatenate(([0], commas[raw == ord("\n")], [total])))


def chunk_texts(job: Job, chunk: JobChunk, errors: list[RowError]) -> list[tuple[int, str]]:
    """The chunk's records as text with their row numbers; a record that is not UTF-8 or
    holds a NUL is a row error."""
    texts: list[tuple[int, str]] = []
    for offset, record in enumerate(inputs.split_chunk(bytes(chunk.input), job.input_format)):
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


def _csv_rows(job: Job, requested: MLModel, texts: list[tuple[int, str]], errors: list[RowError]) -> Table:
    """Record by record with the csv module (quoted fields, broken rows), then column-wise."""
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
    return _csv_table(job, requested, frame, numbers, errors)


def _csv_table(job: Job, requested: MLModel, frame: pd.DataFrame, numbers: list[int],
               errors: list[RowError]) -> Table:
    n = len(frame)
    if job.id_column:
        column = frame[job.id_column] if frame.attrs.get("stripped") else frame[job.id_column].str.strip()
        ids = column.str.slice(0, OBJECT_ID_LENGTH).tolist()
    else:
        ids = [""] * n
    specs = feature_specs(requested)
    if not specs:  # a model without a schema takes every column but the id as it is
        names = [c for c in job.columns if c != job.id_column]
        columns = [frame[c].tolist() for c in names]
        rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)] if names else [
            {} for _ in range(n)]
        return Table(numbers, ids, rows)
    cleaned, column_errors = validate_columns(specs, frame)
    names = list(cleaned)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*cleaned.values(), strict=True)] if n else []
    if not column_errors.by_row:
        return Table(numbers, ids, rows)
    for i, (code, message) in sorted(column_errors.by_row.items()):
        errors.append(RowError(numbers[i], ids[i], code, message))
    bad = column_errors.by_row
    kept = [i for i in range(n) if i not in bad]
    return Table([numbers[i] for i in kept], [ids[i] for i in kept], [rows[i] for i in kept])


def _json_rows(job: Job, requested: MLModel, texts: list[tuple[int, str]], errors: list[RowError]) -> Table:
    specs = feature_specs(requested)
    names = {spec.name for spec in specs}
    table = Table([], [], [])
    for number, text in texts:
        record = json_object(number, text, errors)
        if record is None:
            continue
        object_id = object_ids([record.get(job.id_column, "")])[0] if job.id_column else ""
        features = {k: v for k, v in record.items() if k != job.id_column and (not names or k in names)}
        try:
            row = validate_features(specs, features) if specs else schemaless_features(features)
        except FeatureError as exc:
            errors.append(RowError(number, object_id, exc.code, exc.message))
            continue
        table.numbers.append(number)
        table.object_ids.append(object_id)
        table.rows.append(row)
    return table


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

def route_groups(requested: MLModel, table: Table) -> list[Group]:
    """The rows by route. Without an A/B test every row has the same route: chosen once.
    With one, each object keeps its arm (sticky, as in single predictions)."""
    routes = route_rows(requested, [{"objectId": oid} if oid else None for oid in table.object_ids])
    if routes and routes[0].arm is None:  # no A/B test: one route
        return [Group(routes[0], list(range(len(table.rows))))]
    groups: dict[tuple[str, str | None, str | None], Group] = {}
    for i, route in enumerate(routes):
        key = (route.model.pk, route.arm, route.shadow.pk if route.shadow is not None else None)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(route, [])
        group.at.append(i)
    return list(groups.values())


def answer_group(job: Job, table: Table, group: Group, errors: list[RowError], started: float) -> None:
    """One provider call for the group's rows; rows a failing provider (and no fallback)
    left unanswered are row errors, the others stand."""
    rows = table.rows if len(group.at) == len(table.rows) else [table.rows[i] for i in group.at]
    group.ids = new_prediction_ids(len(rows))
    model = group.route.model
    if not job.use_cache:
        try:
            group.predictions = list(provider_for(model).predict_batch(model, rows))
        except Exception as exc:
            answers = [Answer(group.route, row, prediction_id=pid) for row, pid in zip(rows, group.ids, strict=True)]
            try:
                provider_failed(model, answers, exc, started, on_failure=answer_by_fallback)
            except ApplicationError as error:
                _unanswered(table, group, error, errors)
                return
            _take_answers(group, answers)
            return
        group.models, group.rows, group.cached = [model] * len(rows), rows, [False] * len(rows)
        return
    answers = [Answer(group.route, row, prediction_id=pid) for row, pid in zip(rows, group.ids, strict=True)]
    cache_lookup(answers, True)
    try:
        invoke_provider(answers, started, on_failure=answer_by_fallback)
    except ApplicationError as error:
        _unanswered(table, group, error, errors, [a.prediction is None for a in answers])
    cache_store([a for a in answers if a.prediction is not None], True)
    _take_answers(group, answers)


def _take_answers(group: Group, answers: list[Answer]) -> None:
    group.predictions = [a.prediction for a in answers]
    group.models = [a.route.model for a in answers]
    group.rows = [a.features for a in answers]
    group.cached = [a.cached for a in answers]


def _unanswered(table: Table, group: Group, error: ApplicationError, errors: list[RowError],
                which: list[bool] | None = None) -> None:
    for k, i in enumerate(group.at):
        if which is None or which[k]:
            errors.append(RowError(table.numbers[i], table.object_ids[i], error.code, error.message))
    if which is None:
        group.predictions = [None] * len(group.at)


@dataclass
class Answered:
    """The answered rows in input order, as columns."""

    object_ids: list[str]
    rows: list[dict[str, Any]]
    predictions: list[Prediction]
    models: list[MLModel]
    arms: list[str]
    cached: list[bool]
    ids: list[str]


def _all_answered(predictions: list[Prediction | None]) -> bool:
    # `None in predictions` would call Prediction.__eq__ (a dataclass's, in Python) per row.
    return all(p is not None for p in predictions)


def in_input_order(table: Table, groups: list[Group]) -> Answered:
    if len(groups) == 1 and _all_answered(groups[0].predictions):  # the common case: as it is
        g = groups[0]
        return Answered(table.object_ids, g.rows, g.predictions, g.models,  # type: ignore[arg-type]  # no None here
                        [g.route.arm or ""] * len(g.at), g.cached, g.ids)
    slots: list[tuple | None] = [None] * len(table.rows)
    for g in groups:
        arm = g.route.arm or ""
        for k, i in enumerate(g.at):
            if g.predictions[k] is not None:
                slots[i] = (table.object_ids[i], g.rows[k], g.predictions[k], g.models[k], arm, g.cached[k], g.ids[k])
    kept = [s for s in slots if s is not None]
    columns = list(zip(*kept, strict=True)) if kept else [()] * 7
    return Answered(*(list(c) for c in columns))


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


def _result_columns(answered: Answered) -> list[str]:
    return list(flatten(answered.predictions[0].value)) if answered.predictions else []


def result_header(job: Job) -> list[str]:
    return [job.id_column or "id", *job.result_columns, "confidence", "modelId", "modelVersion",
            "abTestArm", "predictionId"]


def _value_columns(columns: list[str], values: list[Any]) -> list[list[Any]]:
    """Each result column's cells. Flat objects (the built-in models' answers) are read a
    column at a time; anything nested is flattened row by row."""
    if all(type(v) is dict for v in values) and not any(
            type(x) in (dict, list) for v in values for x in v.values()):
        return [[v.get(c, "") for v in values] for c in columns]
    flat = [flatten(v) for v in values]
    return [[f.get(c, "") for f in flat] for c in columns]


def result_lines(job: Job, columns: list[str], answered: Answered) -> bytes:
    buffer = io.StringIO()
    values = [p.value for p in answered.predictions]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(zip(
        answered.object_ids, *_value_columns(columns, values), [p.confidence for p in answered.predictions],
        *_model_columns(answered.models, "pk", "version"), answered.arms, answered.ids,
        strict=True,
    ))
    return buffer.getvalue().encode("utf-8")


def _model_columns(models: list[MLModel], *names: str) -> list[list[Any]]:
    """Per-row columns of the answering models' fields: one read each when one model
    answered every row (the common case; `pk` is a property, a call per row)."""
    first = models[0] if models else None
    if first is not None and all(m is first for m in models):
        return [[getattr(first, name)] * len(models) for name in names]
    return [[getattr(m, name) for m in models] for name in names]


def log_columns(job: Job, requested: MLModel, answered: Answered) -> LogColumns:
    n = len(answered.ids)
    values = [p.value for p in answered.predictions]
    object_type = job.object_type
    model_ids, versions, providers = _model_columns(answered.models, "pk", "version", "provider")
    return LogColumns(
        ids=answered.ids, model_ids=model_ids, versions=versions, arms=answered.arms, providers=providers,
        features=json_texts(answered.rows), predictions=json_texts(values), labels=[log_label(v) for v in values],
        confidences=[p.confidence for p in answered.predictions], cached=answered.cached, shadow=[False] * n,
        object_types=[object_type if oid else "" for oid in answered.object_ids], object_ids=answered.object_ids,
        requested_model_id=requested.pk, created_at=timezone.now(),
    )


def metric_groups(groups: list[Group]) -> list[MetricGroup]:
    """One record per answering model, arm and cache outcome, with its row count."""
    out: dict[tuple[str, str, bool], MetricGroup] = {}
    for g in groups:
        arm = g.route.arm or ""
        simple = all(m is g.route.model for m in g.models) and not any(g.cached)
        if simple and g.predictions and _all_answered(g.predictions):
            _metric_add(out, g.route.model, arm, False, [p.confidence for p in g.predictions])  # type: ignore[union-attr]
            continue
        for p, m, cached in zip(g.predictions, g.models, g.cached, strict=False):
            if p is not None:
                _metric_add(out, m, arm, cached, [p.confidence])
    return list(out.values())


def _metric_add(out: dict, model: MLModel, arm: str, cached: bool, confidences: list[float | None]) -> None:
    group = out.get((model.pk, arm, cached))
    if group is None:
        group = out[(model.pk, arm, cached)] = MetricGroup(model, arm, cached)
    known = [c for c in confidences if c is not None]
    group.rows += len(confidences)
    group.confidence_sum += math.fsum(known)
    group.confidence_rows += len(known)


# --- shadow challengers -------------------------------------------------------------------

def shadow_runs(job: Job, table: Table, groups: list[Group]) -> tuple[LogColumns, list[MetricGroup]]:
    """In shadow mode the challenger also scores the rows its route drew, as it does for a
    single prediction: logged on the `shadow` arm with an id twinned to the answered row's,
    never in the results. A failing challenger costs the job nothing."""
    logs, metrics = LogColumns(), []  # type: tuple[LogColumns, list[MetricGroup]]
    for g in groups:
        challenger = g.route.shadow
        if challenger is None:
            continue
        done = [k for k, p in enumerate(g.predictions) if p is not None]
        rows = [g.rows[k] for k in done]
        try:
            results = provider_for(challenger).predict_batch(challenger, rows)
        except Exception as exc:  # a shadow run never fails the job
            logger.warning("Shadow challenger %s failed on a job chunk: %s", challenger.pk, type(exc).__name__)
            continue
        oids = [table.object_ids[g.at[k]] for k in done]
        values = [r.value for r in results]
        logs.extend(LogColumns(
            ids=[shadow_id(g.ids[k]) for k in done], model_ids=[challenger.pk] * len(done),
            versions=[challenger.version] * len(done), arms=[AbArm.SHADOW.value] * len(done),
            providers=[challenger.provider] * len(done), features=json_texts(rows), predictions=json_texts(values),
            labels=[log_label(v) for v in values], confidences=[r.confidence for r in results],
            cached=[False] * len(done), shadow=[True] * len(done),
            object_types=[job.object_type if oid else "" for oid in oids],
            object_ids=oids,
        ))
        shadow_metrics: dict = {}
        _metric_add(shadow_metrics, challenger, AbArm.SHADOW.value, False, [r.confidence for r in results])
        metrics += shadow_metrics.values()
    return logs, metrics
