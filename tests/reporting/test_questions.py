"""Questions in varied wording against the fixture data (tests/reporting/conftest.py), each
with the structured query it must become and the rows it must answer, worked out by hand."""

from __future__ import annotations

import pytest

from reporting.services import question_answer

LEAD1, LEAD2 = "lead-scoring-v1", "lead-scoring-v2"
CHURN, SENT = "churn-prediction-v1", "sentiment-analysis-v1"
COUNT = [{"fn": "count", "as": "count"}]


def day(d: str) -> str:
    return f"2026-{d}T00:00:00+00:00"


# (question, expected parts of the query, expected rows)
CASES = [
    # --- counts and time ranges
    ("How many predictions were made today?",
     {"source": "predictions", "aggregations": COUNT, "groupBy": [],
      "timeRange": {"from": day("11-18"), "to": "2026-11-18T15:30:00+00:00", "label": "today"}}, [[5]]),
    ("How many predictions are there in total?", {"aggregations": COUNT, "timeRange": None}, [[15]]),
    ("Number of predictions yesterday",
     {"timeRange": {"from": day("11-17"), "to": day("11-18"), "label": "yesterday"}}, [[2]]),
    ("How many predictions last week?",
     {"timeRange": {"from": day("11-09"), "to": day("11-16"), "label": "last week"}}, [[3]]),
    ("Number of predictions in the past month",
     {"timeRange": {"from": "2026-10-18T15:30:00+00:00", "to": "2026-11-18T15:30:00+00:00",
                    "label": "the past month"}}, [[12]]),
    ("How many predictions in Q3 2026?",
     {"timeRange": {"from": day("07-01"), "to": day("10-01"), "label": "Q3 2026"}}, [[1]]),
    ("How many predictions in the second quarter of 2026?",
     {"timeRange": {"from": day("04-01"), "to": day("07-01"), "label": "Q2 2026"}}, [[1]]),
    ("How many predictions since 2026-11-17?", {"timeRange": {
        "from": day("11-17"), "to": "2026-11-18T15:30:00+00:00", "label": "since 2026-11-17"}}, [[7]]),
    ("How many predictions between 2026-11-01 and 2026-11-10?",
     {"timeRange": {"from": day("11-01"), "to": day("11-11"),
                    "label": "from 2026-11-01 to 2026-11-10"}}, [[2]]),
    ("Negative sentiment predictions this year",
     {"filters": [["sentiment", "=", "negative"]], "timeRange": {
         "from": day("01-01"), "to": "2026-11-18T15:30:00+00:00", "label": "this year"}}, [[1]]),
    ("How many hot leads this week?",
     {"filters": [["class", "=", "hot"]], "aggregations": COUNT}, [[3]]),
    ("How many challenger predictions?", {"filters": [["abArm", "=", "challenger"]]}, [[2]]),
    ("How many predictions for object id A-1?", {"filters": [["objectId", "=", "A-1"]]}, [[2]]),
    ("How many predictions for user u-2?", {"filters": [["userId", "=", "u-2"]]}, [[8]]),
    ("How many predictions with confidence above 80?",
     {"filters": [["confidence", ">", 80]], "aggregations": COUNT}, [[4]]),
    ("How many distinct objects were scored this month?",
     {"aggregations": [{"fn": "countDistinct", "field": "objectId", "as": "countDistinct_objectId"}]},
     [[11]]),
    # --- averages, sums, percentiles, rates
    ("Average churn probability",
     {"aggregations": [{"fn": "avg", "field": "probability", "as": "avg_probability"}]}, [[0.5125]]),
    ("Median confidence of predictions",
     {"aggregations": [{"fn": "percentile", "field": "confidence", "p": 50, "as": "p50_confidence"}]},
     [[70.0]]),
    ("Average confidence for lead-scoring-v2",
     {"filters": [["modelId", "=", LEAD2]],
      "aggregations": [{"fn": "avg", "field": "confidence", "as": "avg_confidence"}]}, [[70.0]]),
    ("Sum of lead scores this week",
     {"aggregations": [{"fn": "sum", "field": "score", "as": "sum_score"}]}, [[363.0]]),
    ("Share of hot leads in the last 30 days",
     {"aggregations": [{"fn": "rate", "field": "class", "value": "hot", "as": "hotRate"}]}, [[57.1429]]),
    ("Percentage of predictions that are high risk",
     {"aggregations": [{"fn": "rate", "field": "risk", "value": "high", "as": "highRate"}]}, [[50.0]]),
    ("What is the p99 latency of lead-scoring-v1?",
     {"source": "metrics", "filters": [["modelId", "=", LEAD1]],
      "aggregations": [{"fn": "percentile", "field": "latency", "p": 99, "as": "p99_latency"}]}, [[96.4]]),
    ("Highest latency yesterday",
     {"source": "metrics", "aggregations": [{"fn": "max", "field": "latency", "as": "max_latency"}]},
     [[500.0]]),
    ("How many requests were served in the last hour?",
     {"source": "metrics", "aggregations": COUNT,
      "timeRange": {"from": "2026-11-18T14:30:00+00:00", "to": "2026-11-18T15:30:00+00:00",
                    "label": "the last 1 hour"}}, [[6]]),
    # --- grouped: per model, class, risk, sentiment, object type, arm, provider, day, hour
    ("Predictions per model in the last 7 days",
     {"groupBy": ["modelId"], "aggregations": COUNT, "orderBy": [["count", "desc"]]},
     [[LEAD1, 4], [CHURN, 2], [LEAD2, 2], [SENT, 2]]),
    ("Which model has the most predictions?",
     {"groupBy": ["modelId"], "orderBy": [["count", "desc"]], "limit": 1}, [[LEAD1, 5]]),
    ("Which object type has the fewest predictions?",
     {"groupBy": ["objectType"], "orderBy": [["count", "asc"]], "limit": 1}, [["account", 4]]),
    ("Top 5 object types by predictions this month",
     {"groupBy": ["objectType"], "limit": 5, "filters": []}, [["lead", 7], ["case", 3], ["account", 2]]),
    ("Average confidence by class this week",
     {"groupBy": ["class"], "aggregations": [{"fn": "avg", "field": "confidence", "as": "avg_confidence"}]},
     [["hot", 81.6667], ["warm", 62.5]]),
    ("Average lead score per class",
     {"groupBy": ["class"], "aggregations": [{"fn": "avg", "field": "score", "as": "avg_score"}]},
     [["hot", 84.5], ["warm", 57.5], ["cold", 20.0]]),
    ("Predictions by churn risk", {"groupBy": ["risk"]}, [["high", 2], ["low", 1], ["medium", 1]]),
    ("Predictions by sentiment", {"groupBy": ["sentiment"]},
     [["positive", 2], ["negative", 1], ["neutral", 1]]),
    ("How many predictions per A/B arm this week?", {"groupBy": ["abArm"]},
     [["", 4], ["challenger", 2], ["champion", 2]]),
    ("Cached predictions per model", {"filters": [["cached", "=", True]], "groupBy": ["modelId"]},
     [[LEAD1, 1], [SENT, 1]]),
    ("Predictions per day for lead-scoring-v1 in the last 3 days",
     {"filters": [["modelId", "=", LEAD1]], "groupBy": ["day"], "orderBy": [["day", "asc"]]},
     [[day("11-15"), 1], [day("11-17"), 1], [day("11-18"), 2]]),
    ("Daily predictions for cases in the last 10 days",
     {"filters": [["objectType", "=", "case"]], "groupBy": ["day"]},
     [[day("11-10"), 1], [day("11-17"), 1], [day("11-18"), 1]]),
    ("Predictions per hour today", {"groupBy": ["hour"]},
     [[f"2026-11-18T{h}:00:00+00:00", 1] for h in ("11", "12", "13", "14", "15")]),
    ("Predictions per model per day yesterday", {"groupBy": ["modelId", "day"]},
     [[LEAD1, day("11-17"), 1], [SENT, day("11-17"), 1]]),
    ("Average latency per model",
     {"source": "metrics", "groupBy": ["modelId"],
      "aggregations": [{"fn": "avg", "field": "latency", "as": "avg_latency"}]},
     [[SENT, 400.0], [CHURN, 95.0], [LEAD1, 31.0]]),
    ("p95 latency per model yesterday",
     {"source": "metrics", "groupBy": ["modelId"],
      "aggregations": [{"fn": "percentile", "field": "latency", "p": 95, "as": "p95_latency"}]},
     [[SENT, 490.0], [CHURN, 193.5]]),
    ("Error rate by provider in the last 24 hours",
     {"source": "metrics", "groupBy": ["provider"],
      "aggregations": [{"fn": "rate", "field": "success", "value": False, "as": "errorRate"}]},
     [["local", 20.0]]),
    ("Cache hit rate per model today",
     {"source": "metrics", "aggregations": [{"fn": "rate", "field": "cached", "value": True, "as": "cacheHitRate"}]},
     [[LEAD1, 16.6667], [CHURN, 0.0]]),
    ("How many failed requests by error code?",
     {"source": "metrics", "filters": [["success", "=", False]], "groupBy": ["errorCode"]},
     [["provider_failed", 1], ["provider_timeout", 1]]),
    ("Which model is the slowest in the last 2 days?",
     {"source": "metrics", "aggregations": [{"fn": "avg", "field": "latency", "as": "avg_latency"}],
      "orderBy": [["avg_latency", "desc"]], "limit": 1}, [[SENT, 400.0]]),
    ("Which model was fastest today?", {"orderBy": [["avg_latency", "asc"]], "limit": 1},
     [[LEAD1, 33.6667]]),
    # --- comparisons with the previous period
    ("How many high risk predictions this quarter compared to the previous period?",
     {"compareWithPrevious": True, "filters": [["risk", "=", "high"]]}, [[2, 0, None]]),
    ("Compare predictions this week with the previous period", {"compareWithPrevious": True},
     [[8, 2, 300.0]]),
    ("Predictions per model today vs the previous period",
     {"compareWithPrevious": True, "groupBy": ["modelId"]},
     [[LEAD1, 2, 1, 100.0], [CHURN, 1, 0, None], [LEAD2, 1, 0, None], [SENT, 1, 1, 0.0]]),
    # --- the same kinds of question in other words
    ("what was the average latency of churn-prediction-v1 over the past 24 hours",
     {"source": "metrics", "filters": [["modelId", "=", CHURN]]}, [[95.0]]),
    ("give me the number of predictions broken down by risk level", {"groupBy": ["risk"]},
     [["high", 2], ["low", 1], ["medium", 1]]),
    ("mean confidence for lead scoring v1", {"filters": [["modelId", "=", LEAD1]]}, [[77.0]]),
    ("how many unique users made predictions this week",
     {"aggregations": [{"fn": "countDistinct", "field": "userId", "as": "countDistinct_userId"}]}, [[2]]),
    ("what percentage of requests were cache hits today",
     {"source": "metrics", "filters": [],
      "aggregations": [{"fn": "rate", "field": "cached", "value": True, "as": "cacheHitRate"}]}, [[12.5]]),
    ("what share of leads are cold",
     {"filters": [], "aggregations": [{"fn": "rate", "field": "class", "value": "cold", "as": "coldRate"}]},
     [[14.2857]]),
    ("total predictions this month vs last month",
     {"compareWithPrevious": True, "timeRange": {"from": day("11-01"), "to": "2026-11-18T15:30:00+00:00",
                                                 "label": "this month"}}, [[12, 0, None]]),
    ("hourly request volume today", {"source": "metrics", "groupBy": ["hour"]},
     [["2026-11-18T13:00:00+00:00", 2], ["2026-11-18T14:00:00+00:00", 6]]),
    ("weekly predictions this quarter", {"groupBy": ["week"]},
     [[day("10-05"), 1], [day("11-02"), 1], [day("11-09"), 3], [day("11-16"), 8]]),
    ("Which objects got the most predictions?", {"groupBy": ["objectId"], "limit": 1}, [["A-1", 2]]),
    ("latency p50 and p99 by model",
     {"aggregations": [{"fn": "percentile", "field": "latency", "p": 50, "as": "p50_latency"},
                       {"fn": "percentile", "field": "latency", "p": 99, "as": "p99_latency"}]},
     [[SENT, 400.0, 498.0], [CHURN, 65.0, 196.1], [LEAD1, 20.0, 96.4]]),
    ("How many predictions did lead-scoring-v2 make on 2026-11-16?",
     {"filters": [["modelId", "=", LEAD2]]}, [[1]]),
    ("which provider has the highest error rate",
     {"source": "metrics", "groupBy": ["provider"], "limit": 1}, [["local", 18.1818]]),
    ("bottom 2 models by average confidence",
     {"orderBy": [["avg_confidence", "asc"]], "limit": 2}, [[CHURN, 67.5], [LEAD2, 70.0]]),
    # --- the registry
    ("How many models are there?", {"source": "models", "aggregations": COUNT}, [[6]]),
    ("How many active models are there, by provider?",
     {"source": "models", "filters": [["status", "=", "active"]], "groupBy": ["provider"]}, [["local", 6]]),
    ("Models by type", {"source": "models", "groupBy": ["type"]},
     [["classification", 3], ["forecasting", 1], ["nlp", 1], ["recommendation", 1]]),
    ("List the deprecated models", {"source": "models", "filters": [["status", "=", "deprecated"]]}, []),
]


@pytest.mark.parametrize(("question", "expected_query", "expected_rows"), CASES, ids=[c[0] for c in CASES])
def test_it_answers_a_question_with_the_known_answer(crm_data, question, expected_query, expected_rows):
    answer = question_answer(question=question, now=crm_data)

    for key, value in expected_query.items():
        assert answer["query"][key] == value, (key, answer["query"])
    assert answer["rows"] == expected_rows, answer["query"]
    assert answer["question"] == question
    assert answer["summary"].endswith(".") and answer["summary"].count(". ") == 0


def test_it_lists_the_most_recent_predictions(crm_data):
    answer = question_answer(question="show me the 5 most recent predictions", now=crm_data)

    assert answer["query"]["limit"] == 5 and answer["query"]["orderBy"] == [["createdAt", "desc"]]
    assert [row[answer["columns"].index("objectId")] for row in answer["rows"]] == ["L-5", "L-1", "L-2", "A-1", "C-1"]


def test_it_lists_the_latest_predictions_for_an_object_type(crm_data):
    answer = question_answer(question="Show the last 10 predictions for accounts", now=crm_data)

    assert answer["query"]["filters"] == [["objectType", "=", "account"]]
    assert answer["query"]["orderBy"] == [["createdAt", "desc"]] and answer["query"]["limit"] == 10
    object_ids = [row[answer["columns"].index("objectId")] for row in answer["rows"]]
    assert object_ids == ["A-1", "A-2", "A-3", "A-1"]
    assert answer["chart"] == {"type": "table"}


def test_it_lists_the_models_in_an_ab_test(crm_data):
    answer = question_answer(question="Which models are in an A/B test?", now=crm_data)

    assert answer["query"]["source"] == "models"
    assert answer["query"]["filters"] == [["abEnabled", "=", True]]
    assert [row[0] for row in answer["rows"]] == [LEAD2]
    assert "credentials" not in str(answer) and "providerConfig" not in answer["columns"]


def test_it_states_the_answer_in_the_summary(crm_data):
    answer = question_answer(question="Which model has the most predictions?", now=crm_data)
    assert answer["summary"] == (
        "Model lead-scoring-v1 has the highest number of predictions (5) over all recorded data."
    )
    compared = question_answer(question="Compare predictions this week with the previous period", now=crm_data)
    assert "8" in compared["summary"] and "up 300% from 2" in compared["summary"]


@pytest.mark.parametrize(("question", "chart"), [
    ("How many predictions today?", {"type": "metric", "value": "count", "unit": ""}),
    ("Predictions per model", {"type": "bar", "x": "modelId", "y": ["count"], "series": None}),
    ("Predictions per day this month", {"type": "line", "x": "day", "y": ["count"], "series": None, "missing": 0}),
    ("Predictions per model per day this week",
     {"type": "line", "x": "day", "y": ["count"], "series": "modelId", "missing": 0}),
    ("Average confidence per day this week",
     {"type": "line", "x": "day", "y": ["avg_confidence"], "series": None, "missing": None}),
    ("List the latest predictions", {"type": "table"}),
])
def test_it_suggests_a_chart_that_fits_the_answer(crm_data, question, chart):
    assert question_answer(question=question, now=crm_data)["chart"] == chart


def test_it_leaves_shadow_runs_out_unless_asked_for_them(crm_data):
    from predictions.models import PredictionLog

    PredictionLog.objects.create(
        model_id=LEAD2, model_version="2", requested_model_id=LEAD1, ab_arm="challenger",
        provider="local", features={}, prediction={"class": "hot", "score": 91}, label="hot",
        shadow=True, created_at=crm_data,
    )

    assert question_answer(question="How many predictions?", now=crm_data)["rows"] == [[15]]
    shadow = question_answer(question="How many shadow predictions per model?", now=crm_data)
    assert shadow["query"]["filters"] == [["shadow", "=", True]]
    assert shadow["rows"] == [[LEAD2, 1]]
