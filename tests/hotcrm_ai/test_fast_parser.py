"""The batch endpoint's orjson parser answers exactly as the checked parser: the same value
for every body the service takes, the same error for every body it refuses."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ParseError

from hotcrm_ai.errors import InvalidInput
from hotcrm_ai.limits import FastJSONParser, JSONParser, has_long_integer, json_bytes_depth
from monitoring.models import Metric
from predictions.models import PredictionLog
from tests.hotcrm_ai.test_input_properties import depth

LEAD = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
        "job_title": "VP of Sales", "budget": 120000}
# Strings that are hard for a byte-level scan: brackets, quotes and backslashes inside them,
# escapes, digits, NUL, lone and paired surrogates.
TRICKY_TEXT = st.text(alphabet=st.sampled_from(list('[]{}"\\,:0123456789eE.- ax\x00\ud800\udc00\U0001f600é')),
                      max_size=12)


def json_values(largest_int: int = 2**70):
    return st.recursive(
        st.none() | st.booleans() | st.integers(min_value=-largest_int, max_value=largest_int)
        | st.floats(allow_nan=False, allow_infinity=False) | TRICKY_TEXT,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(TRICKY_TEXT, children, max_size=4),
        max_leaves=20,
    )


def outcome(parser, raw: bytes):
    """The parsed value (its repr: 1 and 1.0, 0.0 and -0.0 differ) or the error."""
    try:
        return "value", repr(parser.parse(io.BytesIO(raw), parser_context={}))
    except InvalidInput as exc:
        return "InvalidInput", exc.code, exc.message
    except ParseError as exc:
        return "ParseError", str(exc.detail)


@settings(max_examples=400, deadline=None)
@given(json_values(), st.booleans())
def test_it_parses_every_body_as_the_checked_parser_does(value, ascii_only):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert outcome(FastJSONParser(), raw) == outcome(JSONParser(), raw)


@settings(max_examples=300, deadline=None)
@given(json_values(largest_int=2**20), st.integers(min_value=1, max_value=8))
def test_it_measures_nesting_on_the_bytes_as_on_the_value(value, limit):
    raw = json.dumps(value).encode("utf-8", "surrogatepass")
    assert json_bytes_depth(raw, limit) == min(depth(value), limit + 1)


@pytest.mark.parametrize("raw", [
    b"[9007199254740991]", b"[-9007199254740992]", b"[18446744073709551616]", b'{"a": [1, 12345678901234567]}',
    b'["1234567890123456"]',
])
def test_it_sends_every_long_integer_to_the_checked_parse(raw):
    assert has_long_integer(raw)
    assert outcome(FastJSONParser(), raw) == outcome(JSONParser(), raw)


@pytest.mark.parametrize("raw", [b"[0.30000000000000004]", b"[123456789012345]", b"[1.5e-300, 12345678901234567e0]"])
def test_it_leaves_fractions_and_short_integers_to_orjson(raw):
    assert not has_long_integer(raw)
    assert outcome(FastJSONParser(), raw) == outcome(JSONParser(), raw)


def batch(features: str) -> str:
    return '{"modelId": "lead-scoring-v1", "features": [' + features + "]}"


ROW = json.dumps(LEAD)


@pytest.mark.parametrize(("body", "code"), [
    ('{"modelId": "lead-scoring-v1", "features": ' + "[" * 40 + "]" * 40 + "}", "too_deep"),
    ('{"modelId": "lead-scoring-v1", "features": ' + "[" * 100_000 + "]" * 100_000 + "}", "too_deep"),
    (batch(ROW + ", " + ROW.replace("120000", "NaN")), "number_out_of_range"),
    (batch(ROW + ", " + ROW.replace("120000", "-Infinity")), "number_out_of_range"),
    (batch(ROW + ", " + ROW.replace("120000", "1e400")), "number_out_of_range"),
    (batch(ROW + ", " + ROW.replace("250", "9" * 30)), "number_out_of_range"),
    (batch(ROW + ", " + ROW.replace("250", "9007199254740993")), "number_out_of_range"),
    (batch(ROW + ", " + ROW.replace("VP of Sales", "VP\\u0000")), "invalid_text"),
    (batch(ROW + ", " + ROW.replace("VP of Sales", "VP\\ud800")), "invalid_text"),
    (batch(ROW + ", " + ROW.replace('"budget"', '"bud\\udfffget"')), "invalid_text"),
    (batch(ROW + ", " + ROW.replace("VP of Sales", "VP\\u0000") + ", " + ROW.replace("250", "1e400")),
     "number_out_of_range"),
    (batch(ROW)[:-5], "malformed_json"),
    ("\ufeff" + batch(ROW), "malformed_json"),
])
def test_the_batch_endpoint_refuses_hostile_bodies_as_the_single_one_does(api, body, code):
    before = (PredictionLog.objects.count(), Metric.objects.count())
    response = api.generic("POST", "/api/v1/predictions/batch/", body.encode("utf-8", "surrogatepass"),
                           content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert (PredictionLog.objects.count(), Metric.objects.count()) == before


def test_the_batch_endpoint_refuses_invalid_utf8_as_malformed(api):
    response = api.generic("POST", "/api/v1/predictions/batch/", batch(ROW).replace("VP", "V\xff").encode("latin-1"),
                           content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
