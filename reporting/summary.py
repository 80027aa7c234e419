"""The one-sentence answer and the chart suggestion for a query's result."""

from __future__ import annotations

from typing import Any

from reporting.query import TIME_BUCKETS

NOUNS = {"predictions": "predictions", "metrics": "requests", "models": "models"}
UNITS = {"latency": " ms", "trafficPercentage": "%"}
NAMED_RATES = {"errorRate": "error rate", "cacheHitRate": "cache hit rate"}


def aggregation_phrase(agg: dict[str, Any], source: str) -> str:
    fn, name = agg["fn"], agg.get("field")
    if agg["as"] in NAMED_RATES:
        return NAMED_RATES[agg["as"]]
    if fn == "count":
        return f"number of {NOUNS[source]}" + (f" with a {name}" if name else "")
    if fn == "countDistinct":
        return f"number of distinct {name} values"
    if fn == "rate":
        return f"share of {NOUNS[source]} with {name} = {_text(agg['value'])}"
    if fn == "percentile":
        return f"median {name}" if agg["p"] == 50 else f"p{_text(agg['p'])} {name}"
    return {"avg": "average", "sum": "total", "min": "lowest", "max": "highest"}[fn] + f" {name}"


def _unit(agg: dict[str, Any]) -> str:
    if agg["fn"] == "rate":
        return "%"
    if agg["fn"] in {"count", "countDistinct"}:
        return ""
    return UNITS.get(agg.get("field") or "", "")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return " or ".join(_text(v) for v in value)
    return "none" if value is None else str(value)


NAMES = {"modelId": "model", "objectType": "object type", "objectId": "object", "abArm": "A/B arm",
         "userId": "user", "modelVersion": "model version", "errorCode": "error code",
         "requestedModelId": "requested model", "championModelId": "champion"}


def _name(field: str) -> str:
    return NAMES.get(field, field)


def _group_value(group: str, value: Any) -> str:
    """Buckets read as dates ("2026-11-18", "2026-11-18 14:00"); an empty value as "(none)"."""
    if group in TIME_BUCKETS and isinstance(value, str):
        return value[:10] if group != "hour" else value[:16].replace("T", " ")
    return "(none)" if value == "" else _text(value)


def _when(label: str) -> str:
    bare = ("today", "yesterday", "this ", "last ", "since ", "on ", "from ")
    return label if label.startswith(bare) else f"in {label}"


def _scope(query: dict[str, Any]) -> str:
    parts = []
    if query["filters"]:
        parts.append("where " + " and ".join(f"{_name(n)} {op} {_text(v)}" for n, op, v in query["filters"]))
    time_range = query["timeRange"]
    parts.append(_when(time_range["label"]) if time_range else "over all recorded data")
    return " " + " ".join(parts)


def summarize(query: dict[str, Any], columns: list[str], rows: list[list[Any]]) -> str:
    source, aggs = query["source"], query["aggregations"]
    if not aggs:
        return f"Found {len(rows):,} {NOUNS[source]}{_scope(query)}" + (
            f" (showing at most {query['limit']:,})." if len(rows) >= query["limit"] else ".")
    first = aggs[0]
    if not query["groupBy"]:
        values = dict(zip(columns, rows[0], strict=True)) if rows else {}
        stated = ", ".join(f"{aggregation_phrase(a, source)} {_text(values.get(a['as']))}{_unit(a)}" for a in aggs)
        sentence = f"The {stated}{_scope(query)}" if len(aggs) > 1 else \
            f"The {aggregation_phrase(first, source)}{_scope(query)} is {_text(values.get(first['as']))}{_unit(first)}"
        return sentence + _comparison(first, values) + "."
    if not rows:
        return f"There are no {NOUNS[source]}{_scope(query)}, so nothing to group by {', '.join(query['groupBy'])}."
    return _grouped_sentence(query, columns, rows)


def _comparison(agg: dict[str, Any], values: dict[str, Any]) -> str:
    name = agg["as"]
    if f"{name}_previous" not in values:
        return ""
    before, change = values[f"{name}_previous"], values[f"{name}_change"]
    if change is None:
        return f", against {_text(before)}{_unit(agg)} in the previous period of the same length"
    trend = "up" if change > 0 else "down" if change < 0 else "unchanged"
    shift = f" {abs(change):g}%" if change else ""
    return f", {trend}{shift} from {_text(before)}{_unit(agg)} in the previous period of the same length"


def _grouped_sentence(query: dict[str, Any], columns: list[str], rows: list[list[Any]]) -> str:
    source, first = query["source"], query["aggregations"][0]
    groups = query["groupBy"]
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    phrase, unit = aggregation_phrase(first, source), _unit(first)
    ordered_by_value = query["orderBy"] and query["orderBy"][0][0] == first["as"]
    if ordered_by_value:
        top = records[0]
        word = "highest" if query["orderBy"][0][1] == "desc" else "lowest"
        who = ", ".join(f"{_name(g)} {_group_value(g, top[g])}" for g in groups)
        among = f" of the {len(records):,} shown" if len(records) > 1 else ""
        return (f"{who[0].upper()}{who[1:]} has the {word} {phrase} ({_text(top[first['as']])}{unit}){among}"
                f"{_scope(query)}{_comparison(first, top)}.")
    values = [r[first["as"]] for r in records if r[first["as"]] is not None]
    peak = max(records, key=lambda r: (r[first["as"]] is not None, r[first["as"]] or 0))
    where = ", ".join(f"{_name(g)} {_group_value(g, peak[g])}" for g in groups)
    total = f"; {_text(sum(values))} in all" if first["fn"] == "count" else ""
    return (f"The {phrase} per {' and '.join(map(_name, groups))}{_scope(query)} is highest for {where} "
            f"({_text(peak[first['as']])}{unit}) across {len(records):,} groups{total}.")


def chart_suggest(query: dict[str, Any], columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    aggs = [a["as"] for a in query["aggregations"]]
    groups = query["groupBy"]
    if not aggs:
        return {"type": "table"}
    if not groups:
        return {"type": "metric", "value": aggs[0], "unit": _unit(query["aggregations"][0]).strip()}
    buckets = [g for g in groups if g in TIME_BUCKETS]
    others = [g for g in groups if g not in TIME_BUCKETS]
    if buckets and len(others) <= 1:
        # A series with no row in a bucket had nothing counted there; an average has no value.
        missing = 0 if query["aggregations"][0]["fn"] in {"count", "countDistinct"} else None
        return {"type": "line", "x": buckets[0], "y": aggs[:1] if others else aggs,
                "series": others[0] if others else None, "missing": missing}
    if len(groups) == 1:
        return {"type": "bar", "x": groups[0], "y": aggs, "series": None}
    return {"type": "table"}
