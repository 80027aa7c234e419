from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml.base import Prediction, PredictionColumns

if TYPE_CHECKING:
    from registry.models import MLModel


@dataclass
class HealthResult:
    ok: bool
    latency_ms: float
    detail: str = ""


class Provider:
    """Runs a registered model. Rows are already validated against its feature schema."""

    name = ""

    def predict_batch(self, model: MLModel, rows: list[dict[str, Any]]) -> list[Prediction]:
        raise NotImplementedError

    def predict_columns(self, model: MLModel, rows: list[dict[str, Any]]) -> PredictionColumns:
        """`predict_batch`'s answers as columns (what a batch request reads)."""
        return PredictionColumns.of(self.predict_batch(model, rows))

    def health_check(self, model: MLModel) -> HealthResult:
        raise NotImplementedError
