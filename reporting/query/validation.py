"""`query_validate`: every name against the whitelist, every value against its field's
type; returns the normalised query (time range resolved to absolute instants)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.utils import timezone

from reporting.query.schema import query_json_schema
from reporting.query.time_ranges import instant, time_range_resolve
from reporting.query.whitelist import (
    AGG_FNS,
    ALIAS_RE,
    DEFAULT_LIMIT,
    MAX_FILTERS,
    MAX_IN_VALUES,
    MAX_LIMIT,
    MAX_STRING,
    NUMERIC_FNS,
    OPS,
    ORDERED_OPS,
    SOURCES,
    TEXT_OPS,
    TIME_BUCKETS,
    Field,
    QueryInvalid,
    Source,
)


def query_validate(raw: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """The normalised query, or QueryInvalid saying what is wrong."""
    if not isinstance(raw, dict):
        raise QueryInvalid("The query must be a JSON object.")
    unknown = set(raw) - set(query_json_schema()["properties"])
    if unknown:
        raise QueryInvalid(f"Unknown query keys: {', '.join(sorted(map(str, unknown)))}.")
    source = SOURCES.get(raw.get("source"))  # type: ignore[arg-type]
    if source is None:
        raise QueryInvalid(f"'source' must be one of {', '.join(SOURCES)}.")
    aggregations = _aggregations(source, raw.get("aggregations") or [])
    group_by = _group_by(source, raw.get("groupBy") or [], aggregations)
    fields = _list_fields(source, raw.get("fields"), aggregations)
    query: dict[str, Any] = {
        "source": source.name,
        "fields": fields,
        "filters": _filters(source, raw.get("filters") or []),
        "groupBy": group_by,
        "aggregations": aggregations,
        "timeRange": time_range_resolve(raw.get("timeRange"), now or timezone.now()),
        "compareWithPrevious": _bool(raw.get("compareWithPrevious", False), "compareWithPrevious"),
    }
    columns = output_columns(query)
    query["orderBy"] = _order_by(source, raw.get("orderBy") or [], columns, query)
    query["limit"] = _limit(raw.get("limit"))
    if query["compareWithPrevious"] and not (aggregations and query["timeRange"]):
        raise QueryInvalid("A comparison with the previous period needs aggregations and a time range.")
    return query


def output_columns(query: dict[str, Any]) -> list[str]:
    if not query["aggregations"]:
        return list(query["fields"])
    columns = list(query["groupBy"])
    for agg in query["aggregations"]:
        columns.append(agg["as"])
        if query.get("compareWithPrevious"):
            columns += [f"{agg['as']}_previous", f"{agg['as']}_change"]
    return columns


def _field(source: Source, name: Any, where: str) -> Field:
    if not isinstance(name, str) or name not in source.fields:
        raise QueryInvalid(
            f"{where}: '{str(name)[:60]}' is not a field of {source.name}; "
            f"known fields: {', '.join(source.fields)}."
        )
    return source.fields[name]


def _aggregations(source: Source, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) > 6:
        raise QueryInvalid("'aggregations' must be a list of at most 6 objects.")
    out, seen = [], set()
    for item in raw:
        if not isinstance(item, dict) or set(item) - {"fn", "field", "p", "value", "as"}:
            raise QueryInvalid("Each aggregation is {fn, field?, p?, value?, as?}.")
        fn = item.get("fn")
        if fn not in AGG_FNS:
            raise QueryInvalid(f"Aggregation '{str(fn)[:40]}' is not one of {', '.join(AGG_FNS)}.")
        agg: dict[str, Any] = {"fn": fn}
        if item.get("field") is not None or fn != "count":
            if item.get("field") is None:
                raise QueryInvalid(f"Aggregation '{fn}' needs a field.")
            f = _field(source, item["field"], f"aggregation {fn}")
            if fn in NUMERIC_FNS and f.type != "number":
                raise QueryInvalid(f"'{fn}' needs a numeric field; '{f.name}' is {f.type}.")
            agg["field"] = f.name
        if fn == "percentile":
            p = item.get("p")
            if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 100:
                raise QueryInvalid("A percentile needs 'p' between 0 and 100.")
            agg["p"] = p
        if fn == "rate":
            agg["value"] = _value(source.fields[agg["field"]], item.get("value"), "rate")
        agg["as"] = item.get("as") or default_alias(agg)
        if not isinstance(agg["as"], str) or not ALIAS_RE.match(agg["as"]):
            raise QueryInvalid("An aggregation's 'as' must be a short name of letters, digits and _.")
        if agg["as"] in seen or agg["as"] in source.fields or agg["as"] in TIME_BUCKETS:
            raise QueryInvalid(f"The column name '{agg['as']}' is used twice.")
        seen.add(agg["as"])
        out.append(agg)
    return out


def default_alias(agg: dict[str, Any]) -> str:
    fn, name = agg["fn"], agg.get("field")
    if fn == "count":
        return "count" if not name else f"count_{name}"
    if fn == "percentile":
        p = agg["p"]
        return f"p{int(p) if float(p).is_integer() else str(p).replace('.', '_')}_{name}"
    if fn == "rate":
        value = re.sub(r"[^A-Za-z0-9]+", "_", str(agg["value"]).lower()).strip("_")[:20]
        return f"rate_{name}_{value or 'empty'}"
    return f"{fn}_{name}"


def _group_by(source: Source, raw: Any, aggregations: list) -> list[str]:
    if not isinstance(raw, list) or len(raw) > 3:
        raise QueryInvalid("'groupBy' must be a list of at most 3 fields.")
    out = []
    for name in raw:
        if name not in TIME_BUCKETS:
            _field(source, name, "groupBy")
        if name not in out:
            out.append(name)
    if out and not aggregations:
        raise QueryInvalid("'groupBy' needs at least one aggregation.")
    return out


def _list_fields(source: Source, raw: Any, aggregations: list) -> list[str]:
    if aggregations:
        return []
    if raw is None or raw == []:
        raise QueryInvalid("A query needs aggregations, or fields to list.")
    if not isinstance(raw, list) or len(raw) > 20:
        raise QueryInvalid("'fields' must be a list of at most 20 field names.")
    return list(dict.fromkeys(_field(source, name, "fields").name for name in raw))


def _filters(source: Source, raw: Any) -> list[list[Any]]:
    if not isinstance(raw, list) or len(raw) > MAX_FILTERS:
        raise QueryInvalid(f"'filters' must be a list of at most {MAX_FILTERS} [field, op, value].")
    out = []
    for item in raw:
        if not isinstance(item, list | tuple) or len(item) != 3:
            raise QueryInvalid("Each filter is [field, op, value].")
        name, op, value = item
        f = _field(source, name, "filter")
        if op not in OPS:
            raise QueryInvalid(f"Filter operator '{str(op)[:20]}' is not one of {', '.join(OPS)}.")
        if op in ORDERED_OPS and f.type not in {"number", "datetime"}:
            raise QueryInvalid(f"'{op}' compares numbers or times; '{f.name}' is {f.type}.")
        if op in TEXT_OPS and f.type != "string":
            raise QueryInvalid(f"'{op}' works on text; '{f.name}' is {f.type}.")
        if op in {"in", "not in"}:
            if not isinstance(value, list) or not 0 < len(value) <= MAX_IN_VALUES:
                raise QueryInvalid(f"'{op}' needs a list of 1 to {MAX_IN_VALUES} values.")
            value = [_value(f, v, "filter") for v in value]
        else:
            value = _value(f, value, "filter")
        out.append([f.name, op, value])
    return out


def _value(f: Field, value: Any, where: str) -> Any:
    if f.type == "string" and isinstance(value, str) and len(value) <= MAX_STRING:
        return value
    if f.type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if f.type == "boolean":
        return _bool(value, f.name)
    if f.type == "datetime" and isinstance(value, str):
        return instant(value).isoformat()
    raise QueryInvalid(f"{where}: {str(value)[:60]!r} is not a valid {f.type} for '{f.name}'.")


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise QueryInvalid(f"'{name}' must be true or false.")


def _order_by(source: Source, raw: Any, columns: list[str], query: dict) -> list[list[str]]:
    if not isinstance(raw, list) or len(raw) > 3:
        raise QueryInvalid("'orderBy' must be a list of at most 3 [column, asc|desc].")
    out = []
    for item in raw:
        if not isinstance(item, list | tuple) or len(item) != 2 or item[1] not in ("asc", "desc"):
            raise QueryInvalid("Each orderBy item is [column, 'asc' | 'desc'].")
        if item[0] not in columns:
            raise QueryInvalid(f"Cannot order by '{str(item[0])[:40]}'; columns: {', '.join(columns)}.")
        out.append([item[0], item[1]])
    if out:
        return out
    if query["aggregations"]:
        buckets = [g for g in query["groupBy"] if g in TIME_BUCKETS]
        if buckets:
            return [[buckets[0], "asc"]]
        return [[query["aggregations"][0]["as"], "desc"]] if query["groupBy"] else []
    time_field = source.time_field
    return [[time_field, "desc"]] if time_field in columns else []


def _limit(raw: Any) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_LIMIT:
        raise QueryInvalid(f"'limit' must be a whole number from 1 to {MAX_LIMIT}.")
    return raw
