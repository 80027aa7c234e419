from __future__ import annotations

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from tests.jobs.conftest import lead_csv

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_scores_a_file_from_the_shell_with_a_progress_bar(tmp_path, celery_worker):
    source, out, err = tmp_path / "leads.csv", tmp_path / "scored.csv", io.StringIO()
    source.write_bytes(lead_csv(120))
    summary = io.StringIO()
    call_command("score_file", str(source), "--model", "lead-scoring-v1", "--id-column", "lead_id",
                 "--output", str(out), stdout=summary, stderr=err)
    rows = list(csv.DictReader(out.open()))
    assert [r["lead_id"] for r in rows] == [f"L-{i}" for i in range(120)]
    assert "120 rows scored, 0 failed" in summary.getvalue()


def test_it_names_a_missing_feature_before_queueing(tmp_path, builtin_models_restored):
    source = tmp_path / "leads.csv"
    source.write_text("lead_id,company_size\nL-1,5\n")
    with pytest.raises(CommandError, match=r"missing_feature.*industry"):
        call_command("score_file", str(source), "--model", "lead-scoring-v1", "--output", str(tmp_path / "o.csv"))
