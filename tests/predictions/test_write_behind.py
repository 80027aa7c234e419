"""Log rows are written behind the answer (predictions.recording): nothing is lost, readers in
this process see them at once, and feedback from another process waits for a fresh id's row."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.utils import timezone

from predictions import feedback as feedback_service
from predictions.ids import minted_at, new_prediction_id
from predictions.models import PredictionLog
from predictions.recording import LogRow, log_buffer, prediction_logs_insert
from tests.predictions.test_apis import LEAD, predict
from tests.predictions.test_feedback import feedback

pytestmark = pytest.mark.django_db


@pytest.fixture
def buffered(settings):
    settings.HOTCRM = settings.HOTCRM | {"METRICS_BUFFER_SIZE": 1000, "METRICS_FLUSH_INTERVAL": 60.0}
    log_buffer().synchronous = False
    yield log_buffer()
    log_buffer().discard()


def test_prediction_ids_are_version_7_and_carry_their_time():
    before = time.time()
    ids = [new_prediction_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert all(before - 0.002 <= minted_at(i) <= time.time() + 0.002 for i in ids)
    assert ids == sorted(ids, key=lambda i: uuid.UUID(i).int >> 80)  # time-ordered
    assert minted_at(str(uuid.uuid4())) is None and minted_at("nonsense") is None
    future = uuid.UUID(int=((int(time.time() * 1000) + 3_600_000) << 80) | (0x7 << 76) | (0b10 << 62))
    assert minted_at(str(future)) is None


def test_a_prediction_is_answered_before_its_log_row_is_written_and_the_row_is_kept(api, buffered):
    body = predict(api, "lead-scoring-v1", LEAD).json()
    pid = body["metadata"]["predictionId"]
    assert buffered.pending() == 1 and not PredictionLog.objects.filter(pk=pid).exists()
    assert buffered.flush() == 1
    row = PredictionLog.objects.get(pk=pid)
    assert row.prediction == body["prediction"] and row.features["industry"] == "Technology"
    assert row.confidence == body["confidence"] and row.created_at is not None and not row.shadow


def test_feedback_in_the_same_process_stores_the_pending_row_first(api, buffered):
    pid = predict(api, "lead-scoring-v1", LEAD).json()["metadata"]["predictionId"]
    assert buffered.pending() == 1
    assert feedback(api, pid, "hot").status_code == 201
    assert PredictionLog.objects.get(pk=pid).actual == "hot"


def test_feedback_waits_for_a_fresh_row_another_process_has_not_stored_yet(api, transactional_db, settings):
    settings.HOTCRM = settings.HOTCRM | {"METRICS_FLUSH_INTERVAL": 0.1}
    pid = new_prediction_id()
    row = LogRow(id=pid, model_id="lead-scoring-v1", model_version="1.0.0", requested_model_id="lead-scoring-v1",
                 ab_arm="", provider="local", features=LEAD, prediction={"score": 80.0, "class": "hot"},
                 label="hot", confidence=80.0, cached=False, shadow=False, user_id="", object_type="",
                 object_id="", created_at=timezone.now(), actual=None, feedback_at=None)
    # "another process": a thread that stores the row 0.15 s later, as a worker's flush would
    writer = threading.Timer(0.15, lambda: prediction_logs_insert([PredictionLog(**row._asdict())]))
    writer.start()
    try:
        assert feedback_service.prediction_feedback_record(prediction_id=pid, actual="hot")[1] is True
    finally:
        writer.join()
    assert PredictionLog.objects.get(pk=pid).actual == "hot"


def test_feedback_for_an_unknown_or_old_id_does_not_wait(api, monkeypatch):
    slept = []
    monkeypatch.setattr(feedback_service.time, "sleep", slept.append)
    old = uuid.UUID(int=((int(time.time() * 1000) - 60_000) << 80) | (0x7 << 76) | (0b10 << 62))
    for pid in (uuid.uuid4(), old):
        assert feedback(api, pid, "hot").status_code == 404
    assert slept == []
