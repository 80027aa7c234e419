"""A metric store that fails: predictions are still answered, the failure is logged and
counted (hotcrm_metric_store_failures_total on /metrics), and the records kept for the next
flush are stored once the store is back."""

from __future__ import annotations

import logging

import pytest
from django.db import DatabaseError, connection
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from monitoring import services as recorder
from monitoring.models import Metric
from tests.monitoring.support import CHURN, predict

pytestmark = pytest.mark.django_db
FAILURES = "hotcrm_metric_store_failures_total"


def failures() -> float:
    return REGISTRY.get_sample_value(FAILURES) or 0.0


def exposed_failures() -> float:
    text = Client().get("/metrics").content.decode()
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == FAILURES)


def predict_churn(api, age: int):
    response = predict(api, "churn-prediction-v1", CHURN | {"account_age": age})
    assert response.status_code == 200, response.content
    return response


def test_predictions_are_answered_while_the_metric_table_is_gone_and_stored_once_it_is_back(api, caplog):
    table = connection.ops.quote_name(Metric._meta.db_table)
    away = connection.ops.quote_name(Metric._meta.db_table + "_away")
    before = failures()
    with connection.cursor() as cursor:  # a real database fault: the INSERT hits a missing table
        cursor.execute(f"ALTER TABLE {table} RENAME TO {away}")
    try:
        with caplog.at_level(logging.ERROR, logger="core.write_behind"):
            predict_churn(api, 1)
            predict_churn(api, 2)
        assert failures() == before + 2
        assert exposed_failures() == failures()
        assert [r.message for r in caplog.records] == [
            "Could not store 1 metric(s); keeping them for the next flush",
            "Could not store 2 metric(s); keeping them for the next flush",
        ]
        assert recorder.metric_buffer().pending() == 2
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {away} RENAME TO {table}")
    predict_churn(api, 3)  # the store is back: this flush stores the two kept records too
    assert recorder.metric_buffer().pending() == 0
    assert Metric.objects.filter(model_id="churn-prediction-v1", success=True).count() == 3
    assert failures() == before + 2


def test_an_insert_that_raises_never_fails_the_request_and_loses_nothing(api, monkeypatch, caplog):
    real_insert = recorder._insert

    def broken(batch):
        raise DatabaseError("disk I/O error")

    before = failures()
    monkeypatch.setattr(recorder, "_insert", broken)
    with caplog.at_level(logging.ERROR, logger="core.write_behind"):
        for age in range(1, 4):
            predict_churn(api, age)
        batch = api.post("/api/v1/predictions/batch/", {"modelId": "churn-prediction-v1",
                                                         "features": [CHURN, CHURN | {"nps_score": -10}]},
                         format="json")
    assert batch.status_code == 200, batch.content
    assert failures() == before + 4
    assert all("disk I/O error" in r.exc_text for r in caplog.records if r.exc_text)
    assert Metric.objects.count() == 0
    kept = recorder.metric_buffer().pending()
    assert kept >= 4
    monkeypatch.setattr(recorder, "_insert", real_insert)
    predict_churn(api, 9)
    assert Metric.objects.count() == kept + 1
    assert recorder.metric_buffer().pending() == 0
