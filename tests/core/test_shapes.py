from __future__ import annotations

import pickle
from dataclasses import field
from typing import Any, Literal

import pytest
from drf_spectacular.generators import SchemaGenerator

from core.shapes import OMIT, Omitted, body_of, doc, serializer_of, shape


@shape
class Part:
    name: str
    kind: Literal["a", "b"] | None
    note: str | Omitted = field(default=OMIT, metadata=doc("Only sometimes."))


@shape
class Whole:
    value: Any
    part: Part
    parts: list[Part] | Omitted = OMIT
    byName: dict[str, Part]
    last: float | None = field(metadata=doc("The end.", format=""))


def test_it_builds_the_body_in_field_order_leaving_out_what_is_omitted():
    whole = Whole(value={"x": 1}, part=Part(name="p", kind=None), byName={}, last=None)

    built = body_of(whole)

    assert built == {"value": {"x": 1}, "part": {"name": "p", "kind": None}, "byName": {}, "last": None}
    assert list(built) == ["value", "part", "byName", "last"]


def test_it_builds_nested_shapes_in_lists_and_dicts():
    part = Part(name="p", kind="a", note="n")
    whole = Whole(value=1, part=part, parts=[part], byName={"k": part}, last=0.5)

    built = body_of(whole)

    assert list(built) == ["value", "part", "parts", "byName", "last"]
    assert built["parts"] == [{"name": "p", "kind": "a", "note": "n"}]
    assert built["byName"] == {"k": {"name": "p", "kind": "a", "note": "n"}}


def test_it_refuses_unknown_and_missing_fields():
    with pytest.raises(TypeError):
        Part(name="p", kind=None, extra=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Part(name="p")  # type: ignore[call-arg]


def test_it_documents_the_same_fields_it_sends():
    fields = serializer_of(Whole)().fields

    assert list(fields) == ["value", "part", "parts", "byName", "last"]
    assert fields["parts"].required is False and fields["value"].required is True
    assert fields["last"].allow_null is True and fields["last"].help_text == "The end."
    nested = fields["part"].fields
    assert list(nested) == ["name", "kind", "note"]
    assert list(nested["kind"].choices) == ["a", "b"] and nested["kind"].allow_null is True
    assert nested["note"].required is False and nested["note"].help_text == "Only sometimes."


def test_it_keeps_omit_a_single_value_through_pickling():
    assert pickle.loads(pickle.dumps(OMIT)) is OMIT  # our own value
    assert Omitted() is OMIT


EXPLAINED = [
    ("sentiment-analysis-v1", {"text": "great service but slow delivery"}),
    ("revenue-forecast-v1", {"historical_revenue": [100, 120, 90, 140, 110, 132, 99, 154], "pipeline_value": 300,
                             "seasonality": 1, "growth_rate": 0.1}),
    ("product-recommendation-v1", {"current_products": ["crm-core", "sales-cloud"], "industry": "Finance",
                                   "company_size": 40}),
]


@pytest.mark.parametrize(("model_id", "features"), EXPLAINED)
def test_it_sends_no_explanation_key_the_schema_leaves_out(api, model_id, features):
    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]

    response = api.post("/api/v1/explanations/", {"modelId": model_id, "features": features}, format="json")

    assert response.status_code == 200, response.content
    assert _undocumented(response.json(), schemas["ExplanationResponse"], schemas) == []


def _undocumented(value: Any, schema: dict[str, Any], schemas: dict[str, Any], path: str = "") -> list[str]:
    """The paths in `value` that `schema` does not describe."""
    if "allOf" in schema:
        schema = schema["allOf"][0]
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(value, dict) and "properties" in schema:
        return [p for key, item in value.items() for p in (
            _undocumented(item, schema["properties"][key], schemas, f"{path}.{key}")
            if key in schema["properties"] else [f"{path}.{key}"])]
    if isinstance(value, list) and "items" in schema:
        return [p for i, item in enumerate(value) for p in _undocumented(item, schema["items"], schemas, f"{path}[{i}]")]
    return []
