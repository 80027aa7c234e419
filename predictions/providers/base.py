from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml.base import Prediction


@dataclass
class HealthResult:
    ok: bool
    latency_ms: float
    detail: str = ""


class Provider:
    """Runs a registered model. Rows are already validated against its feature schema."""

    name = ""

    def predict_batch(self, model: Any, rows: list[dict[str, Any]]) -> list[Prediction]:
        raise NotImplementedError

    def health_check(self, model: Any) -> HealthResult:
        raise NotImplementedError
