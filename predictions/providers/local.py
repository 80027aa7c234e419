"""The `local` provider: built-in and user-trained models, run in process."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ml import artifacts
from ml.base import Prediction, PredictionColumns, Predictor
from predictions.providers.base import HealthResult, Provider
from registry.crypto import artifact_key
from registry.selectors import artifact_latest, artifact_latest_meta

if TYPE_CHECKING:
    from registry.models import MLModel


class LocalProvider(Provider):
    name = "local"

    def __init__(self) -> None:
        # (model id, MLModel.answers_identity) -> predictor; loaded once per process per version.
        self._loaded: dict[tuple[str, str], Predictor] = {}
        self._lock = threading.Lock()

    def predictor(self, model: MLModel) -> Predictor:
        key = (model.pk, model.answers_identity)
        predictor = self._loaded.get(key)
        if predictor is None:
            with self._lock:
                predictor = self._loaded.get(key)
                if predictor is None:
                    predictor = self._load(model)
                    self._loaded = {k: v for k, v in self._loaded.items() if k[0] != model.pk}
                    self._loaded[key] = predictor
        return predictor

    def _load(self, model: MLModel) -> Predictor:
        from hotcrm_ai.errors import NotSupported

        artifact = artifact_latest(model)
        if artifact is None:
            raise NotSupported(
                f"Model '{model.pk}' version {model.version} has no trained artifact; "
                "run `python manage.py train_builtin_models`.",
                code="model_not_trained",
            )
        blob = bytes(artifact.blob)
        uploaded = artifacts.onnx_bytes(blob)
        if uploaded is not None:
            from ml.onnx_model import OnnxPredictor  # onnxruntime only where a model needs it

            config = (model.provider_config or {}).get("config") or {}
            return OnnxPredictor(uploaded, model.feature_schema or {}, config)
        return artifacts.loads(blob, artifact_key())

    def predict_batch(self, model: MLModel, rows: list[dict[str, Any]]) -> list[Prediction]:
        return self.predictor(model).predict_batch(rows)

    def predict_columns(self, model: MLModel, rows: list[dict[str, Any]]) -> PredictionColumns:
        return self.predictor(model).predict_columns(rows)

    def health_check(self, model: MLModel) -> HealthResult:
        started = time.perf_counter()
        ok = artifact_latest_meta(model) is not None
        return HealthResult(ok, (time.perf_counter() - started) * 1000, "" if ok else "no trained artifact")
