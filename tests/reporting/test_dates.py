"""Questions naming impossible or out-of-range dates are refused with a 4xx that says so,
never a 500, whether the parser or an LLM's query names them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("question", [
    "how many predictions since 2026-02-30",
    "how many predictions on 2026-13-01",
    "how many predictions on 9999-12-31",
    "how many predictions between 2026-01-01 and 9999-12-31",
    "how many predictions on 0001-01-01 compared to the previous period",
    "how many predictions since 0000-01-01",
    "how many predictions in the last 9999 months",
    "how many predictions in Q3 9999",
])
def test_it_refuses_an_impossible_date_in_a_question(api, question):
    response = api.post("/api/v1/reports/query/", {"question": question}, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "question_not_understood"


@pytest.mark.parametrize("time_range", [
    {"from": "2026-02-30"}, {"from": "2026-01-01T25:00:00"}, {"from": "0001-01-01", "to": "0001-01-02"},
    {"from": "2026-01-01", "to": "9999-12-31T23:59:59"},
])
def test_it_refuses_an_impossible_time_range_in_a_structured_query(time_range):
    from django.utils import timezone

    from reporting.query import QueryInvalid, time_range_resolve

    with pytest.raises(QueryInvalid):
        time_range_resolve(time_range, timezone.now())
