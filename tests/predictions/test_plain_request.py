from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from predictions.serializers import (
    BatchRequestSerializer,
    PredictionRequestSerializer,
    plain_batch_request,
    plain_prediction_request,
)

text = st.one_of(st.text(max_size=5), st.sampled_from(["", " x", "lead-scoring-v1", "a" * 101, "b" * 201]))
values = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), text, st.just({}), st.just([]))
contexts = st.one_of(
    values, st.dictionaries(st.sampled_from(["userId", "objectType", "objectId", "other"]), values, max_size=3)
)
bodies = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "modelId": st.one_of(text, values), "features": values, "context": contexts,
            "useCache": st.one_of(values, st.sampled_from(["true", "false", 0, 1])),
            "abArm": st.one_of(values, st.sampled_from(["challenger", "champion", "other"])),
            "extra": values,
        },
    ),
)


def plain(data):
    return {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}


@settings(max_examples=400, deadline=None)
@given(bodies)
@example({"modelId": "lead\x00", "features": {}})  # DRF refuses NUL characters (found by a CI run)
@example({"modelId": "m", "features": {}, "context": {"objectId": "4\x002"}})
def test_it_accepts_by_hand_only_what_the_serializer_accepts_unchanged(body):
    fast = plain_prediction_request(body)
    serializer = PredictionRequestSerializer(data=body)
    if fast is not None:
        assert serializer.is_valid(), serializer.errors
        assert fast == plain(serializer.validated_data)


def test_it_takes_the_ordinary_body_by_hand():
    body = {"modelId": "lead-scoring-v1", "features": {"a": 1}, "context": {"objectId": "42"}}
    assert plain_prediction_request(body) == {**body, "useCache": True}


batch_bodies = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "modelId": st.one_of(st.just("lead-scoring-v1"), text, values),
            "features": st.one_of(values, st.lists(st.one_of(values, st.just({"a": 1})), max_size=3)),
            "useCache": st.one_of(values, st.sampled_from(["true", "false", 0, 1])),
            "contexts": st.one_of(values, st.lists(contexts, max_size=3)),
            "extra": values,
        },
    ),
)


@settings(max_examples=400, deadline=None)
@given(batch_bodies)
@example({"modelId": "m", "features": [{}], "contexts": [{"objectId": " L-1"}]})
@example({"modelId": "m", "features": [{}], "contexts": [{"userId": "u\x00"}]})
@example({"modelId": "lead\x00", "features": [{}]})
def test_a_batch_is_taken_by_hand_only_when_the_serializer_accepts_it_unchanged(body):
    fast = plain_batch_request(body)
    serializer = BatchRequestSerializer(data=body)
    if fast is not None:
        assert serializer.is_valid(), serializer.errors
        assert fast == plain(serializer.validated_data)


def test_it_takes_the_ordinary_batch_by_hand():
    body = {"modelId": "lead-scoring-v1", "features": [{"a": 1}, {"a": 2}], "useCache": False}
    assert plain_batch_request(body) == body
    assert plain_batch_request({**body, "features": []}) is None  # the serializer words the error
    assert plain_batch_request({**body, "features": [{"a": 1}, None]}) is None
    with_contexts = {**body, "contexts": [{"objectId": "L-1", "objectType": "lead"}, {}]}
    assert plain_batch_request(with_contexts) == with_contexts
