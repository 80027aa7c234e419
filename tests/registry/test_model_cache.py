from __future__ import annotations

import pytest

from core import generations
from registry.models import MLModel
from registry.selectors import model_get

pytestmark = pytest.mark.django_db


def test_it_serves_a_warm_model_row_without_the_database(django_assert_num_queries):
    model_get("lead-scoring-v1")
    with django_assert_num_queries(0):
        assert model_get("lead-scoring-v1").pk == "lead-scoring-v1"


def test_it_reloads_a_model_once_another_process_changed_the_registry():
    assert model_get("churn-prediction-v1").cache_ttl == 300
    MLModel.objects.filter(pk="churn-prediction-v1").update(cache_ttl=7)  # as another process
    assert model_get("churn-prediction-v1").cache_ttl == 300
    generations.bump(generations.REGISTRY)
    assert model_get("churn-prediction-v1").cache_ttl == 7
