"""What every explainer shares: the explained number (`Output`), the players, the results,
and the `Explainer` base with the row budget and the provider calls."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.shapes import OMIT, Omitted
from explanations import shapley
from explanations.serializers import Background, ForecastPeriod, RecommendedItem
from hotcrm_ai.errors import ApplicationError, NotSupported, ProviderFailed
from ml.base import Prediction
from ml.schema import FeatureError, parse_schema, validate_features
from predictions.providers import provider_for
from predictions.providers.mapping import dig
from registry.models import MLModel

OUTPUT_KEYS = ("score", "probability", "value", "prediction")
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
        self.charge: Charge = free
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



def free(rows: int) -> None:
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")
