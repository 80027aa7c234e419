"""Plumbing shared by the scalar-feature classifiers (leads, churn).

The logistic models answer through `LogisticFastPath`: the fitted scaler and coefficients
folded into one weight vector, so a single row costs one dot product instead of a
scikit-learn `predict_proba` call (~1-5 ms of input checking per call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ml.base import PredictionColumns, TabularPredictor, TabularSpace

BACKGROUND_ROWS = 100
REFERENCE_ROWS = 1_000
SAMPLE_SEED = 7
SPLIT_SEED = 42
TEST_FRACTION = 0.2
NUMPY_TREE_ROWS = 100


class BinaryClassifier(TabularPredictor):
    """A scalar-feature classifier whose answer rests on one probability per row."""

    model_type = "classification"

    def __init__(self, space: TabularSpace) -> None:
        self._space = space

    def space(self) -> TabularSpace:
        return self._space

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_columns(self, rows: list[dict[str, Any]]) -> PredictionColumns:
        return self.decide_columns(self.output(self.encode(rows)))


@dataclass
class LogisticFastPath:
    """Standardise + logistic regression, evaluated as sigmoid(X @ w + b) in numpy."""

    pipeline: Pipeline  # kept to show (and test) that the fast path equals predict_proba
    weights: np.ndarray
    intercept: float

    @classmethod
    def fit(cls, matrix: np.ndarray, labels: np.ndarray) -> LogisticFastPath:
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2_000))
        pipeline.fit(matrix, labels)
        scaler, classifier = pipeline[0], pipeline[-1]
        # (x - mean) / scale @ coef + b  ==  x @ (coef / scale) + (b - mean @ (coef / scale))
        weights = classifier.coef_[0] / scaler.scale_
        intercept = float(classifier.intercept_[0] - scaler.mean_ @ weights)
        return cls(pipeline=pipeline, weights=weights, intercept=intercept)

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        return expit(matrix @ self.weights + self.intercept)


@dataclass
class Split:
    train: np.ndarray
    test: np.ndarray


def stratified_split(labels: np.ndarray, seed: int = SPLIT_SEED) -> Split:
    """80/20 split of row indices, both parts keeping the class balance."""
    indices = np.arange(len(labels))
    train, test = train_test_split(
        indices, test_size=TEST_FRACTION, random_state=seed, stratify=labels
    )
    return Split(np.sort(train), np.sort(test))


def build_space(
    *,
    feature_names: Sequence[str],
    columns: dict[str, list[int]],
    rows: list[dict[str, Any]],
    encode: Callable[[list[dict[str, Any]]], np.ndarray],
    output_name: str,
) -> TabularSpace:
    """The space of a model fitted on `rows`: background sample and drift reference."""
    rng = np.random.default_rng(SAMPLE_SEED)
    background = [rows[i] for i in rng.choice(len(rows), min(BACKGROUND_ROWS, len(rows)), replace=False)]
    reference = [rows[i] for i in rng.choice(len(rows), min(REFERENCE_ROWS, len(rows)), replace=False)]
    return TabularSpace(
        feature_names=list(feature_names),
        columns=columns,
        background=encode(background),
        output_name=output_name,
        extra={"reference": {name: [row[name] for row in reference] for name in feature_names}},
    )


def classification_metrics(labels: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Held-out metrics at the 0.5 threshold, in the registry's camelCase keys."""
    predicted = (probability >= 0.5).astype(int)
    metrics = {
        "accuracy": accuracy_score(labels, predicted),
        "precision": precision_score(labels, predicted, zero_division=0),
        "recall": recall_score(labels, predicted, zero_division=0),
        "f1": f1_score(labels, predicted, zero_division=0),
        "rocAuc": roc_auc_score(labels, probability),
    }
    rounded: dict[str, float] = {key: round(float(value), 4) for key, value in metrics.items()}
    return rounded | {"heldOutRows": len(labels)}


def confidence(probability: np.ndarray) -> np.ndarray:
    """How sure a binary classifier is of the class it reports: 100 * max(p, 1 - p)."""
    return np.round(100 * np.maximum(probability, 1 - probability), 2)


@dataclass
class BoostedTreesFastPath:
    """A fitted binary HistGradientBoostingClassifier, evaluated with numpy.

    All trees' nodes live in flat arrays; leaves point to themselves, so walking every tree
    `depth` steps lands each row in its leaf. scikit-learn's own `predict_proba` pays
    milliseconds of input checks and thread start-up per call; this pays microseconds.
    """

    model: HistGradientBoostingClassifier  # kept to show (and test) the equality
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    depth: int
    baseline: float

    @classmethod
    def fit(cls, matrix: np.ndarray, labels: np.ndarray, **params: Any) -> BoostedTreesFastPath:
        model = HistGradientBoostingClassifier(**params).fit(matrix, labels)
        # private but stable attributes: the fitted trees and the starting log-odds
        trees = [predictors[0].nodes for predictors in model._predictors]
        sizes = np.array([len(nodes) for nodes in trees])
        roots = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate(trees)
        offset = np.repeat(roots, sizes)
        leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes))
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not supported by the fast path")
        return cls(
            model=model,
            feature=np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp),
            threshold=np.where(leaf, np.inf, nodes["num_threshold"]),
            left=np.where(leaf, own, nodes["left"] + offset).astype(np.intp),
            right=np.where(leaf, own, nodes["right"] + offset).astype(np.intp),
            value=np.where(leaf, nodes["value"], 0.0),
            roots=roots.astype(np.intp),
            depth=int(nodes["depth"].max()),
            baseline=float(np.ravel(model._baseline_prediction)[0]),
        )

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        if len(matrix) > NUMPY_TREE_ROWS:  # scikit-learn's threaded C loop wins on big batches
            return self.model.predict_proba(matrix)[:, 1]
        rows = np.arange(len(matrix))[:, None]
        node = np.broadcast_to(self.roots, (len(matrix), len(self.roots)))
        for _ in range(self.depth):
            goes_left = matrix[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(goes_left, self.left[node], self.right[node])
        return expit(self.value[node].sum(axis=1) + self.baseline)
