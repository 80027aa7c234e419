"""The built-in revenue forecaster, split into trend, seasonality and pipeline."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from explanations import shapley
from explanations.explainers.base import (
    Explained,
    Explainer,
    Output,
    Player,
)
from explanations.serializers import ForecastPeriod
from hotcrm_ai.errors import NotSupported
from ml.builtin.forecast import (
    HORIZONS,
    Regressors,
    RevenueForecaster,
    horizon_features,
    target_quarter,
)
from registry.models import MLModel

TREND = ("trend", "has_trend", "stated_growth", "stated_growth_only")
SEASONALITY = ("same_quarter_last_year", "q1", "q2", "q3", "q4")
PIPELINE = ("log1p_pipeline_ratio",)
COMPONENTS = (("trend", "Trend", TREND), ("seasonality", "Seasonality", SEASONALITY), ("pipeline", "Pipeline", PIPELINE))


class ForecastExplainer(Explainer):
    """Each horizon's model is linear in log revenue: log(value / last) = sum of its terms.
    The terms group into trend, seasonality and pipeline; v(S) = last quarter x exp(terms in
    S), summed over the forecast periods, and exact Shapley splits the forecast among them."""

    def __init__(self, model: MLModel, predictor: RevenueForecaster) -> None:
        super().__init__(model)
        self.predictor = predictor

    def explain(self, features: dict[str, Any]) -> Explained:
        prediction = self.predictor.predict_batch([features])[0]
        if max(features["historical_revenue"]) <= 0:
            raise NotSupported("An all-zero history forecasts zero: there is nothing to explain.", code="nothing_to_explain")
        regressors = Regressors.of(features)
        terms = np.array([self.terms(regressors, k) for k in range(1, HORIZONS + 1)])  # horizons x components

        def value(masks: np.ndarray) -> np.ndarray:
            return np.exp(regressors.last + masks.astype(float) @ terms.T)  # coalitions x horizons

        per_period = shapley.exact(value, len(COMPONENTS))
        total = shapley.Attribution(
            base=float(per_period.base.sum()), output=float(per_period.output.sum()),
            values=per_period.values.sum(axis=1), method="exact", evaluations=per_period.evaluations,
        )
        periods = [
            ForecastPeriod(
                period=k + 1, quarter=f"Q{target_quarter(features['seasonality'], k + 1)}",
                value=float(per_period.output[k]), baseValue=float(per_period.base[k]),
                components={name: float(per_period.values[i, k]) for i, (name, _, _) in enumerate(COMPONENTS)},
            )
            for k in range(HORIZONS)
        ]
        players = [
            Player("trend", "Trend", self.trend_text(regressors, features)),
            Player("seasonality", "Seasonality", ", ".join(p.quarter for p in periods)),
            Player("pipeline", "Pipeline", features["pipeline_value"]),
        ]
        output = Output(f"revenue forecast, total of the next {HORIZONS} quarters", "the forecast")
        base_note = f"the last quarter's revenue carried flat for {HORIZONS} quarters"
        return Explained(prediction, output, players, total, periods=periods, base_value_means=base_note)

    def terms(self, regressors: Regressors, horizon: int) -> list[float]:
        model = self.predictor.horizons[horizon - 1]
        clipped = np.clip(regressors.at(horizon), model.low, model.high)  # as the model reads them
        contribution = dict(zip(horizon_features(horizon), clipped * model.params, strict=True))
        return [sum(contribution.get(name, 0.0) for name in names) for _, _, names in COMPONENTS]

    @staticmethod
    def trend_text(regressors: Regressors, features: dict[str, Any]) -> str:
        stated = f"{features['growth_rate'] * 100:+.1f}% a year stated"
        if regressors.trend is None:
            return stated
        return f"{math.expm1(regressors.trend) * 100:+.1f}% a quarter in the history, {stated}"
