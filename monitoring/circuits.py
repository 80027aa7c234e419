"""`hotcrm_provider_circuit_state{provider, model, state}` on /metrics: 1 for the state each
active remote model's circuit breaker is in now (closed, open, half-open), 0 for the others.
Read from the shared cache at each scrape, where the breakers keep their state, so every
worker reports the same and a circuit that half-opened meanwhile says so."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from registry.models import MLModel

logger = logging.getLogger(__name__)
CIRCUIT_STATES = ("closed", "open", "half-open")


class CircuitStateCollector:
    """The circuit state of every active model whose provider is remote, at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hotcrm_provider_circuit_state",
            "Circuit breaker state of each active remote model's endpoint: 1 for its state now.",
            labels=["provider", "model", "state"],
        )
        try:
            for model, state in _circuit_states():
                for name in CIRCUIT_STATES:
                    family.add_metric([model.provider, model.pk, name], 1.0 if name == state else 0.0)
        except Exception:
            # A scrape must still answer with the other metrics while the database is away.
            logger.warning("Could not read circuit states for /metrics", exc_info=True)
        yield family


def _circuit_states() -> Iterator[tuple[MLModel, str]]:
    # Imported at the first scrape, not when Django starts: loading the providers (numpy,
    # scikit-learn, SDKs) in every process at startup, Celery workers before they fork their
    # pool included, kept tests/alerts/test_worker.py's alerts from ever firing (the cause
    # inside the worker was not pinned down; importing here fixed it).
    from predictions.providers import provider_for
    from predictions.providers.external import ExternalProvider
    from registry.selectors import model_list

    for model in model_list():
        if not model.is_active:
            continue
        try:
            provider = provider_for(model)
            if isinstance(provider, ExternalProvider):
                yield model, provider.circuit_state(model)
        except Exception:  # a misconfigured model has no circuit to report; the others do
            logger.debug("No circuit state for %s", model.pk, exc_info=True)
