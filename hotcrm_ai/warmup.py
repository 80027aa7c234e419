"""Warm-up: what a gunicorn worker's first requests would otherwise pay for, done once in
the master before it forks the workers (gunicorn.conf.py: `preload_app`, `when_ready`).

Without it the first request to each worker imported every view and the explainers and
loaded (decrypted, unpickled) each model it touched; now every worker, and every worker
that replaces one, starts with them (shared copy-on-write). Nothing is predicted or
recorded here. Afterwards everything loaded so far is moved out of the garbage
collector's reach (`gc.freeze`, which also keeps the collector from writing to the shared
pages): the long-lived Django, numpy and scikit-learn objects are then never scanned again
by the full collections that otherwise land on random requests as latency spikes.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)


def warm_up() -> int:
    """Import every URL module and load the predictor of every active local model;
    returns how many predictors were loaded."""
    from django.urls import get_resolver

    from predictions.providers import local_predictor
    from registry.models import MLModel

    get_resolver().url_patterns  # noqa: B018  (imports every app's views and serializers)
    loaded = 0
    for model in MLModel.objects.filter(provider="local"):
        if not model.is_active:
            continue
        try:
            local_predictor(model)
            loaded += 1
        except Exception as exc:  # an untrained or broken model answers its own error later
            logger.warning("Warm-up could not load %s: %s", model.pk, type(exc).__name__)
    gc.collect()
    gc.freeze()
    return loaded
