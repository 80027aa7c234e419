from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.schema import FeatureError, check_schema, parse_schema, validate_features

SCHEMA = {"features": [
    {"name": "size", "type": "integer", "min": 1, "max": 1000},
    {"name": "score", "type": "number", "min": 0, "max": 100},
    {"name": "industry", "type": "category", "categories": ["Technology", "Other"], "otherCategory": "Other"},
    {"name": "plan", "type": "category", "categories": ["basic", "pro"]},
    {"name": "note", "type": "string", "maxLength": 10, "required": False, "default": ""},
    {"name": "history", "type": "number_list", "minItems": 2, "maxItems": 4, "required": False, "default": [0, 0]},
]}
SPECS = parse_schema(SCHEMA)
GOOD = {"size": 10, "score": 50.5, "industry": "technology", "plan": "pro"}


def test_it_cleans_good_features():
    assert validate_features(SPECS, GOOD) == {
        "size": 10, "score": 50.5, "industry": "Technology", "plan": "pro", "note": "", "history": [0, 0]}


def test_it_treats_5_and_5_point_0_alike():
    assert validate_features(SPECS, dict(GOOD, size=5.0)) == validate_features(SPECS, dict(GOOD, size=5))
    assert validate_features(SPECS, dict(GOOD, score=5)) == validate_features(SPECS, dict(GOOD, score=5.0))


def test_it_maps_an_unknown_category_to_other_where_the_schema_says_so():
    assert validate_features(SPECS, dict(GOOD, industry="Aerospace"))["industry"] == "Other"
    with pytest.raises(FeatureError) as error:
        validate_features(SPECS, dict(GOOD, plan="gold"))
    assert error.value.feature == "plan"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_it_refuses_non_finite_numbers(bad):
    with pytest.raises(FeatureError) as error:
        validate_features(SPECS, dict(GOOD, score=bad))
    assert error.value.feature == "score"


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"features": [{"name": "a", "type": "colour"}]}, "type"),
        ({"features": [{"name": "a", "type": "number", "min": 5, "max": 1}]}, "min"),
        ({"features": [{"name": "a", "type": "category"}]}, "categories"),
        ({"features": [{"name": "a", "type": "number"}, {"name": "a", "type": "number"}]}, "twice"),
        ({"fields": []}, "featureSchema"),
    ],
)
def test_it_refuses_malformed_schemas(schema, message):
    with pytest.raises(ValueError, match=message):
        check_schema(schema)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=10,
)


@settings(deadline=None)
@given(st.dictionaries(st.sampled_from(["size", "score", "industry", "plan", "note", "history", "x"]), json_values))
def test_it_either_cleans_or_raises_a_feature_error_for_any_json(features):
    try:
        cleaned = validate_features(SPECS, features)
    except FeatureError as error:
        assert error.message
        return
    assert set(cleaned) == {s.name for s in SPECS}
    assert 1 <= cleaned["size"] <= 1000 and isinstance(cleaned["size"], int)
    assert 0 <= cleaned["score"] <= 100 and math.isfinite(cleaned["score"])
    assert cleaned["plan"] in {"basic", "pro"}


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=1000), st.floats(min_value=0, max_value=100))
def test_it_accepts_every_value_in_range(size, score):
    cleaned = validate_features(SPECS, dict(GOOD, size=size, score=score))
    assert cleaned["size"] == size and cleaned["score"] == score
