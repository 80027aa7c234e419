"""A provider's answer is checked where it enters: a non-finite number or an unstorable string
at any depth is a 502 `malformed_response`, never a 500, and never cached."""

from __future__ import annotations

import pytest

from predictions.models import PredictionLog
from tests.predictions.providers.conftest import predict, register
from tests.predictions.providers.servers import Reply

pytestmark = pytest.mark.django_db
ROW = {"amount": 120, "segment": "enterprise"}


@pytest.mark.parametrize("answer", [
    b'{"predictions": [{"score": {"parts": [1.5, NaN]}}]}',
    b'{"predictions": [{"score": 3, "detail": {"band": [Infinity]}}]}',
    b'{"predictions": [{"score": 3, "label": "hot\\ud800"}]}',
    b'{"predictions": [{"score": 3, "label": "hot\\u0000"}]}',
])
def test_it_answers_502_for_a_poisoned_answer_and_never_caches_it(api, server, answer):
    server.handle = lambda request: Reply(200, answer)
    register("poison-v1", "custom", endpoint=f"{server.url}/score", cache_ttl=300, config={"retries": 0})
    before = PredictionLog.objects.count()
    for _ in range(2):
        response = predict(api, "poison-v1", ROW)
        assert response.status_code == 502, response.content
        assert response.json()["error"]["reason"] == "malformed_response"
    assert len(server.requests) == 2  # the second call was not answered from the cache
    assert PredictionLog.objects.count() == before
    server.handle = lambda request: Reply(200, {"predictions": [{"score": 3}]})
    assert predict(api, "poison-v1", ROW).status_code == 200
