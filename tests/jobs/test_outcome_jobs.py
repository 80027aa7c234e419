"""Outcomes jobs: POST /outcomes/jobs/ takes a file of outcomes by object, recorded on a
Celery worker chunk by chunk as POST /outcomes/batch/ records them, with row errors and a
results file like a scoring job's."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest

from jobs import services
from jobs.models import Job, JobChunk, JobKind
from predictions.models import PredictionLog
from tests.jobs.conftest import wait_for_job
from tests.predictions.test_apis import FORECAST, LEAD
from tests.privacy.conftest import traces_of

pytestmark = pytest.mark.django_db(transaction=True)


def upload_outcomes(api, data: bytes, *, name: str = "outcomes.csv", **fields):
    file = io.BytesIO(data)
    file.name = name
    return api.post("/api/v1/outcomes/jobs/", {"file": file, **fields}, format="multipart")


def predict_leads(api, n: int, *, model_id: str = "lead-scoring-v1") -> dict[str, dict]:
    response = api.post("/api/v1/predictions/batch/", {
        "modelId": model_id, "useCache": False,
        "features": [{**LEAD, "engagement_score": i % 101, "company_size": 10 + i} for i in range(n)],
        "contexts": [{"objectType": "lead", "objectId": f"L-{i}"} for i in range(n)],
    }, format="json")
    assert response.status_code == 200, response.content
    return {f"L-{i}": r for i, r in enumerate(response.json()["results"])}


def test_it_records_an_outcomes_csv_on_a_worker_and_lists_what_each_row_reached(api, celery_worker, settings):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_CHUNK_ROWS": 7}
    predicted = predict_leads(api, 20)
    lines = ["objectType,objectId,actual"] + [f"lead,L-{i},{r['prediction']['class']}" for i, r in enumerate(predicted.values())]
    lines.insert(4, "lead,L-404,hot")  # no prediction
    lines.insert(9, "lead,L-5,lukewarm")  # not a label of the model
    lines.insert(12, "lead,,hot")  # no object
    response = upload_outcomes(api, ("\n".join(lines) + "\n").encode(), maxErrorRate=20)
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["kind"] == "outcomes" and job["modelId"] is None and job["rowsTotal"] == 23
    assert response["Location"] == f"/api/v1/jobs/{job['id']}/"
    done = wait_for_job(api, job["id"])
    assert (done["status"], done["rowsDone"], done["rowsFailed"]) == ("succeeded", 20, 3), done
    assert Job.objects.get(pk=job["id"]).chunks_total == 4

    errors = api.get(done["errorsUrl"]).json()["results"]
    assert [(e["row"], e["id"], e["code"]) for e in errors] == [
        (4, "L-404", "no_prediction_for_object"), (9, "L-5", "invalid_actual"), (12, None, "invalid_input")]
    results = list(csv.DictReader(io.StringIO(b"".join(api.get(done["resultsUrl"]).streaming_content).decode())))
    assert [r["objectId"] for r in results] == list(predicted)
    assert {r["predictionId"] for r in results} == {r["metadata"]["predictionId"] for r in predicted.values()}
    assert {r["recorded"] for r in results} == {"true"}
    stored = dict(PredictionLog.objects.values_list("object_id", "actual"))
    assert stored == {oid: r["prediction"]["class"] for oid, r in predicted.items()}
    assert api.get("/api/v1/models/lead-scoring-v1/stats/").json()["accuracy"] == 100.0


def test_it_reads_numbers_from_csv_cells_and_json_lines_with_model_id(api, celery_worker):
    body = api.post("/api/v1/predictions/", {"modelId": "revenue-forecast-v1", "features": FORECAST,
                                             "context": {"objectType": "account", "objectId": "A-1"}}, format="json").json()
    predict_leads(api, 2)
    done = wait_for_job(api, upload_outcomes(api, b"objectType,objectId,actual\naccount,A-1,150000.5\naccount,A-1,NaN\n",
                                             maxErrorRate=50).json()["id"])
    assert (done["status"], done["rowsDone"], done["rowsFailed"]) == ("succeeded", 1, 1), done
    assert PredictionLog.objects.get(pk=body["metadata"]["predictionId"]).actual == 150000.5
    # JSON Lines: values keep their JSON types; a number-as-text is not a number there.
    lines = [{"objectType": "lead", "objectId": "L-0", "actual": "hot", "modelId": "lead-scoring-v1"},
             {"objectType": "lead", "objectId": "L-1", "actual": "warm", "modelId": "churn-prediction-v1"},
             {"objectType": "account", "objectId": "A-1", "actual": "150000.5"}]
    data = gzip.compress("\n".join(json.dumps(line) for line in lines).encode())
    done = wait_for_job(api, upload_outcomes(api, data, name="outcomes.jsonl.gz", maxErrorRate=100).json()["id"])
    assert (done["rowsDone"], done["rowsFailed"]) == (1, 2), done
    codes = [e["code"] for e in api.get(done["errorsUrl"]).json()["results"]]
    assert codes == ["no_prediction_for_object", "invalid_actual"]
    assert PredictionLog.objects.get(object_id="L-0").actual == "hot"


def test_it_lists_a_hostile_row_as_an_error_and_stores_nothing_of_it(api, celery_worker):
    predict_leads(api, 1)
    lines = ['{"objectType": "lead", "objectId": "L-0\\ud800", "actual": "hot"}',
             '{"objectType": "lead", "objectId": "L-0", "actual": "hot\\u0000"}',
             '{"objectType": "lead", "objectId": "L-0", "actual": 1e999}',
             '{"objectType": ["lead"], "objectId": "L-0", "actual": "hot"}',
             '{"objectType": "lead", "objectId": "' + "x" * 201 + '", "actual": "hot"}',
             "not json"]
    done = wait_for_job(api, upload_outcomes(api, "\n".join(lines).encode(), name="o.jsonl", maxErrorRate=100).json()["id"])
    assert (done["status"], done["rowsDone"], done["rowsFailed"]) == ("succeeded", 0, 6), done
    assert not PredictionLog.objects.exclude(actual=None).exists()


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"", 400, "empty_file"),
    (b"objectType,objectId\nlead,L-1\n", 400, "missing_column"),
    (b"objectType,objectId,actual\n", 400, "empty_file"),
    (b"\x1f\x8b\x08\x00garbage", 400, "unreadable_file"),
])
def test_it_refuses_a_bad_outcomes_file_before_anything_is_queued(api, data, status, code):
    response = upload_outcomes(api, data)
    assert response.status_code == status and response.json()["error"]["code"] == code, response.content
    assert not Job.objects.filter(kind=JobKind.OUTCOMES).exists()


def test_it_refuses_a_file_over_the_limit_with_413(api, settings):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_MAX_BYTES": 10}
    response = upload_outcomes(api, b"objectType,objectId,actual\nlead,L-1,hot\n")
    assert response.status_code == 413 and not Job.objects.exists()


def test_an_erased_object_leaves_no_trace_in_an_outcomes_job(builtin_models_restored, api, staff_api):
    secret = "L-ERASE-0c7d"
    predict_leads(api, 1)
    api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v1", "features": LEAD,
                                      "context": {"objectType": "lead", "objectId": secret}}, format="json")
    data = f"objectType,objectId,actual\nlead,{secret},hot\nlead,{secret},lukewarm\nlead,L-0,hot\n".encode()
    done = services.outcome_job_create(upload=io.BytesIO(data), file_name="o.csv", size=len(data), created_by="t",
                                       max_error_rate=100)
    pending = services.outcome_job_create(upload=io.BytesIO(data), file_name="o.csv", size=len(data), created_by="t",
                                          max_error_rate=100)
    for chunk in JobChunk.objects.filter(job=done):
        services.chunk_score(chunk_id=chunk.pk)
    done.refresh_from_db()
    assert (done.rows_done, done.rows_failed) == (2, 1)
    assert {"jobs_jobchunk.output", "jobs_jobrowerror.object_id", "jobs_jobchunk.input"} <= set(traces_of(secret))
    assert staff_api.delete(f"/api/v1/objects/lead/{secret}/").status_code == 200
    assert traces_of(secret) == []
    for chunk in JobChunk.objects.filter(job=pending):
        services.chunk_score(chunk_id=chunk.pk)
    pending.refresh_from_db()
    assert (pending.rows_done, pending.rows_failed) == (1, 2)  # the blanked rows fail, naming nothing
    assert traces_of(secret) == []
