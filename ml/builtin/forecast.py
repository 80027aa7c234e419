"""Revenue forecasting: one global OLS model per horizon (1-4 quarters ahead) on log revenue.

Why direct per-horizon models rather than one model applied recursively: the pipeline speaks
about the coming quarter and the stated growth about the year, so each horizon weighs them
differently, and each horizon gets the prediction interval of its own fitted model, which
widens with the horizon because the residuals of a further quarter are larger. Why global:
a single CRM account has a dozen quarters, too few to fit seasonality and trend alone; many
series share how revenue moves with its own past, its pipeline and the calendar.

Each model predicts log(revenue[T+k] / revenue[T]) from:
    same-quarter-last-year: log(revenue of the target quarter a year earlier / revenue[T]);
    the recent trend (the last four quarters against the four before, or the last against
    the same quarter a year before, whichever the history allows) with an indicator of it;
    the stated annual growth (per quarter, in log terms), separately when no trend is known;
    log1p(pipeline / revenue[T]);
    one dummy per calendar quarter of the target period (the intercepts, i.e. seasonality).
Intervals are the OLS 90% prediction intervals, s * sqrt(1 + x'(X'X)^-1 x) * t(0.95, df),
computed in numpy from the fitted model's own (X'X)^-1, scale and degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import statsmodels.api as sm
from scipy import stats

from ml.base import Prediction, Predictor
from ml.builtin.synthetic import RevenueSeries

HORIZONS = 4
QUARTERS = 4
INTERVAL = 0.90
FEATURES = (
    "same_quarter_last_year", "trend", "has_trend", "stated_growth", "stated_growth_only",
    "log1p_pipeline_ratio", "q1", "q2", "q3", "q4",
)

FLOOR_SHARE = 0.01  # a zero quarter reads as 1% of the history's mean, so logs stay finite
MIN_GROWTH = -0.95


def horizon_features(horizon: int) -> tuple[str, ...]:
    return FEATURES if horizon < HORIZONS else FEATURES[1:]


@dataclass
class HorizonModel:
    params: np.ndarray
    inverse_gram: np.ndarray  # (X'X)^-1, statsmodels' normalized_cov_params
    scale: float  # residual variance
    t_value: float  # t quantile for the two-sided 90% interval
    low: np.ndarray  # each regressor's training range
    high: np.ndarray

    @classmethod
    def fit(cls, matrix: np.ndarray, target: np.ndarray) -> tuple[HorizonModel, Any]:
        result = sm.OLS(target, matrix).fit()
        model = cls(
            params=np.asarray(result.params),
            inverse_gram=np.asarray(result.normalized_cov_params),
            scale=float(result.scale),
            t_value=float(stats.t.ppf(0.5 + INTERVAL / 2, result.df_resid)),
            low=matrix.min(axis=0),
            high=matrix.max(axis=0),
        )
        return model, result

    def predict(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and half-width of the 90% prediction interval, in log units."""
        # A linear model extrapolates without limit: read a regressor beyond anything seen in
        # training (a 500% growth plan, a pipeline 1,000x revenue) as the nearest value seen.
        matrix = np.clip(matrix, self.low, self.high)
        mean = matrix @ self.params
        leverage = np.einsum("ij,jk,ik->i", matrix, self.inverse_gram, matrix)
        return mean, self.t_value * np.sqrt(self.scale * (1.0 + leverage))


def recent_logs(history: list[float]) -> list[float]:
    """Log revenue of the last (up to) eight quarters; zeros floored at 1% of the mean."""
    positive = [v for v in history if v > 0]
    floor = FLOOR_SHARE * sum(positive) / len(positive)
    return [math.log(max(v, floor)) for v in history[-8:]]


def target_quarter(seasonality: int, horizon: int) -> int:
    """Calendar quarter of the `horizon`-th forecast period; `seasonality` is the first's."""
    return (seasonality - 1 + horizon - 1) % QUARTERS + 1


@dataclass
class Regressors:
    """What one row's forecasts share across horizons; `at(k)` gives horizon k's regressors."""

    logs: list[float]
    trend: float | None
    stated: float
    pipeline: float
    seasonality: int

    @classmethod
    def of(cls, row: dict[str, Any]) -> Regressors:
        logs = recent_logs(row["historical_revenue"])
        if len(logs) >= 8:
            trend = (sum(logs[-4:]) - sum(logs[-8:-4])) / 16  # per quarter, seasons cancel out
        elif len(logs) >= 5:
            trend = (logs[-1] - logs[-5]) / 4
        else:
            trend = None
        return cls(
            logs=logs,
            trend=trend,
            stated=math.log1p(max(row["growth_rate"], MIN_GROWTH)) / QUARTERS,
            pipeline=math.log1p(row["pipeline_value"] / math.exp(logs[-1])),
            seasonality=row["seasonality"],
        )

    @property
    def last(self) -> float:
        return self.logs[-1]

    def at(self, horizon: int) -> list[float]:
        """Horizon k's regressors, `horizon_features(k)` order."""
        quarter = target_quarter(self.seasonality, horizon)
        # the target quarter a year earlier; for horizon 4 that is the last quarter itself
        same_quarter = [self.logs[horizon - 5] - self.last] if horizon < HORIZONS else []
        return [
            *same_quarter,
            self.trend or 0.0,
            0.0 if self.trend is None else 1.0,
            self.stated,
            self.stated if self.trend is None else 0.0,
            self.pipeline,
            *(1.0 if quarter == q else 0.0 for q in range(1, QUARTERS + 1)),
        ]


class RevenueForecaster(Predictor):
    model_type = "forecasting"

    def __init__(self, horizons: list[HorizonModel]) -> None:
        self.horizons = horizons

    def forecast(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Median, lower and upper bound, each (rows x horizons), in currency units."""
        shape = (len(rows), HORIZONS)
        value, lower, upper = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        usable = [i for i, row in enumerate(rows) if max(row["historical_revenue"]) > 0]
        if not usable:
            return value, lower, upper  # an all-zero history forecasts zero, with no confidence
        regressors = [Regressors.of(rows[i]) for i in usable]
        last = np.array([r.last for r in regressors])
        for k, model in enumerate(self.horizons, start=1):
            matrix = np.array([r.at(k) for r in regressors])
            mean, half = model.predict(matrix)
            value[usable, k - 1] = np.exp(last + mean)
            lower[usable, k - 1] = np.exp(last + mean - half)
            upper[usable, k - 1] = np.exp(last + mean + half)
        return value, lower, upper

    def predict_batch(self, rows: list[dict[str, Any]]) -> list[Prediction]:
        value, lower, upper = self.forecast(rows)
        sure = confidence(value, lower, upper).tolist()
        value, lower, upper = (np.round(a, 2).tolist() for a in (value, lower, upper))
        answers = []
        for i, row in enumerate(rows):
            periods = [
                {
                    "period": k + 1,
                    "quarter": f"Q{target_quarter(row['seasonality'], k + 1)}",
                    "value": value[i][k],
                    "lower": lower[i][k],
                    "upper": upper[i][k],
                }
                for k in range(HORIZONS)
            ]
            answers.append(Prediction(value={"forecast": periods}, confidence=sure[i]))
        return answers


def confidence(value: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Per row: 100 * (1 - mean relative half-width of its 90% intervals), clipped to 0-100."""
    safe = np.where(value > 0, value, 1.0)
    relative = ((upper - lower) / 2 / safe).mean(axis=1)
    sure = np.clip(100 * (1 - relative), 0, 100)
    return np.round(np.where(value.any(axis=1), sure, 0.0), 2)  # an all-zero forecast: 0


def fit_forecaster(samples: list[tuple[dict[str, Any], list[float]]]) -> RevenueForecaster:
    """Fit from (row, the next HORIZONS actual revenues) pairs."""
    regressors = [Regressors.of(row) for row, _ in samples]
    models = []
    for k in range(1, HORIZONS + 1):
        matrix = np.array([r.at(k) for r in regressors])
        target = np.array([
            math.log(max(actual[k - 1], 1e-9)) - r.last
            for r, (_, actual) in zip(regressors, samples, strict=True)
        ])
        model, _ = HorizonModel.fit(matrix, target)
        models.append(model)
    return RevenueForecaster(models)


def samples_from_series(
    series: list[RevenueSeries], *, cuts: int, seed: int
) -> list[tuple[dict[str, Any], list[float]]]:
    """`cuts` (history, next four quarters) pairs per series, histories of 4-24 quarters."""
    rng = np.random.default_rng(seed)
    samples = []
    for s in series:
        for _ in range(cuts):
            length = int(rng.integers(4, 25))
            end = int(rng.integers(length, len(s.values) - HORIZONS + 1))
            row = {
                "historical_revenue": [float(v) for v in s.values[end - length : end]],
                "pipeline_value": float(s.pipelines[end - 1]),
                "seasonality": s.quarter(end),
                "growth_rate": s.growth_rate,
            }
            samples.append((row, [float(v) for v in s.values[end : end + HORIZONS]]))
    return samples
