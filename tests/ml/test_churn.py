from __future__ import annotations

import numpy as np
import pytest

from ml.builtin import synthetic
from ml.builtin.churn import CHURN_FEATURES, encode_churn
from tests.ml.support import HAPPY_ACCOUNT, clean

CHURN = "churn-prediction-v1"


@pytest.fixture(scope="module")
def churn(trained):
    return trained[CHURN].predictor


def probability(predictor, features: dict) -> float:
    return predictor.predict_batch([clean(CHURN, features)])[0].value["probability"]


@pytest.mark.parametrize(
    "change",
    [
        {"support_tickets": 12},
        {"payment_delays": 4},
        {"usage_frequency": 2},
        {"nps_score": -50},
        {"support_tickets": 12, "payment_delays": 4},
    ],
)
def test_it_raises_churn_risk_with_each_warning_sign(churn, change):
    assert probability(churn, {**HAPPY_ACCOUNT, **change}) > probability(churn, HAPPY_ACCOUNT)


def test_it_rates_a_troubled_account_high_and_a_happy_one_low(churn):
    troubled = {"account_age": 4, "support_tickets": 15, "usage_frequency": 1, "nps_score": -60, "payment_delays": 5}
    happy, unhappy = churn.predict_batch([clean(CHURN, HAPPY_ACCOUNT), clean(CHURN, troubled)])
    assert happy.value["risk"] == "low" and unhappy.value["risk"] == "high"
    assert happy.confidence > 50 and unhappy.confidence > 50


def test_it_answers_with_risk_probability_and_confidence(churn):
    rows = [clean(CHURN, row) for row in synthetic.churn(300, seed=8).rows]
    p = churn.output(churn.encode(rows))
    for answer, expected in zip(churn.predict_batch(rows), p, strict=True):
        value = answer.value["probability"]
        assert value == round(expected, 4) and 0 <= value <= 1
        assert answer.value["risk"] == ("low" if value < 0.3 else "medium" if value < 0.6 else "high")
        assert answer.confidence == round(100 * max(expected, 1 - expected), 2)


def test_it_computes_in_numpy_exactly_as_scikit_learn(churn):
    matrix = encode_churn(synthetic.churn(1_000, seed=9).rows)
    expected = churn.model.pipeline.predict_proba(matrix)[:, 1]
    np.testing.assert_allclose(churn.output(matrix), expected, rtol=0, atol=1e-9)


def test_it_predicts_a_batch_as_it_predicts_each_row(churn):
    rows = [clean(CHURN, row) for row in synthetic.churn(300, seed=10).rows]
    assert churn.predict_batch(rows) == [churn.predict_batch([row])[0] for row in rows]


def test_it_describes_its_input_space(churn):
    space = churn.space()
    assert space.feature_names == list(CHURN_FEATURES)
    assert space.columns == {name: [i] for i, name in enumerate(CHURN_FEATURES)}
    assert space.background.shape == (100, 5)
    assert space.output_name == "churn probability"
    assert all(len(v) == 1_000 for v in space.extra["reference"].values())
