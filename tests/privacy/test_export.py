"""`manage.py export_predictions`: the rows of a window, one JSON line each, that give back
exactly the rows they came from."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict

from predictions.models import PredictionLog
from privacy.archive import archive_restore
from tests.privacy.conftest import log_row

pytestmark = pytest.mark.django_db
DAY = datetime(2026, 3, 1, tzinfo=UTC)


def read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_it_exports_the_window_and_the_lines_round_trip(tmp_path: Path):
    inside = [
        log_row(created_at=DAY, object_id="L-1"),
        log_row(created_at=DAY + timedelta(hours=5, microseconds=123456), object_id="Zoë/1", actual={"won": True},
                user_id="u-7", ab_arm="challenger", cached=True, shadow=True),
        log_row(created_at=DAY + timedelta(days=1, seconds=-1), object_id="L-3", actual=0.1 + 0.2),
    ]
    log_row(created_at=DAY - timedelta(microseconds=1), object_id="before")
    log_row(created_at=DAY + timedelta(days=1), object_id="after")  # --until is exclusive
    PredictionLog.objects.filter(pk=inside[0].pk).update(features={"text": "naïve \"quoted\"\nline", "n": 1e-7},
                                                         confidence=None)
    output = tmp_path / "archive.jsonl.gz"

    call_command("export_predictions", "--since", "2026-03-01", "--until", "2026-03-02", "--output", str(output))

    lines = read(output)
    assert [line["objectId"] for line in lines] == ["L-1", "Zoë/1", "L-3"]
    stored = {row.pk: model_to_dict(row) for row in PredictionLog.objects.filter(pk__in=[r.pk for r in inside])}
    for line in lines:
        restored = archive_restore(line)
        assert model_to_dict(restored) == stored[restored.pk]
        assert restored.created_at == PredictionLog.objects.get(pk=restored.pk).created_at
    # Back into an emptied table, the rows are the same again.
    PredictionLog.objects.all().delete()
    PredictionLog.objects.bulk_create([archive_restore(line) for line in lines])
    assert {row.pk: model_to_dict(row) for row in PredictionLog.objects.all()} == stored


def test_it_takes_date_times_and_refuses_bad_windows(tmp_path: Path):
    log_row(created_at=DAY + timedelta(hours=12), object_id="noon")
    output = tmp_path / "a.jsonl.gz"
    call_command("export_predictions", "--since", "2026-03-01T11:00:00+00:00", "--until", "2026-03-01T13:00",
                 "--output", str(output))
    assert [line["objectId"] for line in read(output)] == ["noon"]
    with pytest.raises(CommandError, match="before"):
        call_command("export_predictions", "--since", "2026-03-02", "--until", "2026-03-01", "--output", str(output))
    with pytest.raises(CommandError, match="not a date"):
        call_command("export_predictions", "--since", "yesterday", "--output", str(output))
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("export_predictions", "--output", str(tmp_path / "missing" / "a.jsonl.gz"))
