"""The structured query an analytics question becomes, and its whitelist.

A query is a plain JSON object (what the offline parser builds and what the LLM must answer
with through function calling):

    {"source": "predictions", "fields": [...], "filters": [["class", "=", "hot"], ...],
     "groupBy": ["modelId", "day"], "aggregations": [{"fn": "count"}, {"fn": "percentile",
     "field": "latency", "p": 95}], "orderBy": [["count", "desc"]], "limit": 10,
     "timeRange": {"last": 7, "unit": "days"}, "compareWithPrevious": false}

`query_validate` checks every name against the whitelist below and every value against its
field's type, and returns the normalised query (time range resolved to absolute instants).
Nothing outside the whitelist can ever be named; values only ever reach the database as
bound parameters of ORM lookups (see reporting/selectors.py).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from hotcrm_ai.errors import ApplicationError

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_FILTERS = 20
MAX_IN_VALUES = 50
MAX_STRING = 200

OPS = ("=", "!=", ">", ">=", "<", "<=", "in", "not in", "contains", "startswith")
ORDERED_OPS = {">", ">=", "<", "<="}
TEXT_OPS = {"contains", "startswith"}
AGG_FNS = ("count", "countDistinct", "sum", "avg", "min", "max", "percentile", "rate")
NUMERIC_FNS = {"sum", "avg", "min", "max", "percentile"}
TIME_BUCKETS = ("hour", "day", "week", "month")
UNITS = {"hours": 1 / 24, "days": 1, "weeks": 7}
PERIODS = (
    "today", "yesterday", "this_week", "this_month", "this_quarter", "this_year",
    "last_week", "last_month", "last_quarter", "last_year",
)
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,40}$")


# Questions may ask about instants in these years, no further.
FIRST_YEAR, LAST_YEAR = 1900, 2100


class QueryInvalid(ApplicationError):
    """The question (or the LLM's translation of it) is not a query we can run."""

    status = 422
    code = "question_not_understood"


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # string | number | boolean | datetime
    column: str  # model field, or the JSON field holding `json_key`
    description: str
    json_key: str | None = None  # a number inside a JSON column
    requires_key: str | None = None  # only rows whose `prediction` has this key


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    model_path: str  # "app.Model", imported lazily
    time_field: str
    fields: dict[str, Field] = field(default_factory=dict)

    @property
    def model(self):
        from django.apps import apps

        return apps.get_model(self.model_path)

    def dimensions(self) -> list[str]:
        return [*self.fields, *TIME_BUCKETS]


def _fields(*items: Field) -> dict[str, Field]:
    return {f.name: f for f in items}


SOURCES: dict[str, Source] = {
    "predictions": Source(
        "predictions",
        "The prediction log: one row per answered prediction, with its context.",
        "predictions.PredictionLog", "createdAt",
        _fields(
            Field("predictionId", "string", "id", "Id of the prediction."),
            Field("modelId", "string", "model_id", "Model that answered, e.g. lead-scoring-v1."),
            Field("modelVersion", "string", "model_version", "Version of the model that answered."),
            Field("requestedModelId", "string", "requested_model_id", "Model the caller asked for."),
            Field("abArm", "string", "ab_arm", "A/B arm that answered: champion, challenger or empty."),
            Field("provider", "string", "provider", "Provider: local, openai, aws-sagemaker, azure-ml, custom."),
            Field("label", "string", "label", "The predicted class, risk or sentiment label."),
            Field("class", "string", "label", "Lead class: hot, warm, cold (lead models only).", requires_key="class"),
            Field("risk", "string", "label", "Churn risk: low, medium, high (churn models only).", requires_key="risk"),
            Field("sentiment", "string", "label", "Sentiment: positive, neutral, negative.", requires_key="sentiment"),
            Field("confidence", "number", "confidence", "Confidence 0-100."),
            Field("score", "number", "prediction", "Lead score 0-100 (lead models only).",
                  json_key="score", requires_key="class"),
            Field("probability", "number", "prediction", "Churn probability 0-1 (churn models only).",
                  json_key="probability", requires_key="risk"),
            Field("cached", "boolean", "cached", "Answered from the cache."),
            Field("shadow", "boolean", "shadow",
                  "A shadow run of an A/B challenger (not answered to the caller); these rows are "
                  "left out unless a filter on shadow asks for them."),
            Field("userId", "string", "user_id", "CRM user in the request context."),
            Field("objectType", "string", "object_type", "CRM object type in the context, e.g. lead, account."),
            Field("objectId", "string", "object_id", "CRM object id in the context."),
            Field("createdAt", "datetime", "created_at", "When the prediction was made."),
        ),
    ),
    "metrics": Source(
        "metrics",
        "Monitoring metrics: per request, one row per model, arm and kind of answer (cached or not, "
        "failed) with its number of predictions in rows; a bulk job adds one row per chunk.",
        "monitoring.Metric", "timestamp",
        _fields(
            Field("modelId", "string", "model_id", "Model that served the request."),
            Field("modelVersion", "string", "model_version", "Version of that model."),
            Field("timestamp", "datetime", "timestamp", "When the request was served."),
            Field("latency", "number", "latency_ms",
                  "Latency of the request in milliseconds (of a job chunk: per row); only rows with "
                  "timed true are one per request."),
            Field("rows", "number", "rows", "Predictions this row stands for: sum it to count predictions."),
            Field("timed", "boolean", "timed", "Carries its request's latency (one row per request and model)."),
            Field("confidence", "number", "confidence", "Confidence 0-100."),
            Field("cached", "boolean", "cached", "Answered from the cache."),
            Field("success", "boolean", "success", "The request succeeded."),
            Field("errorCode", "string", "error_code", "Error code of a failure."),
            Field("provider", "string", "provider", "Provider of the model."),
            Field("abArm", "string", "ab_arm", "A/B arm: champion, challenger, shadow (a challenger's shadow "
                  "run, not served) or empty."),
            Field("kind", "string", "kind", "prediction or explanation."),
        ),
    ),
    "models": Source(
        "models",
        "The model registry: one row per registered model (never its credentials).",
        "registry.MLModel", "createdAt",
        _fields(
            Field("modelId", "string", "id", "Model id."),
            Field("name", "string", "name", "Model name."),
            Field("version", "string", "version", "Model version."),
            Field("type", "string", "type", "classification, regression, nlp, forecasting, recommendation."),
            Field("provider", "string", "provider", "local, openai, aws-sagemaker, azure-ml, custom."),
            Field("status", "string", "status", "active, inactive, testing, deprecated, training."),
            Field("abEnabled", "boolean", "ab_enabled", "An A/B test is enabled."),
            Field("trafficPercentage", "number", "ab_traffic_percentage", "A/B traffic to the model, %."),
            Field("championModelId", "string", "ab_champion_id", "Champion of its A/B test."),
            Field("cacheTtl", "number", "cache_ttl", "Cache TTL in seconds."),
            Field("accuracy", "number", "metrics", "Accuracy measured on held-out data.", json_key="accuracy"),
            Field("createdAt", "datetime", "created_at", "When it was registered."),
            Field("updatedAt", "datetime", "updated_at", "When it last changed."),
        ),
    ),
}


# --- JSON schema (what the LLM is shown) --------------------------------------------------

def query_json_schema() -> dict[str, Any]:
    all_fields = sorted({f for s in SOURCES.values() for f in s.fields})
    dims = sorted({*all_fields, *TIME_BUCKETS})
    scalar = {"type": ["string", "number", "boolean"]}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["source"],
        "properties": {
            "source": {"type": "string", "enum": list(SOURCES)},
            "fields": {"type": "array", "items": {"type": "string", "enum": all_fields},
                       "description": "Columns to list when there are no aggregations."},
            "filters": {
                "type": "array", "maxItems": MAX_FILTERS,
                "description": "Each filter is [field, op, value]; value is a list for in / not in.",
                "items": {"type": "array", "minItems": 3, "maxItems": 3, "prefixItems": [
                    {"type": "string", "enum": all_fields}, {"type": "string", "enum": list(OPS)},
                    {"anyOf": [scalar, {"type": "array", "items": scalar}]},
                ]},
            },
            "groupBy": {"type": "array", "maxItems": 3, "items": {"type": "string", "enum": dims}},
            "aggregations": {
                "type": "array", "maxItems": 6,
                "items": {
                    "type": "object", "additionalProperties": False, "required": ["fn"],
                    "properties": {
                        "fn": {"type": "string", "enum": list(AGG_FNS)},
                        "field": {"type": "string", "enum": all_fields},
                        "p": {"type": "number", "minimum": 0, "maximum": 100,
                              "description": "Percentile for fn=percentile (50 = median)."},
                        "value": {**scalar, "description": "For fn=rate: % of rows where field equals this."},
                        "as": {"type": "string", "description": "Column name for the result."},
                    },
                },
            },
            "orderBy": {"type": "array", "maxItems": 3, "items": {
                "type": "array", "minItems": 2, "maxItems": 2,
                "prefixItems": [{"type": "string"}, {"type": "string", "enum": ["asc", "desc"]}],
            }},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            "timeRange": {
                "type": "object", "additionalProperties": False,
                "description": "One of: {from, to} ISO instants; {last, unit}; {period}; {quarter, year}.",
                "properties": {
                    "from": {"type": "string"}, "to": {"type": "string"},
                    "last": {"type": "integer", "minimum": 1, "maximum": 3660},
                    "unit": {"type": "string", "enum": list(UNITS)},
                    "period": {"type": "string", "enum": list(PERIODS)},
                    "quarter": {"type": "integer", "minimum": 1, "maximum": 4},
                    "year": {"type": "integer", "minimum": 2000, "maximum": 2100},
                },
            },
            "compareWithPrevious": {"type": "boolean",
                                    "description": "Also compute each aggregation over the period just before."},
        },
    }


# --- validation --------------------------------------------------------------------------

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
        agg["as"] = item.get("as") or _default_alias(agg)
        if not isinstance(agg["as"], str) or not ALIAS_RE.match(agg["as"]):
            raise QueryInvalid("An aggregation's 'as' must be a short name of letters, digits and _.")
        if agg["as"] in seen or agg["as"] in source.fields or agg["as"] in TIME_BUCKETS:
            raise QueryInvalid(f"The column name '{agg['as']}' is used twice.")
        seen.add(agg["as"])
        out.append(agg)
    return out


def _default_alias(agg: dict[str, Any]) -> str:
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
        return _instant(value).isoformat()
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


# --- time ranges ------------------------------------------------------------------------

def _instant(value: str) -> datetime:
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            if day is None:
                raise QueryInvalid(f"'{value[:40]}' is not an ISO date or time.")
            parsed = datetime(day.year, day.month, day.day)
    except ValueError:  # well formed but impossible: 2026-02-30, 25:00
        raise QueryInvalid(f"'{value[:40]}' is not a valid date or time.") from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    # Bounded so that the previous period of a comparison stays a representable date too.
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise QueryInvalid(f"'{value[:40]}' is outside the years {FIRST_YEAR}-{LAST_YEAR}.")
    return parsed


def _day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _quarter_start(year: int, quarter: int) -> datetime:
    return datetime(year, 3 * (quarter - 1) + 1, 1, tzinfo=UTC)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _period(name: str, now: datetime) -> tuple[datetime, datetime, str]:
    today = _day_start(now)
    week = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    quarter = _quarter_start(now.year, (now.month - 1) // 3 + 1)
    year = today.replace(month=1, day=1)
    spans = {
        "today": (today, now, "today"),
        "yesterday": (today - timedelta(days=1), today, "yesterday"),
        "this_week": (week, now, "this week"),
        "this_month": (month, now, "this month"),
        "this_quarter": (quarter, now, "this quarter"),
        "this_year": (year, now, "this year"),
        "last_week": (week - timedelta(days=7), week, "last week"),
        "last_month": (_add_months(month, -1), month, "last month"),
        "last_quarter": (_add_months(quarter, -3), quarter, "last quarter"),
        "last_year": (year.replace(year=year.year - 1), year, "last year"),
    }
    return spans[name]


def time_range_resolve(raw: Any, now: datetime) -> dict[str, str] | None:
    """{from, to, label} in absolute ISO instants (from inclusive, to exclusive)."""
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise QueryInvalid("'timeRange' must be an object.")
    keys = set(raw) - {"label"}
    if keys == {"from", "to"} or keys == {"from"}:
        start = _instant(str(raw["from"]))
        end = _instant(str(raw["to"])) if "to" in raw else now
        label = raw.get("label") or f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    elif keys == {"last", "unit"}:
        n, unit = raw["last"], raw["unit"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 3660 or unit not in UNITS:
            raise QueryInvalid("'timeRange.last' is a whole number 1-3660 and 'unit' hours, days or weeks.")
        start, end = now - timedelta(days=n * UNITS[unit]), now
        label = f"the last {n} {unit[:-1] if n == 1 else unit}"
    elif keys == {"period"}:
        if raw["period"] not in PERIODS:
            raise QueryInvalid(f"'timeRange.period' must be one of {', '.join(PERIODS)}.")
        start, end, label = _period(raw["period"], now)
    elif keys in ({"quarter"}, {"quarter", "year"}):
        q, year = raw["quarter"], raw.get("year", now.year)
        if q not in (1, 2, 3, 4) or isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
            raise QueryInvalid("'timeRange.quarter' is 1-4 and 'year' 2000-2100.")
        start = _quarter_start(year, q)
        end, label = _add_months(start, 3), f"Q{q} {year}"
    else:
        raise QueryInvalid("'timeRange' is {from, to}, {last, unit}, {period} or {quarter, year}.")
    if end <= start:
        raise QueryInvalid("'timeRange' ends before it starts.")
    return {"from": start.isoformat(), "to": end.isoformat(), "label": label}


def previous_range(time_range: dict[str, str]) -> dict[str, str]:
    start, end = _instant(time_range["from"]), _instant(time_range["to"])
    return {"from": (start - (end - start)).isoformat(), "to": start.isoformat(),
            "label": "the previous period"}
