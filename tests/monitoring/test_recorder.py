from __future__ import annotations

import time

import pytest
from django.utils import timezone

from monitoring.models import Metric
from monitoring.services import metric_buffer, metrics_trim
from tests.monitoring.support import CHURN, add_metrics, ensure_builtin_models, predict

pytestmark = pytest.mark.django_db


@pytest.fixture
def buffered(settings):
    settings.HOTCRM = settings.HOTCRM | {"METRICS_BUFFER_SIZE": 5, "METRICS_FLUSH_INTERVAL": 60.0}
    metric_buffer().synchronous = False
    yield metric_buffer()
    metric_buffer().discard()


def test_it_buffers_metrics_and_stores_them_in_one_insert(api, buffered, django_assert_num_queries):
    for i in range(4):
        predict(api, "churn-prediction-v1", CHURN | {"account_age": i + 1})
    assert buffered.pending() == 4 and Metric.objects.count() == 0
    with django_assert_num_queries(3):  # savepoint, one multi-row INSERT, release
        buffered.add([Metric(model_id="x", model_version="1", timestamp=timezone.now(), latency_ms=1.0)])
    assert buffered.pending() == 0 and Metric.objects.count() == 5


def test_it_stores_what_this_process_buffered_before_computing_stats(api, buffered):
    predict(api, "churn-prediction-v1", CHURN)
    predict(api, "churn-prediction-v1", CHURN)
    assert Metric.objects.count() == 0
    assert api.get("/api/v1/models/churn-prediction-v1/stats/").json()["totalPredictions"] == 2


def test_it_flushes_once_the_oldest_record_is_older_than_the_interval(api, buffered, settings):
    settings.HOTCRM = settings.HOTCRM | {"METRICS_FLUSH_INTERVAL": 0.05}
    predict(api, "churn-prediction-v1", CHURN)
    time.sleep(0.06)
    predict(api, "churn-prediction-v1", CHURN | {"account_age": 2})
    assert Metric.objects.count() == 2


def test_it_flushes_from_a_background_thread(api, buffered, settings, transactional_db):
    ensure_builtin_models()
    settings.HOTCRM = settings.HOTCRM | {"METRICS_FLUSH_INTERVAL": 0.05}
    buffered.start_background_flush()
    try:
        assert predict(api, "churn-prediction-v1", CHURN).status_code == 200
        deadline = time.monotonic() + 5
        while Metric.objects.count() < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        buffered.stop_background_flush()
    assert Metric.objects.count() == 1


def test_it_keeps_records_when_the_database_refuses_them(buffered, monkeypatch):
    from core.metrics import MetricRecord, metrics_record
    from monitoring import services as recorder

    def refuse(batch):
        raise RuntimeError("database down")

    monkeypatch.setattr(recorder, "_insert", refuse)
    records = [MetricRecord(model_id="m", model_version="1", timestamp=timezone.now(),
                            latency_ms=1.0, confidence=None, cached=False, success=True, provider="local")] * 5
    metrics_record(records)  # a full buffer: flushed, refused, kept
    assert buffered.pending() == 5
    monkeypatch.undo()
    assert buffered.flush() == 5 and Metric.objects.filter(model_id="m").count() == 5


def test_it_keeps_the_newest_metrics_per_model(settings):
    add_metrics("lead-scoring-v1", range(300))
    add_metrics("churn-prediction-v1", range(50))
    newest = list(Metric.objects.filter(model_id="lead-scoring-v1").order_by("-id").values_list("id", flat=True)[:100])
    assert metrics_trim("lead-scoring-v1", keep=100) == 200
    kept = set(Metric.objects.filter(model_id="lead-scoring-v1").values_list("id", flat=True))
    assert kept == set(newest)
    assert Metric.objects.filter(model_id="churn-prediction-v1").count() == 50
    assert metrics_trim("lead-scoring-v1", keep=100) == 0


def test_it_enforces_retention_while_recording(api, settings):
    settings.HOTCRM = settings.HOTCRM | {"METRICS_RETENTION": 40}
    for i in range(60):
        assert predict(api, "churn-prediction-v1", CHURN | {"account_age": i + 1}).status_code == 200
    count = Metric.objects.filter(model_id="churn-prediction-v1").count()
    every = max(1, min(500, 40 // 20))
    assert 40 <= count < 40 + every
    # the oldest went first: the newest prediction's metric is still there
    assert Metric.objects.filter(model_id="churn-prediction-v1").order_by("-id").first().latency_ms > 0
