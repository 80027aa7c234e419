"""A bulk job for a model registered without a featureSchema: every column but the id
column goes to the model as it is (CSV cells as strings, JSON Lines values as they are),
and what no request may hold is a row error."""

from __future__ import annotations

import json

import pytest

from predictions.models import PredictionLog
from tests.jobs.conftest import upload, wait_for_job
from tests.predictions.providers.conftest import register
from tests.predictions.providers.servers import LocalServer, Reply

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bare():
    def echo(request):
        rows = request.json()["instances"]
        return Reply(200, {"predictions": [{"keys": sorted(r)} for r in rows]})

    server = LocalServer(echo)
    register("bare-jobs", "custom", endpoint=f"{server.url}/v1/models/bare:predict", schema={})
    yield server
    server.close()


def sent_rows(server):
    return [row for request in server.requests for row in json.loads(request.body)["instances"]]


def test_it_sends_every_csv_column_but_the_id_as_text(api, celery_worker, bare):
    data = b"lead_id,seats,region,notes\nL-1,40,EMEA,\"gold, renewal\"\nL-2,7,,\n"
    response = upload(api, data, modelId="bare-jobs", idColumn="lead_id", objectType="lead")
    assert response.status_code == 202, response.content
    done = wait_for_job(api, response.json()["id"])
    assert done["status"] == "succeeded" and done["rowsDone"] == 2, done
    assert sent_rows(bare) == [{"seats": "40", "region": "EMEA", "notes": "gold, renewal"},
                               {"seats": "7", "region": "", "notes": ""}]
    assert set(PredictionLog.objects.values_list("object_id", flat=True)) == {"L-1", "L-2"}


def test_it_sends_json_lines_as_they_are_and_refuses_a_row_no_request_may_hold(api, celery_worker, bare):
    lines = [{"id": "A-1", "account": {"tier": "gold", "regions": ["EMEA"]}, "arr": 125000.0},
             {"id": "A-2", "notes": "NUL \u0000 inside"},
             {"id": "A-3", "flags": [True, None]}]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    response = upload(api, data, name="accounts.jsonl", modelId="bare-jobs", idColumn="id", maxErrorRate=50)
    assert response.status_code == 202, response.content
    done = wait_for_job(api, response.json()["id"])
    assert (done["status"], done["rowsDone"], done["rowsFailed"]) == ("succeeded", 2, 1), done
    assert sent_rows(bare) == [{"account": {"tier": "gold", "regions": ["EMEA"]}, "arr": 125000.0},
                               {"flags": [True, None]}]
    [error] = api.get(done["errorsUrl"]).json()["results"]
    assert (error["row"], error["id"], error["code"]) == (2, "A-2", "invalid_text")
