"""The whitelist: only known sources, fields, operators and functions; values typed."""

from __future__ import annotations

import pytest
from django.db import connection

from reporting.query import QueryInvalid, query_json_schema, query_validate
from reporting.selectors import query_run

NOW_Q = {"source": "predictions", "aggregations": [{"fn": "count"}]}


@pytest.mark.parametrize(("raw", "complaint"), [
    ("SELECT * FROM auth_user", "JSON object"),
    ({"source": "auth_user", "fields": ["password"]}, "'source' must be one of"),
    ({"source": "apiauth.ApiToken", "aggregations": [{"fn": "count"}]}, "'source' must be one of"),
    ({"source": "models", "fields": ["credentials_encrypted"]}, "not a field of models"),
    ({"source": "models", "fields": ["provider_config"]}, "not a field of models"),
    ({"source": "predictions", "fields": ["features"]}, "not a field of predictions"),
    ({**NOW_Q, "filters": [["modelId", "; DROP TABLE x", "a"]]}, "operator"),
    ({**NOW_Q, "filters": [["model_id__startswith", "=", "a"]]}, "not a field"),
    ({**NOW_Q, "filters": [["confidence", "=", "90 OR 1=1"]]}, "not a valid number"),
    ({**NOW_Q, "filters": [["cached", "=", "yes"]]}, "true or false"),
    ({**NOW_Q, "filters": [["modelId", ">", "a"]]}, "compares numbers or times"),
    ({**NOW_Q, "filters": [["modelId", "in", []]]}, "needs a list"),
    ({"source": "predictions", "aggregations": [{"fn": "avg", "field": "modelId"}]}, "numeric field"),
    ({"source": "predictions", "aggregations": [{"fn": "stddev", "field": "confidence"}]}, "not one of"),
    ({"source": "predictions", "aggregations": [{"fn": "count", "as": "x; DROP TABLE y"}]}, "short name"),
    ({"source": "predictions", "aggregations": [{"fn": "percentile", "field": "confidence", "p": 101}]}, "between 0 and 100"),
    ({**NOW_Q, "groupBy": ["password"]}, "not a field"),
    ({**NOW_Q, "orderBy": [["(SELECT 1)", "desc"]]}, "Cannot order by"),
    ({**NOW_Q, "orderBy": [["count", "sideways"]]}, "asc"),
    ({**NOW_Q, "limit": 10**9}, "'limit'"),
    ({**NOW_Q, "timeRange": {"last": 7, "unit": "fortnights"}}, "unit"),
    ({**NOW_Q, "timeRange": {"from": "yesterday-ish", "to": "2026-01-01"}}, "ISO"),
    ({**NOW_Q, "compareWithPrevious": True}, "needs aggregations and a time range"),
    ({**NOW_Q, "sql": "DELETE FROM registry_mlmodel"}, "Unknown query keys"),
    ({"source": "predictions"}, "needs aggregations, or fields"),
])
def test_it_refuses_what_is_not_on_the_whitelist(raw, complaint):
    with pytest.raises(QueryInvalid) as refused:
        query_validate(raw)
    assert complaint in refused.value.message
    assert refused.value.status == 422


def test_it_accepts_its_own_normalised_query():
    query = query_validate({**NOW_Q, "timeRange": {"period": "this_month"}, "groupBy": ["day"]})
    assert query_validate(query) == query


def test_it_describes_every_source_field_in_the_json_schema():
    schema = query_json_schema()
    assert schema["properties"]["source"]["enum"] == ["predictions", "metrics", "models"]
    fields = schema["properties"]["fields"]["items"]["enum"]
    assert {"objectType", "objectId", "class", "risk", "latency", "status"} <= set(fields)
    assert "credentials_encrypted" not in fields


def test_it_sends_values_to_the_database_only_as_bound_parameters(crm_data):
    hostile = "x' OR '1'='1'; DROP TABLE predictions_predictionlog; --"
    query = query_validate({**NOW_Q, "filters": [["objectId", "=", hostile], ["modelId", "in", [hostile, "y"]]]})
    seen: list[tuple[str, tuple]] = []

    def spy(execute, sql, params, many, context):
        seen.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        _columns, rows = query_run(query)

    assert rows == [[0]]
    assert seen and all(hostile not in sql for sql, _ in seen)
    assert any(hostile in params for _, params in seen)
