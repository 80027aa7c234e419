"""A text feature, word by word, any provider."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from explanations import games, shapley
from explanations.explainers.base import (
    Explained,
    Explainer,
    Output,
    Player,
)
from hotcrm_ai.errors import NotSupported
from ml.builtin.sentiment import SentimentPredictor
from ml.schema import FeatureSpec
from registry.models import MLModel


class TextExplainer(Explainer):
    """Shapley values over the words of the text: v(S) is the output on the words in S alone."""

    def __init__(self, model: MLModel, spec: FeatureSpec, predictor: SentimentPredictor | None) -> None:
        super().__init__(model)
        self.spec = spec
        self.predictor = predictor

    def explain(self, features: dict[str, Any]) -> Explained:
        words = features[self.spec.name].split()
        limit = settings.HOTCRM["EXPLANATION_MAX_WORDS"]
        if len(words) > limit:
            raise NotSupported(
                f"The text has {len(words)} words; word-level explanations take at most {limit}.",
                code="text_too_long_to_explain",
            )
        budget = settings.HOTCRM["EXPLANATION_TEXT_EVALUATIONS"]
        permutations = min(max(budget // (len(words) + 1), 8), self.permutations())
        if self.predictor is None:
            planned = (2 ** len(words) if len(words) <= shapley.EXACT_LIMIT
                       else permutations * (len(words) + 1))
            self.check_upstream_rows(planned + 1, f"Explain a shorter text (this one has {len(words)} words) "
                                                  "or raise the limit.")
        game = games.words_game(self.text_evaluate(features), words)
        attribution = shapley.attribute(game, len(words), permutations=permutations)
        prediction = (self.predictor.predict_batch([features]) if self.predictor else self.provider_rows([features]))[0]
        players = [Player(w, f'"{w}"', w, position=i) for i, w in enumerate(words)]
        return Explained(prediction, self.output(), players, attribution, words=len(words))

    def text_evaluate(self, features: dict[str, Any]) -> games.TextsFunction:
        name = self.spec.name

        def evaluate(texts: list[str]) -> list[float]:
            if self.predictor is not None:  # unrounded: the prediction shows 4 decimals
                return [self.predictor.scores(t)["compound"] for t in texts]
            return [self.output_of(p) for p in self.provider_rows([{**features, name: t} for t in texts])]

        return evaluate

    def output(self) -> Output:
        if self.predictor is not None:
            return Output("sentiment score (VADER compound, -1 to +1)", "the sentiment score")
        return self.remote_output()
