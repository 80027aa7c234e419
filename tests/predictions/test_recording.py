from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from predictions.models import PredictionLog
from predictions.recording import prediction_logs_insert

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
