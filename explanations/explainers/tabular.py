"""Scalar features (numbers, categories, short strings), any provider."""

from __future__ import annotations

from typing import Any

import numpy as np

from explanations import games
from explanations.explainers.base import (
    Compared,
    Explained,
    Explainer,
    Output,
    Player,
)
from explanations.serializers import Background
from hotcrm_ai.errors import NotSupported
from ml.base import Prediction, TabularPredictor
from ml.builtin.leads import LeadScorer
from ml.builtin.tabular import BinaryClassifier
from ml.onnx_model import OnnxPredictor
from registry.models import MLModel


class TabularExplainer(Explainer):
    """Interventional Shapley values of the model's output against a background sample."""

    def __init__(self, model: MLModel, predictor: TabularPredictor | None) -> None:
        super().__init__(model)
        self.predictor = predictor

    def explain(self, features: dict[str, Any]) -> Explained:
        background, source = self.background()
        names = [s.name for s in self.specs]
        if self.predictor is not None:
            x = self.predictor.encode([features])[0]
            encoded = background if isinstance(background, np.ndarray) else self.predictor.encode(background)
            game = games.encoded_game(self.predictor, x, encoded, self.owners(names))
            attribution = self.attribute(game, len(names), len(encoded))
            prediction = self.predictor.explained_predictions([features], np.array([attribution.output]))[0]
            rows = len(encoded)
        else:
            self.check_upstream_rows(
                self.planned_rows(len(names), len(background)) + 1,
                f"Shorten providerConfig.config.explanationBackground (now {len(background)} rows) or "
                "raise the limit.")
            answers: dict[str, Prediction] = {}
            assert isinstance(background, list)  # rows of features without an in-process model
            game = games.row_game(self.remote_evaluate(answers), features, background, names)
            attribution = self.attribute(game, len(names), len(background))
            prediction = answers[games.row_key(features)]
            rows = len(background)
        players = [Player(s.name, s.label, features[s.name]) for s in self.specs]
        return Explained(prediction, self.output(), players, attribution, background=Background(rows=rows, source=source))

    def compare(self, first: dict[str, Any], second: dict[str, Any]) -> Compared:
        changed = [s for s in self.specs if first[s.name] != second[s.name]]
        names = [s.name for s in changed]
        if self.predictor is not None:
            x, baseline = self.predictor.encode([second, first])
            game = games.encoded_game(self.predictor, x, baseline[None, :], self.owners(names))
            attribution = self.attribute(game, len(names), 1)
            predictions = self.predictor.explained_predictions(
                [first, second], np.array([attribution.base, attribution.output]))
        else:
            self.check_upstream_rows(self.planned_rows(len(names), 1) + 2,
                                     "Compare rows that differ in fewer features, or raise the limit.")
            answers: dict[str, Prediction] = {}
            game = games.row_game(self.remote_evaluate(answers), second, [first], names)
            attribution = self.attribute(game, len(names), 1)
            predictions = [answers[games.row_key(first)], answers[games.row_key(second)]]
        players = [(Player(s.name, s.label, first[s.name]), second[s.name]) for s in changed]
        return Compared(self.output(), (predictions[0], predictions[1]), players, attribution)

    def owners(self, names: list[str]) -> list[list[int]]:
        assert self.predictor is not None  # only in-process models have encoded columns
        columns = self.predictor.space().columns
        return [columns[name] for name in names]

    def background(self) -> tuple[np.ndarray | list[dict[str, Any]], str]:
        configured = self.configured_background()
        if configured is not None:
            return configured, "providerConfig.config.explanationBackground"
        if self.predictor is not None:
            return self.predictor.space().background, "a sample of the model's training data"
        raise NotSupported(
            f"Model '{self.model.pk}' has no background sample to explain against: set "
            "providerConfig.config.explanationBackground to a list of typical feature rows.",
            code="no_background",
        )

    def remote_evaluate(self, answers: dict[str, Prediction]) -> games.RowsFunction:
        def evaluate(rows: list[dict[str, Any]]) -> list[float]:
            predictions = self.provider_rows(rows)
            for row, prediction in zip(rows, predictions, strict=True):
                answers[games.row_key(row)] = prediction
            return [self.output_of(p) for p in predictions]

        return evaluate

    def output(self) -> Output:
        if self.predictor is None:
            return self.remote_output()
        name = self.predictor.space().output_name
        if isinstance(self.predictor, LeadScorer):  # probability x 100
            return Output(name, "the score", 1.0, "points")
        if isinstance(self.predictor, BinaryClassifier) or (
                isinstance(self.predictor, OnnxPredictor) and self.predictor.signature.is_classifier):
            return Output(name, f"the {name}", 100.0, "percentage points")
        return Output(name, f"the {name}")
