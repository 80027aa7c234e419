from __future__ import annotations

import time

import numpy as np
import pytest

from ml.builtin import synthetic
from ml.builtin.forecast import HORIZONS, HorizonModel, Regressors, samples_from_series
from tests.ml.support import clean

FORECAST = "revenue-forecast-v1"
ROW = {
    "historical_revenue": [100_000, 110_000, 105_000, 130_000, 108_000, 118_000, 113_000, 140_000],
    "pipeline_value": 350_000, "seasonality": 1, "growth_rate": 0.08,
}


@pytest.fixture(scope="module")
def forecaster(trained):
    return trained[FORECAST].predictor


def periods(forecaster, features: dict) -> list[dict]:
    return forecaster.predict_batch([clean(FORECAST, features)])[0].value["forecast"]


def test_it_forecasts_four_labelled_quarters_inside_their_intervals(forecaster):
    forecast = periods(forecaster, ROW)
    assert len(forecast) == HORIZONS
    assert [p["period"] for p in forecast] == [1, 2, 3, 4]
    assert [p["quarter"] for p in forecast] == ["Q1", "Q2", "Q3", "Q4"]
    assert all(0 < p["lower"] < p["value"] < p["upper"] for p in forecast)


def test_it_widens_the_interval_with_the_horizon(forecaster):
    rows = [clean(FORECAST, row) for row, _ in samples_from_series(synthetic.revenue_series(50, seed=5), cuts=2, seed=3)]
    for answer in forecaster.predict_batch([clean(FORECAST, ROW), *rows]):
        ratios = [p["upper"] / p["lower"] for p in answer.value["forecast"]]
        assert ratios == sorted(ratios)


def test_it_follows_the_pipeline_and_the_season(forecaster):
    low, high = (periods(forecaster, {**ROW, "pipeline_value": v})[0]["value"] for v in (250_000, 450_000))
    assert high > low
    q4 = periods(forecaster, {**ROW, "historical_revenue": ROW["historical_revenue"][:-1], "seasonality": 4})
    q1 = periods(forecaster, ROW)  # the same history a quarter later
    assert q4[0]["value"] > q1[0]["value"]  # the year-end quarter is the strong one


def test_it_gives_the_interval_of_statsmodels_own_prediction():
    samples = samples_from_series(synthetic.revenue_series(200, seed=4), cuts=3, seed=4)
    regressors = [Regressors.of(row) for row, _ in samples]
    matrix = np.array([r.at(1) for r in regressors])
    target = np.array([np.log(actual[0]) - r.last for r, (_, actual) in zip(regressors, samples, strict=True)])
    model, result = HorizonModel.fit(matrix, target)
    mean, half = model.predict(matrix[:20])
    frame = result.get_prediction(matrix[:20]).summary_frame(alpha=0.10)
    np.testing.assert_allclose(mean, frame["mean"], atol=1e-9)
    np.testing.assert_allclose(mean - half, frame["obs_ci_lower"], atol=1e-9)
    np.testing.assert_allclose(mean + half, frame["obs_ci_upper"], atol=1e-9)


def test_it_derives_confidence_from_the_interval_width(forecaster):
    calm = forecaster.predict_batch([clean(FORECAST, ROW)])[0]
    forecast = calm.value["forecast"]
    half_widths = [(p["upper"] - p["lower"]) / 2 / p["value"] for p in forecast]
    assert calm.confidence == pytest.approx(100 * (1 - np.mean(half_widths)), abs=0.05)


def test_it_handles_short_zero_and_extreme_histories(forecaster):
    short = periods(forecaster, {**ROW, "historical_revenue": [10, 12, 11, 14]})
    assert all(p["value"] > 0 for p in short)
    zero = forecaster.predict_batch([clean(FORECAST, {**ROW, "historical_revenue": [0, 0, 0, 0]})])[0]
    assert zero.confidence == 0 and all(p["value"] == 0 for p in zero.value["forecast"])
    wild = periods(forecaster, {**ROW, "pipeline_value": 1e12, "growth_rate": 5, "historical_revenue": [1e6] * 120})
    assert all(np.isfinite(p["upper"]) and p["value"] < 3e6 for p in wild)


def test_it_predicts_a_batch_as_it_predicts_each_row_and_in_milliseconds(forecaster):
    rows = [clean(FORECAST, row) for row, _ in samples_from_series(synthetic.revenue_series(100, seed=6), cuts=1, seed=6)]
    started = time.perf_counter()
    batch = forecaster.predict_batch(rows)
    assert (time.perf_counter() - started) / len(rows) < 0.02
    assert batch == [forecaster.predict_batch([row])[0] for row in rows]


def test_it_beats_the_seasonal_naive_forecast_on_held_out_series(trained):
    metrics = trained[FORECAST].metrics
    assert metrics["mape"] < metrics["seasonalNaiveMape"]
    assert 0.8 <= metrics["intervalCoverage"] <= 0.97
    assert metrics["heldOutRows"] == 400
