from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.builtin import synthetic
from ml.builtin.leads import LEAD_COLUMNS, encode_leads, seniority
from tests.ml.support import COLD_LEAD, HOT_LEAD, clean

LEAD_MODELS = ["lead-scoring-v1", "lead-scoring-v2"]


def test_it_reads_every_synthetic_title_at_the_level_a_person_gives_it():
    assert {title: seniority(title) for title, _, _ in synthetic.JOB_TITLES} == {
        title: level for title, level, _ in synthetic.JOB_TITLES
    }


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("Sales Intern", "Marketing Specialist"),
        ("Marketing Specialist", "Marketing Manager"),
        ("Assistant Manager", "Marketing Manager"),
        ("Marketing Manager", "Senior Manager"),
        ("Senior Engineer", "Director of IT"),
        ("Head of Procurement", "VP of Sales"),
        ("Vice President, Marketing", "Chief Technology Officer"),
        ("Executive Assistant", "Account Executive"),
        ("Assistant to the CEO", "CEO"),
        ("Product Owner", "Owner"),
        ("Lead Generation Specialist", "Team Lead"),
    ],
)
def test_it_orders_titles_by_seniority(lower, higher):
    assert seniority(lower) < seniority(higher)


def test_it_reads_titles_whatever_their_spelling():
    assert seniority("vp sales") == seniority("VP of Sales") == seniority("Vice-President, Sales")
    assert seniority("Sr. Dir. of Ops") == seniority("Senior Director of Operations")
    assert seniority("") == seniority("Astronaut") == 1.0  # no keyword: an individual contributor


@pytest.mark.parametrize("model_id", LEAD_MODELS)
def test_it_scores_an_engaged_senior_lead_with_budget_above_a_cold_one(trained, model_id):
    predictor = trained[model_id].predictor
    hot, cold = predictor.predict_batch([clean(model_id, HOT_LEAD), clean(model_id, COLD_LEAD)])
    assert hot.value["score"] > cold.value["score"] + 30
    assert hot.value["class"] == "hot" and cold.value["class"] == "cold"


@pytest.mark.parametrize("model_id", LEAD_MODELS)
@pytest.mark.parametrize(
    ("feature", "low", "high"),
    [("engagement_score", 20, 80), ("job_title", "Sales Representative", "Director of IT"), ("budget", 0, 100_000)],
)
def test_it_raises_the_score_with_each_good_signal(trained, model_id, feature, low, high):
    base = {"company_size": 300, "industry": "Finance", "engagement_score": 50,
            "job_title": "Marketing Manager", "budget": 20_000}
    predictor = trained[model_id].predictor
    worse, better = predictor.predict_batch([clean(model_id, {**base, feature: low}), clean(model_id, {**base, feature: high})])
    assert better.value["score"] > worse.value["score"]


@pytest.mark.parametrize("model_id", LEAD_MODELS)
def test_it_answers_with_a_score_a_class_and_the_models_own_confidence(trained, model_id):
    predictor = trained[model_id].predictor
    rows = [clean(model_id, row) for row in synthetic.leads(200, seed=5).rows]
    probability = predictor.output(predictor.encode(rows)) / 100
    for answer, p in zip(predictor.predict_batch(rows), probability, strict=True):
        score = answer.value["score"]
        assert 0 <= score <= 100 and score == round(100 * p, 2)
        assert answer.value["class"] == ("hot" if score >= 70 else "warm" if score >= 40 else "cold")
        assert answer.confidence == round(100 * max(p, 1 - p), 2)
    assert len({a.confidence for a in predictor.predict_batch(rows)}) > 50


def test_it_computes_v1_in_numpy_exactly_as_scikit_learn(trained):
    predictor = trained["lead-scoring-v1"].predictor
    matrix = encode_leads(synthetic.leads(1_000, seed=9).rows)
    expected = predictor.model.pipeline.predict_proba(matrix)[:, 1]
    np.testing.assert_allclose(predictor.output(matrix) / 100, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(predictor.output(matrix[:1]) / 100, expected[:1], rtol=0, atol=1e-9)


def test_it_computes_v2_in_numpy_exactly_as_scikit_learn(trained):
    predictor = trained["lead-scoring-v2"].predictor
    matrix = encode_leads(synthetic.leads(1_000, seed=9).rows)
    expected = predictor.model.model.predict_proba(matrix)[:, 1]
    for chunk in (slice(0, 1), slice(0, 100), slice(None)):  # numpy walk and big-batch path
        np.testing.assert_allclose(predictor.output(matrix[chunk]) / 100, expected[chunk], rtol=0, atol=1e-9)


@pytest.mark.parametrize("model_id", LEAD_MODELS)
def test_it_predicts_a_batch_as_it_predicts_each_row(trained, model_id):
    predictor = trained[model_id].predictor
    rows = [clean(model_id, row) for row in synthetic.leads(300, seed=11).rows]
    assert predictor.predict_batch(rows) == [predictor.predict_batch([row])[0] for row in rows]


def test_it_encodes_one_row_as_it_encodes_a_batch():
    rows = synthetic.leads(50, seed=3).rows
    batch = encode_leads(rows)
    assert np.array_equal(np.vstack([encode_leads([row]) for row in rows]), batch)
    assert encode_leads([]).shape == (0, len(LEAD_COLUMNS))


@pytest.mark.parametrize("model_id", LEAD_MODELS)
def test_it_describes_its_input_space_for_explanations_and_drift(trained, model_id):
    space = trained[model_id].predictor.space()
    assert space.feature_names == ["company_size", "industry", "engagement_score", "job_title", "budget"]
    owned = sorted(c for columns in space.columns.values() for c in columns)
    assert owned == list(range(len(LEAD_COLUMNS)))  # every column belongs to exactly one feature
    assert len(space.columns["industry"]) == len(synthetic.INDUSTRIES)
    assert space.background.shape == (100, len(LEAD_COLUMNS))
    assert space.output_name == "lead score (probability of conversion × 100)"  # noqa: RUF001
    reference = space.extra["reference"]
    assert set(reference) == set(space.feature_names)
    assert all(len(values) == 1_000 for values in reference.values())
    assert all(isinstance(t, str) for t in reference["job_title"] + reference["industry"])


def test_it_reads_an_unknown_industry_as_other(trained):
    predictor = trained["lead-scoring-v1"].predictor
    aerospace = clean("lead-scoring-v1", {**HOT_LEAD, "industry": "Aerospace"})
    other = clean("lead-scoring-v1", {**HOT_LEAD, "industry": "Other"})
    assert aerospace == other
    assert predictor.predict_batch([aerospace]) == predictor.predict_batch([other])


lead_rows = st.fixed_dictionaries({
    "company_size": st.integers(1, 10_000_000),
    "industry": st.sampled_from(synthetic.INDUSTRIES),
    "engagement_score": st.floats(0, 90),
    "job_title": st.sampled_from([t for t, _, _ in synthetic.JOB_TITLES]),
    "budget": st.floats(0, 1e10),
})


@settings(max_examples=60, deadline=None)
@given(row=lead_rows, more=st.floats(0.5, 10))
def test_it_never_lowers_a_score_for_more_engagement(trained, row, more):
    for model_id in LEAD_MODELS:
        predictor = trained[model_id].predictor
        base, engaged = predictor.output(
            predictor.encode([clean(model_id, row), clean(model_id, {**row, "engagement_score": row["engagement_score"] + more})])
        )
        assert engaged >= base


def test_it_scores_one_lead_in_microseconds(trained):
    predictor = trained["lead-scoring-v1"].predictor
    row = clean("lead-scoring-v1", HOT_LEAD)
    predictor.predict_batch([row])
    timings = []
    for _ in range(300):
        started = time.perf_counter()
        predictor.predict_batch([row])
        timings.append(time.perf_counter() - started)
    assert float(np.median(timings)) < 1e-3  # measured ~50 µs; generous for slow CI machines
