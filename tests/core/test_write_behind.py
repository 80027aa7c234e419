"""One bad row never stops recording: a batch the database refuses for one row's value is
stored row by row, the unstorable row set aside (counted on /metrics, logged once), the rest
kept; a store that is away keeps every row for later."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from predictions.ids import new_prediction_id
from predictions.models import PredictionLog
from predictions.recording import LogRow, log_buffer

pytestmark = pytest.mark.django_db
SET_ASIDE = "hotcrm_unstorable_rows_total"


def row(object_id: str) -> LogRow:
    return LogRow(id=new_prediction_id(), model_id="lead-scoring-v1", model_version="1.0.0",
                  requested_model_id="lead-scoring-v1", ab_arm="", provider="local", features={"a": 1},
                  prediction={"score": 80.0, "class": "hot"}, label="hot", confidence=80.0, cached=False,
                  shadow=False, user_id="", object_type="lead", object_id=object_id,
                  created_at=timezone.now(), actual=None, feedback_at=None)


def set_aside() -> float:
    return REGISTRY.get_sample_value(SET_ASIDE, {"kind": "prediction log row"}) or 0.0


@pytest.fixture
def buffer():
    log_buffer().synchronous = False
    yield log_buffer()
    log_buffer().discard()


@pytest.mark.parametrize("bad", ["L-\ud800", pytest.param("L-\x00-1", marks=pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite stores NUL in text; PostgreSQL refuses it"))])
def test_one_unstorable_row_is_set_aside_and_every_other_row_is_stored(buffer, caplog, bad):
    before, counted = PredictionLog.objects.count(), set_aside()
    buffer.add([row("L-1"), row(bad), row("L-2")])
    with caplog.at_level(logging.ERROR, logger="core.write_behind"):
        assert buffer.flush() == 2
        buffer.add([row("L-3")])
        assert buffer.flush() == 1  # the bad row was not put back: later rows flow
    assert buffer.pending() == 0
    assert PredictionLog.objects.count() == before + 3
    assert set_aside() == counted + 1
    assert len([r for r in caplog.records if "Set aside" in r.message]) == 1
    exposed = Client().get("/metrics").content.decode()
    assert SET_ASIDE in exposed


def test_a_store_that_is_away_keeps_every_row(buffer):
    table = connection.ops.quote_name(PredictionLog._meta.db_table)
    away = connection.ops.quote_name(PredictionLog._meta.db_table + "_away")
    counted = set_aside()
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {away}")
    try:
        buffer.add([row("L-1"), row("L-2")])
        assert buffer.flush() == 0
        assert buffer.pending() == 2
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {away} RENAME TO {table}")
    assert buffer.flush() == 2
    assert set_aside() == counted
