"""A/B arm selection. With an object id (else user id) the arm comes from a stable hash of
the challenger's id and that key, so the same object always meets the same model, in every
process, across restarts; raising the traffic share only moves champion objects over."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hotcrm_ai.errors import InvalidInput
from registry.models import AbArm, AbMode, MLModel

CHALLENGER = AbArm.CHALLENGER
CHAMPION = AbArm.CHAMPION
BUCKETS = 10_000


@dataclass(frozen=True)
class Route:
    model: MLModel  # the model that answers
    arm: str | None  # None when no A/B test applies
    shadow: MLModel | None = None  # a challenger run on the side, never returned


def sticky_bucket(model_id: str, key: str) -> int:
    digest = hashlib.sha256(f"{model_id}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def routing_key(context: dict[str, Any] | None) -> str | None:
    context = context or {}
    for field in ("objectId", "userId"):
        value = context.get(field)
        if value not in (None, ""):
            return f"{field}:{value}"
    return None


def choose_arm(requested: MLModel, context: dict[str, Any] | None, forced_arm: str | None = None) -> Route:
    champion = requested.ab_champion if requested.ab_test_is_running() else None
    if champion is None or not champion.is_active:
        if forced_arm not in (None, CHALLENGER):
            raise InvalidInput(f"'{requested.pk}' has no active A/B test, so no '{forced_arm}' arm.", code="invalid_arm")
        return Route(requested, None)
    if forced_arm is not None:
        if forced_arm not in (CHALLENGER, CHAMPION):
            raise InvalidInput("abArm must be 'challenger' or 'champion'.", code="invalid_arm")
        return Route(requested if forced_arm == CHALLENGER else champion, forced_arm)
    key = routing_key(context)
    in_challenger = _draw(requested, key)
    if requested.ab_mode == AbMode.SHADOW:
        return Route(champion, CHAMPION, shadow=requested if in_challenger else None)
    return Route(requested, CHALLENGER) if in_challenger else Route(champion, CHAMPION)


def route_rows(requested: MLModel, contexts: Sequence[dict[str, Any] | None]) -> list[Route]:
    """The route of each row of a batch or a job, by its own context (sticky per object).
    Without an A/B test every row has the same route: it is chosen once."""
    first = choose_arm(requested, None)
    if first.arm is None:
        return [first] * len(contexts)
    return [choose_arm(requested, context) for context in contexts]


def _draw(requested: MLModel, key: str | None) -> bool:
    threshold = requested.ab_traffic_percentage / 100 * BUCKETS
    if key is None:
        return random.random() * BUCKETS < threshold
    return sticky_bucket(requested.pk, key) < threshold
