"""The contract between fitted models and the service.

A `Predictor` is what the `local` provider runs. Rows handed to it have already been
validated and cleaned by `ml.schema.validate_features` (types coerced, categories mapped,
optional features filled with their defaults), so a predictor never sees bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Prediction:
    value: Any  # an object for built-in models; whatever JSON an external model answers
    confidence: float | None  # 0-100, from the model's own probability or interval; None: unknown
    # Where the confidence came from: "model" (its own probability or interval), "logprobs"
    # (an LLM's token probabilities) or "stated" (the number an LLM wrote in its answer).
    confidence_source: str = "model"


@dataclass
class PredictionColumns:
    """Many rows' predictions as three columns, in input order: what a batch needs, without
    a Prediction object per row (a 1,000-row batch built and read 1,000 of them)."""

    values: list[Any]
    confidences: list[float | None]
    sources: list[str]

    @classmethod
    def of(cls, predictions: list[Prediction]) -> PredictionColumns:
        return cls([p.value for p in predictions], [p.confidence for p in predictions],
                   [p.confidence_source for p in predictions])

    def __len__(self) -> int:
        return len(self.values)

    def predictions(self) -> list[Prediction]:
        return list(map(Prediction, self.values, self.confidences, self.sources))


class Predictor:
    """Base class of every in-process model."""

    model_type: str = ""  # classification | nlp | forecasting | recommendation

    def predict_batch(self, rows: list[dict[str, Any]]) -> list[Prediction]:
        """One vectorised call for all rows, answers in input order."""
        raise NotImplementedError

    def predict_columns(self, rows: list[dict[str, Any]]) -> PredictionColumns:
        """`predict_batch`'s answers as columns (a model may build them directly)."""
        return PredictionColumns.of(self.predict_batch(rows))


@dataclass
class TabularSpace:
    """How a scalar-feature model sees its input, for fast evaluation and Shapley values.

    `encode` turns cleaned rows into the model's numeric matrix; `columns[feature]` lists the
    matrix columns one input feature owns (a category owns all its one-hot columns, so it is
    explained as the one field it is); `output` maps a matrix to the scalar that is reported
    and explained (for example the lead score 0-100); `background` is an encoded sample of
    the training data.
    """

    feature_names: list[str]
    columns: dict[str, list[int]]
    background: np.ndarray
    output_name: str
    extra: dict[str, Any] = field(default_factory=dict)


class TabularPredictor(Predictor):
    """A predictor over scalar features whose output is one number per row."""

    def space(self) -> TabularSpace:
        raise NotImplementedError

    def encode(self, rows: list[dict[str, Any]]) -> np.ndarray:
        raise NotImplementedError

    def output(self, matrix: np.ndarray) -> np.ndarray:
        """The explained scalar for each encoded row."""
        raise NotImplementedError

    def decide(self, outputs: np.ndarray) -> list[Prediction]:
        """Turn explained scalars into the spec's prediction objects."""
        raise NotImplementedError

    def decide_columns(self, outputs: np.ndarray) -> PredictionColumns:
        """`decide` as columns."""
        return PredictionColumns.of(self.decide(outputs))

    def predict_batch(self, rows: list[dict[str, Any]]) -> list[Prediction]:
        return self.decide(self.output(self.encode(rows)))

    def explained_predictions(self, rows: list[dict[str, Any]], outputs: np.ndarray) -> list[Prediction]:
        """The predictions of explained rows whose outputs are already known."""
        return self.decide(outputs)
