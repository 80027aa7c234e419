from __future__ import annotations

import gc

import pytest

from hotcrm_ai.warmup import warm_up
from monitoring.models import Metric
from predictions.models import PredictionLog
from predictions.providers import provider_for
from registry.models import MLModel

pytestmark = pytest.mark.django_db


def test_it_loads_every_active_local_model_and_records_nothing():
    local = provider_for(MLModel.objects.get(pk="lead-scoring-v1"))
    local._loaded.clear()
    MLModel.objects.filter(pk="churn-prediction-v1").update(status="inactive")
    active = [m for m in MLModel.objects.filter(provider="local") if m.is_active]
    try:
        assert warm_up() == len(active) >= 5
    finally:
        gc.unfreeze()
    assert {key[0] for key in local._loaded} == {m.pk for m in active}
    assert "churn-prediction-v1" not in {key[0] for key in local._loaded}
    assert Metric.objects.count() == 0 and PredictionLog.objects.count() == 0
