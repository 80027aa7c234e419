from __future__ import annotations

import csv

import pytest
from django.core.management import CommandError, call_command

from ml.builtin import synthetic
from registry.models import MLModel, ModelArtifact

pytestmark = pytest.mark.django_db

LEAD = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
        "job_title": "VP of Sales", "budget": 120000}


def _write_leads_csv(path, n=600):
    data = synthetic.leads(n=n, seed=123)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*data.rows[0], "converted", "crm_owner"])
        writer.writeheader()
        for row, label in zip(data.rows, data.labels, strict=True):
            writer.writerow({**row, "converted": int(label), "crm_owner": "ana"})


def test_it_registers_a_csv_retrained_model_as_a_new_version_in_testing(tmp_path, capsys, staff_api):
    path = tmp_path / "leads.csv"
    _write_leads_csv(path)
    call_command("train_builtin_models", "--csv", str(path), "--model", "lead-scoring-v1")
    new = MLModel.objects.get(pk="lead-scoring-v1-csv1")
    base = MLModel.objects.get(pk="lead-scoring-v1")
    assert new.status == "testing" and new.version != base.version
    assert new.metrics["heldOutRows"] == 120 and 0.5 < new.metrics["rocAuc"] <= 1
    assert ModelArtifact.objects.filter(model=new, version=new.version).count() == 1
    # Once activated it answers through the local provider like any built-in model.
    staff_api.patch("/api/v1/models/lead-scoring-v1-csv1/", {"status": "active"}, format="json")
    response = staff_api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v1-csv1", "features": LEAD},
                              format="json")
    assert response.status_code == 200, response.content
    assert response.json()["modelVersion"] == new.version


def test_it_refuses_a_csv_with_a_missing_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("company_size,industry\n10,Retail\n")
    with pytest.raises(CommandError, match="missing the column"):
        call_command("train_builtin_models", "--csv", str(path), "--model", "lead-scoring-v1")
    assert not MLModel.objects.filter(pk__startswith="lead-scoring-v1-csv").exists()


def test_it_needs_csv_and_model_together():
    with pytest.raises(CommandError, match="together"):
        call_command("train_builtin_models", "--csv", "x.csv")


def test_it_skips_registered_models_with_if_missing(capsys):
    call_command("train_builtin_models", "--if-missing")
    assert "all were registered already" in capsys.readouterr().out
