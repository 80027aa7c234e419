"""One explainer per kind of model, chosen by `explainer_for(model)`.

- `TabularExplainer`: scalar features (numbers, categories, short strings), any provider.
- `TextExplainer`: a text feature, word by word, any provider.
- `ForecastExplainer`, `RecommendationExplainer`: the built-in models' own structure.
Anything else gets a 422 that says why.
"""

from __future__ import annotations

from explanations.explainers.base import Charge, Compared, Explained, Explainer, Output, Player, free
from explanations.explainers.forecast import ForecastExplainer
from explanations.explainers.recommendation import RecommendationExplainer
from explanations.explainers.tabular import TabularExplainer
from explanations.explainers.text import TextExplainer
from hotcrm_ai.errors import NotSupported
from ml.base import TabularPredictor
from ml.builtin.forecast import RevenueForecaster
from ml.builtin.recommendation import ProductRecommender
from ml.builtin.sentiment import SentimentPredictor
from ml.schema import parse_schema
from predictions.providers import local_predictor
from registry.models import MLModel

TEXT_TYPES = {"text"}
PLAYER_TYPES = {"integer", "number", "boolean", "category", "string"}


def explainer_for(model: MLModel, charge: Charge | None = None) -> Explainer:
    explainer = _explainer_for(model)
    explainer.charge = charge or free
    return explainer



def _explainer_for(model: MLModel) -> Explainer:
    specs = parse_schema(model.feature_schema)
    predictor = local_predictor(model) if model.provider == "local" else None
    if isinstance(predictor, TabularPredictor):
        return TabularExplainer(model, predictor)
    if isinstance(predictor, RevenueForecaster):
        return ForecastExplainer(model, predictor)
    if isinstance(predictor, ProductRecommender):
        return RecommendationExplainer(model, predictor)
    if not specs:
        raise NotSupported(
            f"Model '{model.pk}' has no featureSchema, and Shapley values are shares among known features: "
            "add a featureSchema to the model to explain it.",
            code="explanation_needs_schema",
        )
    texts = [s for s in specs if s.type in TEXT_TYPES]
    if len(texts) == 1 and all(s.type in PLAYER_TYPES for s in specs if s is not texts[0]):
        return TextExplainer(model, texts[0], predictor if isinstance(predictor, SentimentPredictor) else None)
    if specs and all(s.type in PLAYER_TYPES for s in specs):
        return TabularExplainer(model, None)  # raw rows through the provider, any provider
    raise NotSupported(
        f"Model '{model.pk}' ({model.type}) takes features that are not scalars "
        f"({', '.join(s.name for s in specs if s.type not in PLAYER_TYPES)}), and no explanation "
        "fits how it works.",
        code="explanation_not_supported",
    )


__all__ = ["Charge", "Compared", "Explained", "Explainer", "ForecastExplainer", "Output", "Player",
           "RecommendationExplainer", "TabularExplainer", "TextExplainer", "explainer_for"]
