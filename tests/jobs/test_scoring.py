"""Scoring chunks in process (jobs.services.chunk_score, as a worker calls it): the
column-wise fast path answers and logs exactly as the record-by-record path does, shadow
challengers shadow-score job rows, and a chunk whose worker stopped beating is queued again
without waiting for the job to go quiet."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import JobChunk
from monitoring.models import Metric
from predictions.ids import shadow_id
from predictions.models import PredictionLog
from registry import services as registry_services
from registry.models import AbMode, MLModel
from tests.jobs.conftest import LEAD_HEADER, lead_csv, upload

pytestmark = pytest.mark.django_db(transaction=True)


def score(api, data: bytes, **fields) -> tuple[str, list[dict]]:
    job = upload(api, data, **fields).json()
    for chunk_id in JobChunk.objects.filter(job_id=job["id"]).values_list("pk", flat=True):
        services.chunk_score(chunk_id=chunk_id)
    body = api.get(f"/api/v1/jobs/{job['id']}/").json()
    assert body["status"] == "succeeded", body
    results = b"".join(api.get(body["resultsUrl"]).streaming_content).decode()
    return job["id"], list(csv.DictReader(io.StringIO(results)))


def quoted(data: bytes) -> bytes:
    """The same rows with every job title quoted: the chunk takes the record-by-record path."""
    lines = data.decode().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[4] = f'"{cells[4]}"'
        out.append(",".join(cells))
    return ("\n".join(out) + "\n").encode()


def test_it_answers_and_logs_a_plain_chunk_as_the_careful_path_does(api, builtin_models_restored):
    data = lead_csv(120) + b"L-x, 42 ,Retail, 7 ,CEO,1e3\n"  # spaces and an exponent, as CSV says them
    _, plain = score(api, data, idColumn="lead_id", objectType="plain")
    _, careful = score(api, quoted(data), idColumn="lead_id", objectType="careful")
    strip = ("predictionId",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in plain] == [
        {k: v for k, v in r.items() if k not in strip} for r in careful]
    logged = {t: {log.object_id: log for log in PredictionLog.objects.filter(object_type=t)}
              for t in ("plain", "careful")}
    assert len(logged["plain"]) == len(logged["careful"]) == 121
    for object_id, log in logged["plain"].items():
        twin = logged["careful"][object_id]
        assert (log.features, log.prediction, log.label, log.confidence) == (
            twin.features, twin.prediction, twin.label, twin.confidence)
    assert logged["plain"]["L-x"].features == {"company_size": 42, "industry": "Retail", "engagement_score": 7,
                                               "job_title": "CEO", "budget": 1000.0}
    assert str(logged["plain"]["L-7"].id) == plain[7]["predictionId"]


def test_it_reports_the_same_row_errors_on_both_paths(api, builtin_models_restored):
    rows = "\nL-0,10,Retail,5,CEO,100\nL-1,10,Retail,lots,CEO,100\nL-3,-1,Retail,5,CEO,100\n"
    found = []
    for extra in ("", "L-4,10,Retail\n"):  # a short row sends the chunk down the careful path
        job = upload(api, (LEAD_HEADER + rows + extra).encode(), idColumn="lead_id").json()
        services.chunk_score(chunk_id=JobChunk.objects.get(job_id=job["id"]).pk)
        errors = api.get(f"/api/v1/jobs/{job['id']}/errors/").json()["results"]
        found.append([(e["row"], e["id"], e["code"], e["message"]) for e in errors])
    assert found[0] == found[1][:2] == [
        (2, "L-1", "invalid_type", "Feature 'engagement_score' must be a number."),
        (3, "L-3", "out_of_range", "Feature 'company_size' must be at least 1.")]
    assert found[1][2] == (4, None, "wrong_field_count", "The row has 3 fields; the header has 6.")
    assert PredictionLog.objects.count() == 2


def test_it_shadow_scores_job_rows_with_the_challenger_and_never_returns_them(api, builtin_models_restored):
    registry_services.model_update(model=MLModel.objects.get(pk="lead-scoring-v2"),
                                   data={"ab_mode": AbMode.SHADOW, "ab_traffic_percentage": 50})
    _, rows = score(api, lead_csv(200), modelId="lead-scoring-v2", idColumn="lead_id", objectType="lead")
    assert {r["modelId"] for r in rows} == {"lead-scoring-v1"} and {r["abTestArm"] for r in rows} == {"champion"}
    shadows = {log.pk: log for log in PredictionLog.objects.filter(shadow=True)}
    assert 50 <= len(shadows) <= 150
    twinned = [r for r in rows if shadow_id(r["predictionId"]) in {str(k) for k in shadows}]
    assert len(twinned) == len(shadows)
    for r in twinned[:5]:
        twin = PredictionLog.objects.get(pk=shadow_id(r["predictionId"]))
        assert (twin.model_id, twin.ab_arm, twin.object_id, twin.object_type) == (
            "lead-scoring-v2", "shadow", r["lead_id"], "lead")
    shadow_rows = sum(Metric.objects.filter(model_id="lead-scoring-v2", ab_arm="shadow").values_list("rows", flat=True))
    assert shadow_rows == len(shadows)
    # The same lead meets the same draw in a single prediction.
    single = api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v2", "features": {
        "company_size": 50, "industry": "Retail", "engagement_score": 5, "job_title": "CEO", "budget": 10},
        "context": {"objectType": "lead", "objectId": twinned[0]["lead_id"]}}, format="json").json()
    assert PredictionLog.objects.filter(pk=shadow_id(single["metadata"]["predictionId"])).exists()


def test_it_queues_again_a_started_chunk_whose_worker_stopped_beating(api, builtin_models_restored, settings,
                                                                     monkeypatch):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_CHUNK_ROWS": 10, "JOB_HEARTBEAT_TIMEOUT": 10,
                       "JOB_STALL_SECONDS": 3600}
    job = upload(api, lead_csv(30)).json()
    dead, alive, _waiting = JobChunk.objects.filter(job_id=job["id"]).order_by("index")
    now = timezone.now()
    JobChunk.objects.filter(pk=dead.pk).update(started_at=now - timedelta(seconds=30),
                                               heartbeat_at=now - timedelta(seconds=11))
    JobChunk.objects.filter(pk=alive.pk).update(started_at=now - timedelta(seconds=30),
                                                heartbeat_at=now - timedelta(seconds=2))
    sent = []
    monkeypatch.setattr(services, "chunks_dispatch", lambda ids: sent.extend(ids))
    assert services.jobs_requeue_stalled() == 1
    assert sent == [dead.pk]  # a slow chunk that still beats, and a queued one, are left alone
    assert services.jobs_requeue_stalled() == 0  # claimed: not queued again at the next check


def test_it_renews_a_chunk_heartbeat_while_it_is_scored(api, builtin_models_restored, settings, monkeypatch):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_HEARTBEAT_SECONDS": 0.05}
    job = upload(api, lead_csv(10)).json()
    chunk = JobChunk.objects.get(job_id=job["id"])
    beats = []
    real = services.score_chunk

    def slow_score(*args):
        import time

        for _ in range(20):
            time.sleep(0.05)
            beats.append(JobChunk.objects.get(pk=chunk.pk).heartbeat_at)
        return real(*args)

    monkeypatch.setattr(services, "score_chunk", slow_score)
    services.chunk_score(chunk_id=chunk.pk)
    assert len(set(beats)) >= 3  # renewed while the (slow) scoring ran
    assert JobChunk.objects.get(pk=chunk.pk).done_at is not None
