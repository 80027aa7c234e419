from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone

from predictions.models import PredictionLog
from predictions.recording import (
    LogColumns,
    LogRow,
    json_texts,
    log_buffer,
    logs_write,
    prediction_logs_insert,
    prediction_logs_record,
    prediction_logs_record_columns,
)

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def log(**extra):
    fields = {
        "model_id": "lead-scoring-v1", "model_version": "1.0.0", "requested_model_id": "lead-scoring-v2",
        "ab_arm": "champion", "provider": "local", "label": "hot", "confidence": 81.5, "cached": True,
        "features": {"industry": "Technology", "budget": 1.5, "job_title": "VP «Sales»"},
        "prediction": {"score": 81.5, "class": "hot"}, "user_id": "u1", "object_type": "lead",
        "object_id": "42", "created_at": NOW,
    }
    return PredictionLog(id=uuid.uuid4(), **fields | extra)


def stored(row):
    return {f.attname: getattr(row, f.attname) for f in PredictionLog._meta.concrete_fields}


def test_it_stores_rows_exactly_as_the_orm_would():
    ours, theirs = log(), log(object_id="43", actual=None)
    prediction_logs_insert([ours])
    PredictionLog.objects.bulk_create([theirs])
    read_ours, read_theirs = (stored(PredictionLog.objects.get(pk=x.pk)) for x in (ours, theirs))
    assert read_ours == stored(ours)
    assert {k: v for k, v in read_ours.items() if k not in ("id", "object_id")} == {
        k: v for k, v in read_theirs.items() if k not in ("id", "object_id")
    }


def test_it_stores_a_thousand_rows_in_one_call():
    rows = [log(object_id=str(i)) for i in range(1000)]
    prediction_logs_insert(rows)
    assert PredictionLog.objects.filter(object_type="lead").count() == 1000
    assert set(PredictionLog.objects.values_list("object_id", flat=True)) == {str(i) for i in range(1000)}


def columns_of(rows, **extra):
    """The LogColumns a request would hand over for these rows (JSON written by orjson)."""
    first = rows[0]
    return LogColumns(
        ids=[str(r.id) for r in rows], model_ids=[r.model_id for r in rows], versions=[r.model_version for r in rows],
        arms=[r.ab_arm for r in rows], providers=[r.provider for r in rows],
        features=json_texts([r.features for r in rows]), predictions=json_texts([r.prediction for r in rows]),
        labels=[r.label for r in rows], confidences=[r.confidence for r in rows], cached=[r.cached for r in rows],
        shadow=[r.shadow for r in rows], object_types=[r.object_type for r in rows],
        object_ids=[r.object_id for r in rows], requested_model_id=first.requested_model_id,
        created_at=first.created_at, user_ids=[r.user_id for r in rows], **extra,
    )


@pytest.fixture
def buffered():
    log_buffer().synchronous = False
    yield log_buffer()
    log_buffer().discard()


def test_columns_through_the_buffer_store_what_the_orm_stores(buffered):
    ours = [log(object_id=str(i), confidence=None if i == 1 else 80.0 + i, features={"n": i, "big": 2**70})
            for i in range(3)]
    theirs = [log(object_id=f"orm-{i}", confidence=r.confidence, features=r.features) for i, r in enumerate(ours)]
    prediction_logs_record_columns(columns_of(ours))
    assert buffered.pending() == 3
    assert buffered.flush() == 3
    PredictionLog.objects.bulk_create(theirs)
    for mine, orm in zip(ours, theirs, strict=True):
        read_mine, read_orm = stored(PredictionLog.objects.get(pk=mine.pk)), stored(PredictionLog.objects.get(pk=orm.pk))
        assert read_mine == stored(mine)
        assert {k: v for k, v in read_mine.items() if k not in ("id", "object_id")} == {
            k: v for k, v in read_orm.items() if k not in ("id", "object_id")}


def test_columns_and_rows_queued_together_are_stored_in_one_flush(buffered):
    rows = [log(object_id=str(i)) for i in range(4)]
    prediction_logs_record_columns(columns_of(rows[:2]))
    prediction_logs_record([LogRow(*(getattr(r, f.attname) for f in PredictionLog._meta.concrete_fields))
                            for r in rows[2:]])
    assert buffered.pending() == 4
    assert buffered.flush() == 4
    assert [stored(PredictionLog.objects.get(pk=r.pk)) for r in rows] == [stored(r) for r in rows]


@pytest.mark.parametrize("bad", ["L-\ud800", "L-\x00"])
def test_a_column_value_the_database_refuses_sets_aside_only_its_row(buffered, bad):
    if bad == "L-\x00" and connection.vendor != "postgresql":
        pytest.skip("SQLite stores NUL in text; PostgreSQL refuses it")
    rows = [log(object_id="a"), log(object_id=bad), log(object_id="b")]
    prediction_logs_record_columns(columns_of(rows))
    assert buffered.flush() == 2
    assert sorted(PredictionLog.objects.filter(object_type="lead").values_list("object_id", flat=True)) == ["a", "b"]
    assert buffered.pending() == 0


def test_a_job_chunks_columns_are_written_in_the_callers_transaction():
    rows = [log(object_id=str(i)) for i in range(3)]
    with transaction.atomic():
        logs_write([columns_of(rows)])
        transaction.set_rollback(True)
    assert not PredictionLog.objects.filter(object_type="lead").exists()
    logs_write([columns_of(rows)])
    assert [stored(PredictionLog.objects.get(pk=r.pk)) for r in rows] == [stored(r) for r in rows]
