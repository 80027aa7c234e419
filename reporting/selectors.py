"""Running a validated structured query through the ORM: reads only, every value a bound
parameter, every name from the whitelist in reporting/query.py."""

from __future__ import annotations

import functools
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.db.models import (
    Avg,
    Case,
    Count,
    F,
    FloatField,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf, Trunc

from core.write_behind import flush_all
from reporting.query import SOURCES, TIME_BUCKETS, Field, Source, output_columns, previous_range

# Percentiles are computed with numpy over at most this many values (not every database
# has a percentile aggregate: SQLite has none).
PERCENTILE_ROWS = 200_000
# Grouped results are capped before sorting in Python (only when a percentile is asked for).
MAX_GROUPS = 10_000
LOOKUPS = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "in": "in",
           "contains": "icontains", "startswith": "istartswith"}


def _alias(name: str) -> str:
    # Annotation names must not clash with model fields.
    return f"v_{name}"


def _expression(source: Source, name: str) -> Any:
    if name in TIME_BUCKETS:
        time_field = source.fields[source.time_field]
        return Trunc(time_field.column, name)
    f: Field = source.fields[name]
    if f.json_key:
        return Cast(KeyTextTransform(f.json_key, f.column), FloatField())
    return F(f.column)


def _used_fields(query: dict[str, Any]) -> set[str]:
    used = set(query["fields"]) | set(query["groupBy"])
    used |= {f[0] for f in query["filters"]}
    used |= {a["field"] for a in query["aggregations"] if a.get("field")}
    return used


def base_queryset(query: dict[str, Any], time_range: dict[str, str] | None) -> QuerySet:
    source = SOURCES[query["source"]]
    qs = source.model.objects.all()
    used = _used_fields(query)
    qs = qs.annotate(**{_alias(name): _expression(source, name) for name in used})
    for name in used:
        key = source.fields[name].requires_key if name in source.fields else None
        if key:
            qs = qs.filter(prediction__has_key=key)
    if source.name == "predictions" and "shadow" not in {f[0] for f in query["filters"]}:
        # Shadow runs answered nobody: counting them would double-count the requests.
        qs = qs.filter(shadow=False)
    if source.name == "metrics" and "abArm" not in {f[0] for f in query["filters"]}:
        qs = qs.exclude(ab_arm="shadow")  # the same for their metrics
    if time_range:
        column = source.fields[source.time_field].column
        qs = qs.filter(**{f"{column}__gte": time_range["from"], f"{column}__lt": time_range["to"]})
    for name, op, value in query["filters"]:
        qs = _apply_filter(qs, name, op, value)
    return qs


def _apply_filter(qs: QuerySet, name: str, op: str, value: Any) -> QuerySet:
    if op == "!=":
        return qs.exclude(**{f"{_alias(name)}__exact": value})
    if op == "not in":
        return qs.exclude(**{f"{_alias(name)}__in": value})
    return qs.filter(**{f"{_alias(name)}__{LOOKUPS[op]}": value})


def _aggregate(agg: dict[str, Any], source: str) -> Any:
    fn, name = agg["fn"], agg.get("field")
    column = _alias(name) if name else "pk"
    if source == "metrics":
        return _metrics_aggregate(agg, column)
    if fn == "count":
        return Count(column)
    if fn == "countDistinct":
        return Count(column, distinct=True)
    if fn == "rate":
        hit = When(Q(**{f"{column}__exact": agg["value"]}), then=Value(100.0))
        return Avg(Case(hit, default=Value(0.0), output_field=FloatField()))
    return {"sum": Sum, "avg": Avg, "min": Min, "max": Max}[fn](column)


def _metrics_aggregate(agg: dict[str, Any], column: str) -> Any:
    """Over metrics, counts and rates are per prediction (a record stands for `rows` of
    them) and latency figures per request (its one `timed` record): what /stats says."""
    fn, name = agg["fn"], agg.get("field")
    if fn == "count":
        present = Q() if not name else Q(**{f"{column}__isnull": False})
        return Coalesce(Sum("rows", filter=present), 0)
    if fn == "rate":
        hits = Sum(Case(When(Q(**{f"{column}__exact": agg["value"]}), then=F("rows")), default=Value(0)))
        return Cast(hits, FloatField()) * 100.0 / Cast(NullIf(Sum("rows"), 0), FloatField())
    if fn == "countDistinct":
        return Count(column, distinct=True)
    if name == "latency":
        return {"sum": Sum, "avg": Avg, "min": Min, "max": Max}[fn](column, filter=Q(timed=True))
    if fn == "avg":  # a record's value is its rows' mean: weighted by them
        present = Q(**{f"{column}__isnull": False})
        weighted = Sum(F(column) * F("rows"), filter=present, output_field=FloatField())
        return weighted / Cast(NullIf(Sum("rows", filter=present), 0), FloatField())
    return {"sum": Sum, "min": Min, "max": Max}[fn](column)


def query_run(query: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """(columns, rows) of a normalised query."""
    if query["source"] == "metrics":
        # This process's metrics wait in a buffer for up to a fraction of a second: store
        # them first, so a question asked right after a prediction counts it.
        flush_all()
    columns = output_columns(query)
    if not query["aggregations"]:
        return columns, _listing(query)
    rows = _grouped(query, query["timeRange"])
    if query["compareWithPrevious"]:
        previous = _grouped(query, previous_range(query["timeRange"]))
        rows = _with_previous(query, rows, previous)
    rows = _order_and_limit(query, rows)
    return columns, [[_plain(row.get(c)) for c in columns] for row in rows]


def _listing(query: dict[str, Any]) -> list[list[Any]]:
    qs = base_queryset(query, query["timeRange"])
    order = [_nulls_last(_alias(c), d) for c, d in query["orderBy"]]
    values = qs.order_by(*order).values_list(*[_alias(f) for f in query["fields"]])
    return [[_plain(v) for v in row] for row in values[: query["limit"]]]


def _grouped(query: dict[str, Any], time_range: dict[str, str] | None) -> list[dict[str, Any]]:
    qs = base_queryset(query, time_range)
    keys = [_alias(g) for g in query["groupBy"]]
    sql_aggs = {a["as"]: _aggregate(a, query["source"]) for a in query["aggregations"] if a["fn"] != "percentile"}
    if keys:
        grouped = qs.values(*keys).annotate(**sql_aggs) if sql_aggs else qs.values(*keys).distinct()
        found = list(grouped.order_by(*_db_order(query))[: _db_limit(query)])
    else:
        found = [qs.aggregate(**sql_aggs)] if sql_aggs else [{}]
    rows = [{g: r.get(_alias(g)) for g in query["groupBy"]} | {a: r[a] for a in sql_aggs} for r in found]
    for agg in query["aggregations"]:
        if agg["fn"] == "percentile":
            timed = query["source"] == "metrics" and agg["field"] == "latency"  # one per request
            _percentiles(qs.filter(timed=True) if timed else qs, keys, query["groupBy"], agg, rows)
    return rows


def _db_order(query: dict[str, Any]) -> list[Any]:
    """The order the database can apply itself (None when only Python can: percentiles and
    comparisons are computed after the query)."""
    if _python_only(query):
        return []
    names = {a["as"] for a in query["aggregations"]}
    order = [_nulls_last(c if c in names else _alias(c), d) for c, d in query["orderBy"]]
    # Ties are broken by the group values, so the same question always gives the same rows.
    return order + [F(_alias(g)).asc(nulls_last=True) for g in query["groupBy"]]


def _nulls_last(name: str, direction: str) -> Any:
    return F(name).desc(nulls_last=True) if direction == "desc" else F(name).asc(nulls_last=True)


def _db_limit(query: dict[str, Any]) -> int:
    return MAX_GROUPS if _python_only(query) else query["limit"]


def _python_only(query: dict[str, Any]) -> bool:
    return query["compareWithPrevious"] or any(a["fn"] == "percentile" for a in query["aggregations"])


def _percentiles(qs: QuerySet, keys: list[str], groups: list[str], agg: dict, rows: list[dict]) -> None:
    column = _alias(agg["field"])
    values: dict[tuple, list[float]] = {}
    pairs = qs.exclude(**{f"{column}__isnull": True}).values_list(*keys, column)
    for row in pairs.order_by()[:PERCENTILE_ROWS]:
        values.setdefault(tuple(row[:-1]), []).append(row[-1])
    for row in rows:
        found = values.get(tuple(row[g] for g in groups))
        row[agg["as"]] = float(np.percentile(found, agg["p"])) if found else None


def _group_key(query: dict[str, Any], row: dict[str, Any]) -> tuple:
    return tuple(row[g] for g in query["groupBy"])


def _with_previous(query: dict, rows: list[dict], previous: list[dict]) -> list[dict]:
    before = {_group_key(query, r): r for r in previous}
    for row in rows:
        old = before.get(_group_key(query, row), {})
        for agg in query["aggregations"]:
            name = agg["as"]
            now_value, old_value = row.get(name), old.get(name)
            if old_value is None and agg["fn"] in {"count", "countDistinct"}:
                old_value = 0
            row[f"{name}_previous"] = old_value
            row[f"{name}_change"] = (
                round((float(now_value) - float(old_value)) / abs(float(old_value)) * 100, 1)
                if now_value is not None and old_value not in (None, 0) else None
            )
    return rows


def _order_and_limit(query: dict, rows: list[dict]) -> list[dict]:
    # Stable sorts applied from the last key to the first give a multi-key order; None last.
    # Ties are broken by the group values, so the same question always gives the same rows.
    keys = [*query["orderBy"], *[[g, "asc"] for g in query["groupBy"]]]
    for column, direction in reversed(keys):
        present = [r for r in rows if r.get(column) is not None]
        missing = [r for r in rows if r.get(column) is None]
        present.sort(key=functools.partial(_row_sort_key, column), reverse=direction == "desc")
        rows = present + missing
    return rows[: query["limit"]]


def _row_sort_key(column: str, row: dict[str, Any]) -> Any:
    return _sort_key(row[column])


def _sort_key(value: Any) -> Any:
    return float(value) if isinstance(value, int | float | Decimal) else str(value)


def _plain(value: Any) -> Any:
    """JSON-ready: instants as ISO strings, decimals as floats, floats rounded for reading."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return round(value, 4)
    if value is not None and not isinstance(value, str | int | bool):
        return str(value)
    return value


# --- what the parser and the LLM may know of the data: distinct values, capped -------------

SAMPLE_VALUES = 10
VOCABULARY_VALUES = 200


def _distinct(model: Any, column: str, cap: int) -> list[str]:
    values = model.objects.exclude(**{column: ""}).values_list(column, flat=True).distinct()
    return [str(v)[:60] for v in values.order_by(column)[:cap] if v is not None]


def vocabulary_get() -> Any:
    from predictions.models import PredictionLog
    from registry.models import MLModel
    from reporting.parser import Vocabulary

    model_ids = set(MLModel.objects.values_list("id", flat=True)[:VOCABULARY_VALUES])
    model_ids |= set(_distinct(PredictionLog, "model_id", VOCABULARY_VALUES))
    # Longest first, so "lead-scoring-v10" is not read as "lead-scoring-v1".
    return Vocabulary(
        model_ids=sorted(model_ids, key=lambda m: (-len(m), m)),
        object_types=_distinct(PredictionLog, "object_type", VOCABULARY_VALUES),
    )


SAMPLED = {
    "predictions": ["modelId", "objectType", "label", "abArm", "provider"],
    "metrics": ["modelId", "kind", "errorCode", "provider"],
    "models": ["modelId", "status", "type", "provider"],
}


def samples_get() -> dict[str, dict[str, list[str]]]:
    """At most SAMPLE_VALUES distinct values of a few categorical fields: enough for an LLM to
    spell filter values right, never rows of data."""
    out: dict[str, dict[str, list[str]]] = {}
    for name, fields in SAMPLED.items():
        source = SOURCES[name]
        out[name] = {f: _distinct(source.model, source.fields[f].column, SAMPLE_VALUES) for f in fields}
    return out
