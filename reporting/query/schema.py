"""The JSON schema of a query: what the LLM is shown and must answer with."""

from __future__ import annotations

from typing import Any

from reporting.query.whitelist import AGG_FNS, MAX_FILTERS, MAX_LIMIT, OPS, PERIODS, SOURCES, TIME_BUCKETS, UNITS


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
