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


@pytest.mark.parametrize("retry_after", [0.0, 5.0])
def test_it_reads_the_database_again_while_the_shared_counter_cannot_be_read(settings, monkeypatch, retry_after):
    """Redis configured but dead: the counter is unknown, so a copy lasts one check interval,
    whatever this process's stand-in cache holds under the counter's key and however soon
    Redis is to be tried again (CACHE_RETRY_AFTER 0 made the failed read pass for Redis's)."""
    import time

    from django.core.cache import caches

    from core.cache import shared_cache
    from hotcrm_ai.settings import MEMORY_CACHE, redis_cache_config
    from tests.faults.servers import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.REDIS_URL = dead
    settings.CACHES = {"default": redis_cache_config(dead), "memory": MEMORY_CACHE}
    monkeypatch.setitem(settings.HOTCRM, "CACHE_RETRY_AFTER", retry_after)
    shared_cache().reset()
    generations.forget()
    try:
        caches["memory"].set_many({key: 7 for key in generations.KEYS})  # e.g. a bump during the outage
        assert model_get("churn-prediction-v1").cache_ttl == 300
        MLModel.objects.filter(pk="churn-prediction-v1").update(cache_ttl=7)  # as another process
        time.sleep(generations.CHECK_INTERVAL + 0.05)
        assert model_get("churn-prediction-v1").cache_ttl == 7
    finally:
        caches["memory"].delete_many(list(generations.KEYS))
        shared_cache().reset()
        generations.forget()
