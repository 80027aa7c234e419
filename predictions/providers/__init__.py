"""Providers: how a registered model is actually run. One provider a module, behind
`Provider` in `base.py`; `provider_for(model)` picks one by the model's `provider` field.
External providers are imported on first use, so a process that serves only built-in
models never loads boto3 or the OpenAI SDK."""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

from hotcrm_ai.errors import ApplicationError, NotSupported
from predictions.providers.base import HealthResult, Provider
from predictions.providers.local import LocalProvider

if TYPE_CHECKING:
    from ml.base import Predictor
    from registry.models import MLModel

_PROVIDERS: dict[str, Provider] = {"local": LocalProvider()}
_LAZY = {
    "aws-sagemaker": "predictions.providers.sagemaker:SageMakerProvider",
    "azure-ml": "predictions.providers.azure:AzureMLProvider",
    "openai": "predictions.providers.openai_provider:OpenAIProvider",
    "custom": "predictions.providers.custom:CustomProvider",
    "anthropic": "predictions.providers.anthropic:AnthropicProvider",
}
_lock = threading.Lock()


def register(name: str, provider: Provider) -> None:
    _PROVIDERS[name] = provider


def provider_for(model: MLModel) -> Provider:
    provider = _PROVIDERS.get(model.provider)
    if provider is None and model.provider in _LAZY:
        with _lock:
            provider = _PROVIDERS.get(model.provider)
            if provider is None:
                module, name = _LAZY[model.provider].split(":")
                provider = _PROVIDERS[model.provider] = getattr(importlib.import_module(module), name)()
    if provider is None:
        raise NotSupported(f"Provider '{model.provider}' is not available.", code="provider_unavailable")
    return provider


def local_predictor(model: MLModel) -> Predictor:
    """The in-process predictor of a built-in model (its provider is "local")."""
    provider = provider_for(model)
    if not isinstance(provider, LocalProvider):
        raise NotSupported(f"'{model.pk}' is not a built-in model.", code="not_builtin")
    return provider.predictor(model)


def health_check(model: MLModel) -> HealthResult:
    """A real, cheap call to the model's provider (the admin's "test connection")."""
    try:
        provider = provider_for(model)
    except ApplicationError as exc:
        return HealthResult(False, 0.0, exc.message)
    return provider.health_check(model)


def feature_schema_import(*, model, actor=None):
    """Replace the featureSchema of a `custom` V2 model by the inputs its server states
    (`GET /v2/models/{name}`), through the registry's write path. The call to the server is
    made before anything is written."""
    from hotcrm_ai.errors import NotSupported
    from predictions.providers.custom import imported_feature_schema, is_v2
    from registry.audit import SYSTEM
    from registry.services import model_update

    if model.provider != "custom" or not is_v2(model):
        raise NotSupported(
            f"'{model.pk}' is not a custom model speaking the V2 protocol (config.protocol: \"v2\"); "
            "only those state their inputs.", code="schema_import_not_supported",
        )
    schema = imported_feature_schema(model)
    return model_update(model=model, data={"feature_schema": schema}, actor=actor or SYSTEM)
