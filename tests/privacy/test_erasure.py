"""DELETE /api/v1/objects/{type}/{id}/ and `manage.py erase_objects`: every row that names
the object goes, from every registered place, in one transaction; the audit trail keeps who,
when and the counts, never the id."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from core.objects import object_erasers
from jobs import services as jobs
from jobs.models import Job, JobChunk, JobRowError
from predictions.models import PredictionLog
from privacy.models import Erasure
from tests.privacy.conftest import traces_of

pytestmark = pytest.mark.django_db
SECRET = "L-ERASE-5c1e"  # an id no other value holds, so the scan finds only what names it
HEADER = "lead_id,company_size,industry,engagement_score,job_title,budget"


def predict(api, object_id: str, object_type: str | None = "lead") -> None:
    context = {"objectId": object_id} | ({"objectType": object_type} if object_type else {})
    response = api.post("/api/v1/predictions/", {
        "modelId": "lead-scoring-v1", "context": context,
        "features": {"company_size": 50, "industry": "Finance", "engagement_score": 70,
                     "job_title": "VP of Sales", "budget": 90000},
    }, format="json")
    assert response.status_code == 200, response.content


def job(lines: list[str], *, score: bool = True, object_type: str = "lead") -> Job:
    data = ("\n".join([HEADER, *lines]) + "\n").encode()
    created = jobs.job_create(model_id="lead-scoring-v1", upload=io.BytesIO(data), file_name="leads.csv",
                              size=len(data), created_by="test", id_column="lead_id", object_type=object_type)
    if score:
        for chunk in JobChunk.objects.filter(job=created):
            jobs.chunk_score(chunk_id=chunk.pk)
    return created


def store_everything_about(api, object_id: str) -> Job:
    """The object in every place the service keeps an id: single predictions (typed and not),
    a batch row's context, an outcome, a scored job's results, log rows and a row error, an
    outcomes file's results, a job not scored yet."""
    predict(api, object_id)
    predict(api, object_id, object_type=None)
    features = {"company_size": 5, "industry": "Retail", "engagement_score": 5, "job_title": "Analyst", "budget": 10}
    assert api.post("/api/v1/predictions/batch/", {
        "modelId": "lead-scoring-v1", "features": [features, features],
        "contexts": [{"objectId": object_id, "objectType": "lead"}, {"objectId": "L-OTHER", "objectType": "lead"}],
    }, format="json").status_code == 200
    logged = PredictionLog.objects.filter(object_id=object_id).first()
    assert api.post(f"/api/v1/predictions/{logged.pk}/feedback/", {"actual": "hot"}, format="json").status_code == 201
    job([f"{object_id},10,Technology,40,CEO,5000", f"{object_id},10,Technology,not-a-number,CEO,5000",
         "L-OTHER,20,Retail,10,Analyst,100"])
    outcomes = f"objectType,objectId,actual\nlead,{object_id},hot\nlead,L-OTHER,cold\n".encode()
    created = jobs.outcome_job_create(upload=io.BytesIO(outcomes), file_name="outcomes.csv", size=len(outcomes),
                                      created_by="test")
    for chunk in JobChunk.objects.filter(job=created):
        jobs.chunk_score(chunk_id=chunk.pk)
    return job([f"{object_id},30,Finance,90,CEO,7000", "L-OTHER,20,Retail,10,Analyst,100"], score=False)


def test_it_erases_every_trace_of_an_object_and_answers_the_counts(api, staff_api):
    pending = store_everything_about(api, SECRET)
    predict(api, "L-KEEP")
    assert len(traces_of(SECRET)) >= 4  # log, results file, row error, pending input

    response = staff_api.delete(f"/api/v1/objects/lead/{SECRET}/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["objectType"] == "lead" and SECRET not in response.content.decode()
    assert body["erased"] == {"predictions.PredictionLog": 4, "jobs.JobRowError": 1,
                              "jobs.JobChunk.output": 2, "jobs.JobChunk.input": 1}
    assert body["total"] == 8
    assert traces_of(SECRET) == []
    assert PredictionLog.objects.filter(object_id="L-KEEP").count() == 1
    assert PredictionLog.objects.filter(object_id="L-OTHER").count() == 2  # the batch's and the job's other rows
    # The pending job still scores its other row; the erased one is a failed row naming nothing.
    for chunk in JobChunk.objects.filter(job=pending):
        jobs.chunk_score(chunk_id=chunk.pk)
    pending.refresh_from_db()
    assert (pending.rows_done, pending.rows_failed) == (1, 1)
    assert traces_of(SECRET) == []


def test_it_audits_who_when_and_how_many_but_not_the_id(api, staff_api):
    predict(api, SECRET)
    before = timezone.now()
    staff_api.delete(f"/api/v1/objects/lead/{SECRET}/")
    entry = Erasure.objects.get()
    assert (entry.actor, entry.source, entry.object_type, entry.total) == ("token:staff", "api", "lead", 1)
    assert entry.counts["predictions.PredictionLog"] == 1 and entry.erased_at >= before
    assert traces_of(SECRET) == []  # the audit table is scanned too


def test_it_keeps_the_same_id_of_another_object_type(api, staff_api):
    predict(api, "A-77", object_type="account")
    predict(api, "A-77", object_type="lead")
    assert staff_api.delete("/api/v1/objects/lead/A-77/").json()["total"] == 1
    assert list(PredictionLog.objects.values_list("object_type", "object_id")) == [("account", "A-77")]


def test_it_answers_zero_counts_for_an_object_nothing_names_and_audits_it(staff_api):
    response = staff_api.delete("/api/v1/objects/lead/never-seen/")
    assert response.status_code == 200
    assert response.json()["total"] == 0 and set(response.json()["erased"]) == set(object_erasers())
    assert Erasure.objects.get().total == 0


def test_it_takes_an_id_holding_a_slash_or_unicode(api, staff_api):
    for object_id in ("L/1001", "Zoë-1"):
        predict(api, object_id)
    assert staff_api.delete("/api/v1/objects/lead/L%2F1001/").json()["total"] == 1
    assert staff_api.delete("/api/v1/objects/lead/Zo%C3%AB-1/").json()["total"] == 1
    assert not PredictionLog.objects.exists()


@pytest.mark.parametrize("path, code", [
    ("/api/v1/objects/lead/L%001/", "invalid_object_id"),
    ("/api/v1/objects/lead/" + "x" * 201 + "/", "invalid_object_id"),
    ("/api/v1/objects/le%00ad/L-1/", "invalid_object_type"),
    ("/api/v1/objects/" + "t" * 101 + "/L-1/", "invalid_object_type"),
])
def test_it_refuses_ids_that_cannot_have_been_stored(staff_api, path, code):
    response = staff_api.delete(path)
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert not Erasure.objects.exists()


def test_it_refuses_a_lone_surrogate():
    from hotcrm_ai.errors import InvalidInput
    from privacy.services import objects_check

    with pytest.raises(InvalidInput):
        objects_check("lead", ["L-\ud800"])


def test_it_is_for_staff_only(api, django_user_model):
    predict(api, SECRET)
    assert api.delete(f"/api/v1/objects/lead/{SECRET}/").status_code == 403  # a service token
    assert APIClient().delete(f"/api/v1/objects/lead/{SECRET}/").status_code == 401
    user = django_user_model.objects.create_user("officer", password="a-long-password-1", is_staff=True)
    session = APIClient()
    session.force_login(user)
    assert session.delete(f"/api/v1/objects/lead/{SECRET}/").status_code == 403  # staff, no permission
    assert PredictionLog.objects.filter(object_id=SECRET).exists()
    user.user_permissions.add(Permission.objects.get(codename="erase_object"))
    session.force_login(django_user_model.objects.get(pk=user.pk))
    assert session.delete(f"/api/v1/objects/lead/{SECRET}/").status_code == 200
    assert Erasure.objects.get().actor == "officer"
    assert not PredictionLog.objects.filter(object_id=SECRET).exists()


def test_it_erases_nothing_when_one_place_fails(api, staff_api, monkeypatch):
    from core import objects

    predict(api, SECRET)

    def broken(_objects) -> int:
        raise RuntimeError("a place that cannot be erased")

    monkeypatch.setitem(objects._erasers, "tests.Broken", broken)
    with pytest.raises(RuntimeError):
        staff_api.delete(f"/api/v1/objects/lead/{SECRET}/")
    assert PredictionLog.objects.filter(object_id=SECRET).count() == 1  # rolled back with it
    assert not Erasure.objects.exists()


def test_it_erases_a_list_of_ids_from_the_command_line_and_a_file(api, tmp_path: Path):
    for object_id in ("L-1", "L-2", "L-3", "L-4"):
        predict(api, object_id)
    ids = tmp_path / "ids.txt"
    ids.write_text("L-2\n\n  L-3  \nL-never\n")
    out = io.StringIO()
    call_command("erase_objects", "L-1", "--type", "lead", "--ids-file", str(ids), "--as", "dpo", stdout=out)
    assert "4 lead object(s) erased: 3 row(s)" in out.getvalue()
    assert list(PredictionLog.objects.values_list("object_id", flat=True)) == ["L-4"]
    entry = Erasure.objects.get()
    assert (entry.actor, entry.source, entry.objects_requested, entry.total) == ("cli:dpo", "command", 4, 3)
    for object_id in ("L-1", "L-2", "L-3"):
        assert traces_of(object_id) == []


def test_the_command_checks_every_id_before_erasing_any(api, tmp_path: Path):
    predict(api, "L-1")
    ids = tmp_path / "ids.txt"
    ids.write_text("L-1\nL-\x002\n")
    with pytest.raises(CommandError, match="invalid_object_id"):
        call_command("erase_objects", "--type", "lead", "--ids-file", str(ids))
    assert PredictionLog.objects.filter(object_id="L-1").exists()
    with pytest.raises(CommandError, match="at least one id"):
        call_command("erase_objects", "--type", "lead")


def test_every_table_holding_object_ids_is_registered():
    """A new table of ours with an object id column must register with core/objects.py
    (Django's admin log has an `object_id` too: the id of an admin-edited row, not a CRM's)."""
    registered = {label.rsplit(".", 1)[0] if label.count(".") > 1 else label for label in object_erasers()}
    from django.apps import apps

    ours = [m for m in apps.get_models() if not m.__module__.startswith("django.")]
    holding = {m._meta.label for m in ours if any(f.name == "object_id" for f in m._meta.fields)}
    assert holding <= registered, holding - registered
    assert JobRowError._meta.label in registered and PredictionLog._meta.label in registered
