"""Providers: how a registered model is actually run. One provider a module, behind
`Provider` in `base.py`; `provider_for(model)` picks one by the model's `provider` field."""

from __future__ import annotations

from predictions.providers.base import Provider
from predictions.providers.local import LocalProvider

_PROVIDERS: dict[str, Provider] = {"local": LocalProvider()}


def register(name: str, provider: Provider) -> None:
    _PROVIDERS[name] = provider


def provider_for(model) -> Provider:
    from hotcrm_ai.errors import NotSupported

    provider = _PROVIDERS.get(model.provider)
    if provider is None:
        raise NotSupported(f"Provider '{model.provider}' is not available.", code="provider_unavailable")
    return provider
