"""The built-in product recommender, by the products an account owns."""

from __future__ import annotations

from typing import Any

import numpy as np

from explanations import shapley
from explanations.explainers.base import (
    Explained,
    Explainer,
    Output,
    Player,
)
from explanations.serializers import ProductShare, RecommendedItem
from hotcrm_ai.errors import NotSupported
from ml.builtin.recommendation import ProductRecommender
from registry.models import MLModel


class RecommendationExplainer(Explainer):
    """For each recommended product: exact Shapley values over the products the account owns,
    v(S) = the model's score for the recommendation had the account owned only S."""

    def __init__(self, model: MLModel, predictor: ProductRecommender) -> None:
        super().__init__(model)
        self.predictor = predictor

    def explain(self, features: dict[str, Any]) -> Explained:
        prediction = self.predictor.predict_batch([features])[0]
        items = [item["id"] for item in prediction.value["items"]]
        if not items:
            raise NotSupported("Nothing is recommended (the account owns every product): nothing to explain.",
                               code="nothing_to_explain")
        known = set(self.predictor.products)
        owned = list(dict.fromkeys(p for p in features["current_products"] if p in known))
        columns = [self.predictor.products.index(item) for item in items]

        def value(masks: np.ndarray) -> np.ndarray:
            rows = [{**features, "current_products": [p for p, keep in zip(owned, mask, strict=True) if keep]}
                    for mask in masks]
            scores, _ = self.predictor.scores(rows)
            return scores[:, columns]  # coalitions x recommended items

        attribution = self.attribute(value, len(owned), 1)
        per_item = [
            RecommendedItem(
                id=item, score=float(attribution.output[j]), baseValue=float(attribution.base[j]),
                becauseOf=sorted(
                    (ProductShare(product=p, shapValue=float(attribution.values[i, j])) for i, p in enumerate(owned)),
                    key=lambda c: -abs(c.shapValue),
                ),
            )
            for j, item in enumerate(items)
        ]
        top = shapley.Attribution(
            base=float(attribution.base[0]), output=float(attribution.output[0]),
            values=attribution.values[:, 0] if owned else np.zeros(0), method=attribution.method,
            standard_errors=None if attribution.standard_errors is None else attribution.standard_errors[:, 0],
            permutations=attribution.permutations, evaluations=attribution.evaluations,
        )
        players = [Player(p, f"Owns {p}", p) for p in owned]
        output = Output(f"probability that an account like this owns '{items[0]}'", f"the score of '{items[0]}'",
                        100.0, "percentage points")
        return Explained(prediction, output, players, top, items=per_item,
                         base_value_means="the score had the account owned none of its products")
