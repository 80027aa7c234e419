"""One explainer per kind of model, chosen by `explainer_for(model)`.

- `TabularExplainer`: scalar features (numbers, categories, short strings), any provider.
- `TextExplainer`: a text feature, word by word, any provider.
- `ForecastExplainer`, `RecommendationExplainer`: the built-in models' own structure.
Anything else gets a 422 that says why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings

from core.shapes import OMIT, Omitted
from explanations import games, shapley
from explanations.serializers import Background, ForecastPeriod, ProductShare, RecommendedItem
from hotcrm_ai.errors import ApplicationError, NotSupported, ProviderFailed
from ml.base import Prediction, TabularPredictor
from ml.builtin.forecast import (
    HORIZONS,
    Regressors,
    RevenueForecaster,
    horizon_features,
    target_quarter,
)
from ml.builtin.leads import LeadScorer
from ml.builtin.recommendation import ProductRecommender
from ml.builtin.sentiment import SentimentPredictor
from ml.builtin.tabular import BinaryClassifier
from ml.onnx_model import OnnxPredictor
from ml.schema import FeatureError, FeatureSpec, parse_schema, validate_features
from predictions.providers import local_predictor, provider_for
from predictions.providers.mapping import dig
from registry.models import MLModel

OUTPUT_KEYS = ("score", "probability", "value", "prediction")
TEXT_TYPES = {"text"}
PLAYER_TYPES = {"integer", "number", "boolean", "category", "string"}
MAX_BACKGROUND_ROWS = 1_000


Charge = Callable[[int], None]


@dataclass
class Output:
    """The number an explanation explains, and how to speak of a change in it."""

    name: str  # e.g. "churn probability"
    noun: str  # e.g. "the churn probability"
    scale: float = 1.0  # a change of 1 reads as `scale` units
    unit: str = ""  # "points", "percentage points"

    def amount(self, change: float) -> str:
        text = _number(abs(change) * self.scale)
        return f"{text} {self.unit}".strip()


@dataclass
class Player:
    """One explained quantity: an input feature, a word, a component, an owned product."""

    feature: str
    label: str
    value: Any
    position: int | Omitted = OMIT  # a word's place in its text


@dataclass
class Explained:
    """An explanation, with what only some kinds of model add (see ExplanationResponse)."""

    prediction: Prediction
    output: Output
    players: list[Player]
    attribution: shapley.Attribution
    background: Background | Omitted = OMIT
    words: int | Omitted = OMIT
    periods: list[ForecastPeriod] | Omitted = OMIT
    items: list[RecommendedItem] | Omitted = OMIT
    base_value_means: str | Omitted = OMIT


@dataclass
class Compared:
    output: Output
    predictions: tuple[Prediction, Prediction]
    players: list[tuple[Player, Any]]  # (player with value1, value2)
    attribution: shapley.Attribution


class Explainer:
    def __init__(self, model: MLModel) -> None:
        self.model = model
        self.specs = parse_schema(model.feature_schema)
        self.config = (model.provider_config or {}).get("config") or {}
        # Called with the rows about to be sent upstream (the caller's throttle counts them).
        self.charge: Charge = _free
        self.upstream_rows = 0

    def explain(self, features: dict[str, Any]) -> Explained:
        raise NotImplementedError

    def compare(self, first: dict[str, Any], second: dict[str, Any]) -> Compared:
        raise NotSupported(
            f"Comparisons need a model with scalar features; '{self.model.pk}' is a {self.model.type} model.",
            code="compare_not_supported",
        )

    # --- shared helpers ---------------------------------------------------------------------

    def permutations(self) -> int:
        return settings.HOTCRM["EXPLANATION_PERMUTATIONS"]

    def row_budget(self) -> int:
        """Model rows one explanation may evaluate: for a remote model no more than it may send."""
        budget = settings.HOTCRM["EXPLANATION_MAX_ROWS"]
        if self.model.provider != "local":
            budget = min(budget, settings.HOTCRM["EXPLANATION_MAX_UPSTREAM_ROWS"] - 2)
        return max(budget, 1)

    def attribute(self, game: shapley.ValueFunction, players: int, background: int) -> shapley.Attribution:
        """Exact while the enumeration fits the row budget, else sampled within it."""
        budget = self.row_budget()
        if players <= shapley.EXACT_LIMIT and 2**players * background <= budget:
            return shapley.exact(game, players)
        fitting = budget // ((players + 1) * background)
        return shapley.permutation(game, players, permutations=max(min(self.permutations(), fitting), 4))

    def planned_rows(self, players: int, background: int) -> int:
        """How many model evaluations `attribute` will ask for (at most)."""
        budget = self.row_budget()
        if players <= shapley.EXACT_LIMIT and 2**players * background <= budget:
            return 2**players * background
        fitting = budget // ((players + 1) * background)
        return max(min(self.permutations(), fitting), 4) * (players + 1) * background

    def check_upstream_rows(self, planned: int, what: str) -> None:
        """Refuse, before any call, an explanation that would send more rows to a remote model
        than EXPLANATION_MAX_UPSTREAM_ROWS (each row may be a paid call)."""
        limit = settings.HOTCRM["EXPLANATION_MAX_UPSTREAM_ROWS"]
        if planned > limit:
            raise NotSupported(
                f"Explaining '{self.model.pk}' would send {planned} rows to its provider; one explanation "
                f"may send at most {limit} (EXPLANATION_MAX_UPSTREAM_ROWS). {what}",
                code="explanation_too_costly",
            )

    def provider_rows(self, rows: list[dict[str, Any]]) -> list[Prediction]:
        """The model's answers for `rows`, in chunked batch calls of its provider."""
        # The plan was checked up front; this holds the bound whatever a game asks for.
        self.check_upstream_rows(self.upstream_rows + len(rows), "")
        self.upstream_rows += len(rows)
        self.charge(len(rows))
        provider = provider_for(self.model)
        size = int(self.config.get("explanationBatchSize") or settings.HOTCRM["EXPLANATION_BATCH_ROWS"])
        answers: list[Prediction] = []
        try:
            for start in range(0, len(rows), size):
                answers += provider.predict_batch(self.model, rows[start : start + size])
        except ApplicationError:
            raise
        except Exception:
            raise ProviderFailed(f"Model '{self.model.pk}' failed to answer.") from None
        return answers

    def output_of(self, prediction: Prediction) -> float:
        """The explained number in a provider's answer: a number, or `explanationOutput`'s key."""
        value = prediction.value
        if _is_number(value):
            return float(value)
        path = self.config.get("explanationOutput")
        if path and isinstance(value, dict | list):
            # A dotted path into the answer: "probabilities.yes", "scores.1".
            found = dig(value, str(path), None)
            if _is_number(found):
                return float(found)
        elif isinstance(value, dict):
            for name in OUTPUT_KEYS:
                if _is_number(value.get(name)):
                    return float(value[name])
        raise NotSupported(
            f"Model '{self.model.pk}' answers without a number to explain; set "
            "providerConfig.config.explanationOutput to the key of its score or probability.",
            code="no_output_to_explain",
        )

    def remote_output(self) -> Output:
        key = str(self.config.get("explanationOutput") or "score")
        if key == "probability" or key.startswith("probabilities."):
            return Output("probability", "the probability", 100.0, "percentage points")
        return Output(str(key), f"the {key}")

    def configured_background(self) -> list[dict[str, Any]] | None:
        raw = self.config.get("explanationBackground")
        if raw is None:
            return None
        if not isinstance(raw, list) or not raw or len(raw) > MAX_BACKGROUND_ROWS:
            raise NotSupported(
                f"providerConfig.config.explanationBackground of '{self.model.pk}' must be a list "
                f"of 1-{MAX_BACKGROUND_ROWS} feature rows.", code="invalid_background",
            )
        rows = []
        for i, row in enumerate(raw):
            try:
                rows.append(validate_features(self.specs, row))
            except FeatureError as exc:
                raise NotSupported(
                    f"explanationBackground[{i}] of '{self.model.pk}' is invalid: {exc.message}",
                    code="invalid_background",
                ) from None
        return rows


# --- scalar features ----------------------------------------------------------------------


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


# --- text ---------------------------------------------------------------------------------


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


# --- forecasts ----------------------------------------------------------------------------

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


# --- recommendations ----------------------------------------------------------------------


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


# --- choice -------------------------------------------------------------------------------


def explainer_for(model: MLModel, charge: Charge | None = None) -> Explainer:
    explainer = _explainer_for(model)
    explainer.charge = charge or _free
    return explainer


def _free(rows: int) -> None:
    return None


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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")
