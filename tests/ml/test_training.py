from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ml.builtin import synthetic
from ml.builtin.training import CATALOG, train_builtin, train_from_csv
from ml.schema import check_schema, parse_schema
from tests.ml.support import COLD_LEAD, EXAMPLES, HOT_LEAD, clean

CLASSIFIER_METRICS = {"accuracy", "precision", "recall", "f1", "rocAuc", "heldOutRows"}
EXPECTED_METRICS = {
    "lead-scoring-v1": CLASSIFIER_METRICS,
    "lead-scoring-v2": CLASSIFIER_METRICS,
    "churn-prediction-v1": CLASSIFIER_METRICS,
    "sentiment-analysis-v1": {"accuracy", "macroF1", "labelledRows"},
    "revenue-forecast-v1": {"mae", "mape", "intervalCoverage", "seasonalNaiveMape", "heldOutRows"},
    "product-recommendation-v1": {"precisionAt5", "recallAt5", "popularityRecallAt5", "heldOutRows"},
}


def test_it_catalogues_the_six_built_in_models():
    assert list(CATALOG) == list(EXPECTED_METRICS)
    for model_id, spec in CATALOG.items():
        assert spec.id == model_id and spec.name and spec.description
        assert spec.type in {"classification", "nlp", "forecasting", "recommendation"}
        check_schema(spec.feature_schema)
        assert all(feature.label for feature in parse_schema(spec.feature_schema))


@pytest.mark.parametrize("model_id", list(CATALOG))
def test_it_measures_each_model_on_held_out_data(trained, model_id):
    result = trained[model_id]
    assert set(result.metrics) == EXPECTED_METRICS[model_id]
    assert all(value == round(value, 4) for value in result.metrics.values())
    assert result.feature_schema == CATALOG[model_id].feature_schema
    assert result.predictor.model_type == CATALOG[model_id].type
    assert "held-out" in result.description or "hand-labelled" in result.description


def test_it_trains_classifiers_that_beat_chance(trained):
    for model_id in ("lead-scoring-v1", "lead-scoring-v2", "churn-prediction-v1"):
        metrics = trained[model_id].metrics
        assert metrics["accuracy"] > 0.75 and metrics["rocAuc"] > 0.8
        assert metrics["heldOutRows"] == 4_000


def test_it_retrains_to_identical_metrics_and_answers(trained):
    for model_id, examples in EXAMPLES.items():
        again = train_builtin(model_id)
        rows = [clean(model_id, example) for example in examples]
        assert again.metrics == trained[model_id].metrics
        assert again.predictor.predict_batch(rows) == trained[model_id].predictor.predict_batch(rows)


def test_it_reports_progress_to_the_end():
    seen = []
    train_builtin("churn-prediction-v1", progress=lambda step, total, message: seen.append((step, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_it_refuses_an_unknown_model():
    with pytest.raises(ValueError, match="Unknown built-in model"):
        train_builtin("lead-scoring-v9")


# --- CSV retraining ---------------------------------------------------------------------------


def write_csv(path: Path, rows: list[dict], header: list[str] | None = None) -> str:
    header = header or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def lead_csv_rows(n: int = 400, seed: int = 77) -> list[dict]:
    data = synthetic.leads(n, seed=seed)
    words = ["yes", "no", "true", "false", "1", "0"]
    # labels in every accepted spelling, plus a column the model does not use
    return [
        {**row, "converted": words[(i % 3) * 2 + (0 if label else 1)], "lead_id": f"L{i}"}
        for i, (row, label) in enumerate(zip(data.rows, data.labels, strict=True))
    ]


@pytest.mark.parametrize("model_id", ["lead-scoring-v1", "lead-scoring-v2"])
def test_it_retrains_a_lead_model_from_a_csv(tmp_path, model_id):
    result = train_from_csv(model_id, write_csv(tmp_path / "leads.csv", lead_csv_rows()))
    assert result.metrics["heldOutRows"] == 80 and result.training_rows == 320
    assert result.metrics["rocAuc"] > 0.7
    assert "leads.csv" in result.description
    hot, cold = result.predictor.predict_batch([clean(model_id, HOT_LEAD), clean(model_id, COLD_LEAD)])
    assert hot.value["score"] > cold.value["score"]


def test_it_retrains_the_churn_model_from_a_csv(tmp_path):
    data = synthetic.churn(300, seed=78)
    rows = [{**row, "churned": int(label)} for row, label in zip(data.rows, data.labels, strict=True)]
    result = train_from_csv("churn-prediction-v1", write_csv(tmp_path / "accounts.csv", rows))
    assert result.metrics["heldOutRows"] == 60
    assert result.predictor.space().extra["reference"]["nps_score"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: [{k: v for k, v in r.items() if k != "budget"} for r in rows], "missing the column.*budget"),
        (lambda rows: [{k: v for k, v in r.items() if k != "converted"} for r in rows], "missing the column.*converted"),
        (lambda rows: [*rows[:5], {**rows[5], "budget": "lots"}, *rows[6:]], r"Line 7, column 'budget'.*not a number"),
        (lambda rows: [*rows[:9], {**rows[9], "engagement_score": 150}], r"Line 11, column 'engagement_score'.*at most 100"),
        (lambda rows: [*rows[:2], {**rows[2], "company_size": ""}, *rows[3:]], r"Line 4, column 'company_size'.*Missing"),
        (lambda rows: [*rows[:3], {**rows[3], "company_size": "12.5"}], r"Line 5, column 'company_size'.*integer"),
        (lambda rows: [*rows[:3], {**rows[3], "converted": "maybe"}], r"Line 5, column 'converted'.*maybe"),
        (lambda rows: rows[:49], "49 data rows; at least 50"),
        (lambda rows: [{**r, "converted": "no"} for r in rows], "single class"),
        (lambda rows: [{**r, "converted": "yes" if i < 2 else "no"} for i, r in enumerate(rows)], "at least 5 rows of each"),
    ],
)
def test_it_explains_what_is_wrong_with_a_csv(tmp_path, change, message):
    rows = change(lead_csv_rows(100))
    header = list(dict.fromkeys(k for row in rows for k in row))
    with pytest.raises(ValueError, match=message):
        train_from_csv("lead-scoring-v1", write_csv(tmp_path / "bad.csv", rows, header))


def test_it_refuses_csv_retraining_for_other_models(tmp_path):
    for model_id in ("sentiment-analysis-v1", "revenue-forecast-v1", "product-recommendation-v1"):
        with pytest.raises(ValueError, match="lead and churn models only"):
            train_from_csv(model_id, str(tmp_path / "any.csv"))


def test_it_refuses_a_csv_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("company_size,industry,engagement_score,job_title,budget,converted\n1,Caf\xe9,1,x,1,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        train_from_csv("lead-scoring-v1", str(path))
