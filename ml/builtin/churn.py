"""Churn prediction: a logistic regression on log-scaled account signals, answered in numpy.

Counts (tickets, logins, late payments) and tenure enter as log1p: the tenth support ticket
says less than the first, and a churn model on raw counts lets a few outliers dominate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ml.base import Prediction, TabularSpace
from ml.builtin.tabular import BinaryClassifier, LogisticFastPath, build_space, confidence

CHURN_FEATURES = ("account_age", "support_tickets", "usage_frequency", "nps_score", "payment_delays")
LOGGED = ("account_age", "support_tickets", "usage_frequency", "payment_delays")
PLAN = tuple((name, name in LOGGED) for name in CHURN_FEATURES)
CHURN_FEATURE_COLUMNS = {name: [i] for i, name in enumerate(CHURN_FEATURES)}
OUTPUT_NAME = "churn probability"


def encode_churn(rows: list[dict[str, Any]]) -> np.ndarray:
    """Cleaned account rows -> log1p of the counts and tenure, NPS as is (CHURN_FEATURES order)."""
    # math.log1p row by row: numpy's can differ in the last bit, so a batch would not give
    # exactly the answers of its rows one by one
    return np.array(
        [[math.log1p(row[name]) if logged else float(row[name]) for name, logged in PLAN] for row in rows],
        dtype=float,
    ).reshape(len(rows), len(CHURN_FEATURES))


def churn_risk(probability: float) -> str:
    return "low" if probability < 0.3 else "medium" if probability < 0.6 else "high"


class ChurnPredictor(BinaryClassifier):
    def __init__(self, space: TabularSpace, model: LogisticFastPath) -> None:
        super().__init__(space)
        self.model = model

    def encode(self, rows: list[dict[str, Any]]) -> np.ndarray:
        return encode_churn(rows)

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        return self.model.probability(matrix)

    def output(self, matrix: np.ndarray) -> np.ndarray:
        return self.probability(matrix)

    def decide(self, outputs: np.ndarray) -> list[Prediction]:
        rounded = np.round(outputs, 4).tolist()
        sure = confidence(outputs).tolist()
        return [
            Prediction(value={"risk": churn_risk(p), "probability": p}, confidence=c)
            for p, c in zip(rounded, sure, strict=True)
        ]


def fit_churn(rows: list[dict[str, Any]], labels: np.ndarray) -> ChurnPredictor:
    space = build_space(
        feature_names=CHURN_FEATURES, columns=CHURN_FEATURE_COLUMNS, rows=rows,
        encode=encode_churn, output_name=OUTPUT_NAME,
    )
    return ChurnPredictor(space, LogisticFastPath.fit(encode_churn(rows), labels))
