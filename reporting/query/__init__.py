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

from reporting.query.schema import query_json_schema
from reporting.query.time_ranges import add_months, previous_range, time_range_resolve
from reporting.query.validation import default_alias, output_columns, query_validate
from reporting.query.whitelist import FIRST_YEAR, LAST_YEAR, SOURCES, TIME_BUCKETS, Field, QueryInvalid, Source

__all__ = ["FIRST_YEAR", "LAST_YEAR", "SOURCES", "TIME_BUCKETS", "Field", "QueryInvalid", "Source", "add_months",
           "default_alias", "output_columns", "previous_range", "query_json_schema", "query_validate",
           "time_range_resolve"]
