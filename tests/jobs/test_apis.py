from __future__ import annotations

import csv
import gzip
import io
import json
import time

import pytest

from predictions.models import PredictionLog
from tests.jobs.conftest import lead_csv, upload, wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_scores_a_csv_file_on_a_worker_and_streams_results_in_input_order(api, celery_worker, settings):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_CHUNK_ROWS": 40}
    response = upload(api, lead_csv(250), idColumn="lead_id", objectType="lead")
    assert response.status_code == 202, response.content
    job = response.json()
    assert response["Location"] == f"/api/v1/jobs/{job['id']}/"
    # Chunks are queued as they are stored: the first may be running before the answer.
    assert job["status"] in ("queued", "running") and job["rowsTotal"] == 250
    done = wait_for_job(api, job["id"])
    assert done["status"] == "succeeded", done
    assert (done["rowsDone"], done["rowsFailed"], done["progress"]) == (250, 0, 100.0)
    assert done["rowsPerSecond"] > 0 and done["etaSeconds"] == 0

    results = api.get(done["resultsUrl"])
    assert results.status_code == 200 and results["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(results.streaming_content).decode())))
    assert [r["lead_id"] for r in rows] == [f"L-{i}" for i in range(250)]
    assert set(rows[0]) == {"lead_id", "score", "class", "confidence", "modelId", "modelVersion", "abTestArm",
                            "predictionId"}
    # Every row is in the prediction log with its object, and the answers are the model's.
    logs = {log.object_id: log for log in PredictionLog.objects.filter(object_type="lead")}
    assert len(logs) == 250
    single = api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v1", "useCache": False, "features": {
        "company_size": 17, "industry": "Healthcare", "engagement_score": 7, "job_title": "VP of Sales",
        "budget": 7000}}, format="json").json()
    assert float(rows[7]["score"]) == pytest.approx(single["prediction"]["score"])
    assert str(logs["L-7"].id) == rows[7]["predictionId"]


def test_it_lists_bad_rows_as_errors_and_succeeds_under_the_error_rate(api, celery_worker):
    data = lead_csv(200, bad_every=20)  # 5 % bad
    response = upload(api, gzip.compress(data), name="leads.csv.gz", idColumn="lead_id", maxErrorRate=5)
    assert response.status_code == 202, response.content
    done = wait_for_job(api, response.json()["id"])
    assert done["status"] == "succeeded", done
    assert (done["rowsDone"], done["rowsFailed"]) == (190, 10)
    errors = api.get(done["errorsUrl"]).json()["results"]
    assert [e["row"] for e in errors] == list(range(20, 201, 20))
    assert errors[0] == {"row": 20, "id": "L-19", "code": "invalid_type",
                         "message": "Feature 'engagement_score' must be a number."}


def test_it_fails_a_job_once_more_rows_fail_than_allowed(api, celery_worker):
    done = wait_for_job(api, upload(api, lead_csv(100, bad_every=10), maxErrorRate=5).json()["id"])
    assert done["status"] == "failed" and "maxErrorRate" in done["error"]
    assert api.get(f"/api/v1/jobs/{done['id']}/results/").status_code == 409


def test_it_reads_json_lines(api, celery_worker):
    lines = [json.dumps({"id": f"A-{i}", "company_size": 50 + i, "industry": "Finance", "engagement_score": i,
                         "job_title": "CTO", "budget": 5000.5}) for i in range(30)]
    lines.insert(3, '{"id": "bad", "company_size": "lots"}')
    done = wait_for_job(api, upload(api, "\n".join(lines).encode(), name="accounts.jsonl", idColumn="id").json()["id"])
    assert (done["status"], done["rowsDone"], done["rowsFailed"]) == ("succeeded", 30, 1)


@pytest.mark.parametrize(("data", "fields", "status", "code"), [
    (b"", {}, 400, "empty_file"),
    (b"lead_id,company_size\n", {}, 400, "missing_feature"),
    (lead_csv(3), {"modelId": "no-such-model"}, 404, "model_not_found"),
    (lead_csv(3), {"idColumn": "nope"}, 400, "missing_id_column"),
    (b"\x1f\x8b\x08\x00garbage", {}, 400, "unreadable_file"),
    (b"\xff\xfe\x00bad header\n1,2\n", {}, 400, "unreadable_file"),
])
def test_it_refuses_a_bad_upload_before_anything_is_queued(builtin_models_restored, api, data, fields, status, code):
    response = upload(api, data, **fields)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert api.get("/api/v1/jobs/").json()["count"] == 0


def test_it_refuses_an_inactive_model_with_409(builtin_models_restored, api):
    from registry.models import MLModel
    from registry.selectors import forget_cached_models

    MLModel.objects.filter(pk="churn-prediction-v1").update(status="inactive")
    forget_cached_models()
    response = upload(api, b"account_age\n3\n", modelId="churn-prediction-v1")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "model_not_active"


def test_it_cancels_a_job_within_seconds(api, celery_worker, settings):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_CHUNK_ROWS": 50}
    job = upload(api, lead_csv(6000)).json()
    wait_for_job(api, job["id"], until=("running",))
    response = api.post(f"/api/v1/jobs/{job['id']}/cancel/")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    time.sleep(1)  # a chunk being scored as it was cancelled is not committed
    done = api.get(f"/api/v1/jobs/{job['id']}/").json()
    assert done["status"] == "cancelled" and done["rowsDone"] < 6000
    assert PredictionLog.objects.count() == done["rowsDone"]
    assert api.post(f"/api/v1/jobs/{job['id']}/cancel/").status_code == 409


def test_it_shows_a_service_token_only_its_own_jobs(api, staff_api, builtin_models_restored):
    from rest_framework.test import APIClient

    from apiauth.services import token_create

    mine = upload(api, lead_csv(3)).json()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {token_create(name='other')[1]}")
    assert other.get(f"/api/v1/jobs/{mine['id']}/").status_code == 404
    assert other.post(f"/api/v1/jobs/{mine['id']}/cancel/").status_code == 404
    assert other.get("/api/v1/jobs/").json()["count"] == 0
    assert [j["id"] for j in api.get("/api/v1/jobs/").json()["results"]] == [mine["id"]]
    assert staff_api.get(f"/api/v1/jobs/{mine['id']}/").status_code == 200


def test_it_routes_each_object_to_its_sticky_arm_and_counts_every_row_in_the_stats(api, celery_worker):
    done = wait_for_job(api, upload(api, lead_csv(300), modelId="lead-scoring-v2", idColumn="lead_id",
                                    objectType="lead").json()["id"])
    assert done["status"] == "succeeded", done
    rows = list(csv.DictReader(io.StringIO(b"".join(api.get(done["resultsUrl"]).streaming_content).decode())))
    arms = {r["lead_id"]: r["abTestArm"] for r in rows}
    assert set(arms.values()) == {"champion", "challenger"}
    for object_id in ("L-3", "L-150", "L-299"):  # a single prediction for the same lead meets the same arm
        single = api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v2", "features": {
            "company_size": 50, "industry": "Retail", "engagement_score": 5, "job_title": "CEO", "budget": 10},
            "context": {"objectType": "lead", "objectId": object_id}}, format="json").json()
        assert single["metadata"]["abTestArm"] == arms[object_id]
    logged = PredictionLog.objects.filter(object_type="lead", requested_model_id="lead-scoring-v2")
    assert logged.count() == 300 + 3
    challenger = sum(1 for arm in arms.values() if arm == "challenger")
    stats = api.get("/api/v1/models/lead-scoring-v2/stats/").json()
    assert stats["totalPredictions"] == challenger + 3 - sum(  # the single ones on the champion arm
        1 for o in ("L-3", "L-150", "L-299") if arms[o] == "champion")
    champion_stats = api.get("/api/v1/models/lead-scoring-v1/stats/").json()
    assert champion_stats["totalPredictions"] == 300 - challenger + sum(
        1 for o in ("L-3", "L-150", "L-299") if arms[o] == "champion")


def test_it_refuses_a_file_that_breaks_off_mid_stream(api, builtin_models_restored):
    broken = gzip.compress(lead_csv(2000))[:-600]  # a truncated download
    response = upload(api, broken, name="leads.csv.gz")
    assert response.status_code == 400 and response.json()["error"]["code"] == "unreadable_file"
    assert api.get("/api/v1/jobs/").json()["count"] == 0


def test_it_fails_a_job_whose_chunk_keeps_killing_its_worker(api, builtin_models_restored):
    from jobs import services
    from jobs.models import JobChunk

    job = upload(api, lead_csv(10)).json()
    chunk = JobChunk.objects.get(job_id=job["id"])
    JobChunk.objects.filter(pk=chunk.pk).update(attempts=services.MAX_ATTEMPTS)
    services.chunk_score(chunk_id=chunk.pk)
    body = api.get(f"/api/v1/jobs/{job['id']}/").json()
    assert body["status"] == "failed" and "started 5 times" in body["error"]
    assert PredictionLog.objects.count() == 0


def test_it_answers_from_the_cache_only_when_asked(api, celery_worker):
    for use_cache in (False, True, True):
        done = wait_for_job(api, upload(api, lead_csv(20), idColumn="lead_id", useCache=use_cache).json()["id"])
        assert done["status"] == "succeeded"
    cached = list(PredictionLog.objects.order_by("created_at").values_list("cached", flat=True))
    assert cached == [False] * 40 + [True] * 20  # the first cached run fills the cache, the second reads it


def test_it_erases_an_objects_result_lines_and_keeps_no_input_once_scored(api, celery_worker):
    from core.objects import Objects
    from jobs.models import JobChunk
    from jobs.services import job_results_erase

    done = wait_for_job(api, upload(api, lead_csv(30), idColumn="lead_id", objectType="lead").json()["id"])
    assert not any(bytes(c.input) for c in JobChunk.objects.filter(job_id=done["id"]))
    assert job_results_erase(Objects("account", ["L-7"])) == 0  # another object type
    assert job_results_erase(Objects("lead", ["L-7"])) == 1
    rows = list(csv.DictReader(io.StringIO(b"".join(api.get(done["resultsUrl"]).streaming_content).decode())))
    assert [r["lead_id"] for r in rows] == [f"L-{i}" for i in range(30) if i != 7]
