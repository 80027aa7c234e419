"""What the dashboard shows, as JSON for its charts (one payload per page), computed at most
once per DASHBOARD_CACHE_SECONDS and window for every viewer, and again after a registry change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.utils import timezone

from core import generations
from core.cache import shared_cache
from monitoring.drift import model_drift
from monitoring.health import model_health
from monitoring.selectors import metrics_for_dashboard, model_stats, recent_errors
from monitoring.thresholds import thresholds_for
from registry.models import AbArm, AbMode, MLModel
from registry.selectors import model_list

# The window selector: seconds -> (label, buckets on the time axis).
WINDOWS: dict[int, tuple[str, int]] = {
    300: ("5 min", 30),
    3_600: ("1 h", 60),
    86_400: ("24 h", 48),
    604_800: ("7 d", 56),
}
DEFAULT_WINDOW = 3_600


def model_cards(models: list[MLModel], window: int) -> list[dict[str, Any]]:
    """Every model's card from one read of all their metrics (and one of their outcomes);
    drift and A/B arms are read per model that has them."""
    health_windows = {m.pk: int(thresholds_for(m.health_thresholds)["windowSeconds"]) for m in models}
    metrics = metrics_for_dashboard(models, window=window, longest=max(health_windows.values(), default=0))
    cards = []
    for model in models:
        drift = model_drift(model)
        cards.append({
            "id": model.pk, "name": model.name, "version": model.version, "type": model.type,
            "provider": model.provider, "status": model.status,
            "health": model_health(model, stats=metrics.stats(model.pk, health_windows[model.pk]), drift=drift),
            "stats": metrics.stats(model.pk, window),
            "series": metrics.series(model.pk, window, WINDOWS[window][1]),
            "arms": ab_arms(model, window),
            "drift": drift,
        })
    return cards


def ab_arms(model: MLModel, window: int) -> list[dict[str, Any]]:
    """The two arms of the A/B test this model is the challenger of, side by side."""
    if not model.ab_test_is_running():
        return []
    # In shadow mode the challenger serves nothing: its row is its shadow runs, named so.
    arm = AbArm.SHADOW if model.ab_mode == AbMode.SHADOW else AbArm.CHALLENGER
    return [
        {"arm": arm, "modelId": model.pk, "trafficPercentage": model.ab_traffic_percentage,
         "mode": model.ab_mode, "stats": model_stats(model.pk, window=window, arm=arm)},
        {"arm": AbArm.CHAMPION, "modelId": model.ab_champion_id,
         "trafficPercentage": 100 - model.ab_traffic_percentage,
         "stats": model_stats(cast(str, model.ab_champion_id), window=window, arm=AbArm.CHAMPION)},
    ]


SEVERITY = {"unhealthy": 0, "degraded": 1, "healthy": 2}


def overview(window: int) -> dict[str, Any]:
    """Every model's card, the ones that need attention first."""
    return cached(f"overview:{window}", lambda: _overview(window))


def model_page(model: MLModel, window: int) -> dict[str, Any]:
    return cached(f"model:{model.pk}:{window}", lambda: _model_page(model, window))


def cached(name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`compute()`, shared by every viewer for DASHBOARD_CACHE_SECONDS under this registry
    generation (metrics move every flush, so they go by age rather than by a counter)."""
    seconds = settings.HOTCRM["DASHBOARD_CACHE_SECONDS"]
    if seconds <= 0:
        return compute()
    key = f"dashboard:{name}:{generations.current(generations.REGISTRY)}"
    cache = shared_cache()
    found = cache.get_many([key]).get(key)
    if found is None:
        found = compute()
        cache.set_many({key: found}, seconds)
    return found


def _overview(window: int) -> dict[str, Any]:
    cards = model_cards(list(model_list()), window)
    cards.sort(key=lambda c: (SEVERITY[c["health"]["status"]], c["id"]))
    return {"generatedAt": timezone.now().isoformat(), "window": window, "models": cards}


def _model_page(model: MLModel, window: int) -> dict[str, Any]:
    return {
        "generatedAt": timezone.now().isoformat(), "window": window,
        "model": model_cards([model], window)[0] | {"recentErrors": recent_errors(model.pk)},
    }
