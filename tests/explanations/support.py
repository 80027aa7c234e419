"""Reference values from the `shap` library's exact explainer, for the tests and the bench."""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.base import TabularPredictor


def feature_level(predictor: TabularPredictor, rows: np.ndarray) -> tuple[np.ndarray, Any]:
    """Encoded rows as one code per input feature, and the model as a function of the codes.

    shap masks column by column; a category owns several one-hot columns, so each feature's
    columns are replaced by the index of their values in a table: masking a code is masking
    the whole feature, as our explanations do.
    """
    space = predictor.space()
    tables, codes = [], []
    for name in space.feature_names:
        block = rows[:, space.columns[name]]
        table, inverse = np.unique(block, axis=0, return_inverse=True)
        tables.append(table)
        codes.append(inverse.reshape(-1))
    width = rows.shape[1]

    def model(z: np.ndarray) -> np.ndarray:
        matrix = np.zeros((len(z), width))
        for i, name in enumerate(space.feature_names):
            matrix[:, space.columns[name]] = tables[i][z[:, i].astype(int)]
        return predictor.output(matrix)

    return np.stack(codes, axis=1).astype(float), model


def shap_exact(predictor: TabularPredictor, x: np.ndarray, background: np.ndarray) -> tuple[float, np.ndarray]:
    """(base value, Shapley values per feature) of shap.explainers.Exact, same background."""
    import shap  # imports numba: slow, so only where it is used

    codes, model = feature_level(predictor, np.vstack([x[None, :], background]))
    masker = shap.maskers.Independent(codes[1:], max_samples=len(background))
    result = shap.explainers.Exact(model, masker)(codes[:1])
    return float(result.base_values[0]), np.asarray(result.values[0], dtype=float)
