"""A/B arm selection: sticky by object (else user), stable across processes, monotone in
the traffic share, random without a key, and forceable for support."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from hotcrm_ai.errors import InvalidInput
from predictions.ab.routing import CHALLENGER, CHAMPION, choose_arm
from registry.models import AbMode, MLModel, ModelStatus

OBJECTS = [f"L-{n}" for n in range(10_000)]


def ab_pair(share: float, mode: str = AbMode.SPLIT) -> MLModel:
    """An unsaved challenger/champion pair: routing needs no database."""
    champion = MLModel(id="lead-champion", status=ModelStatus.ACTIVE)
    challenger = MLModel(
        id="lead-challenger", status=ModelStatus.ACTIVE, ab_enabled=True,
        ab_traffic_percentage=share, ab_mode=mode,
    )
    challenger.ab_champion = champion
    return challenger


def arms(challenger: MLModel, ids: list[str]) -> dict[str, str]:
    return {i: choose_arm(challenger, {"objectId": i}).arm for i in ids}


def test_it_sends_about_the_configured_share_of_distinct_objects_to_the_challenger():
    share = Counter(arms(ab_pair(20), OBJECTS).values())[CHALLENGER] / len(OBJECTS)
    assert 0.185 <= share <= 0.215, share


def test_it_routes_sticky_objects_to_the_same_arm_on_repeated_calls():
    challenger = ab_pair(20)
    first = arms(challenger, OBJECTS)
    for _ in range(3):
        assert arms(challenger, OBJECTS) == first


def test_it_answers_each_object_with_the_model_of_its_arm():
    challenger = ab_pair(50)
    for object_id in OBJECTS[:200]:
        route = choose_arm(challenger, {"objectId": object_id})
        expected = challenger if route.arm == CHALLENGER else challenger.ab_champion
        assert route.model is expected


def test_it_gives_every_object_the_same_arm_in_another_process():
    # Another interpreter with another hash seed: the arm must not depend on Python's hash().
    script = (
        "import json, sys, django; django.setup()\n"
        "from tests.predictions.test_routing import ab_pair, arms\n"
        "ids = json.load(sys.stdin)\n"
        "json.dump(arms(ab_pair(20), ids), sys.stdout)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "DJANGO_SETTINGS_MODULE": "hotcrm_ai.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(OBJECTS), capture_output=True,
        text=True, env=env, check=True, timeout=120,
    )
    assert json.loads(done.stdout) == arms(ab_pair(20), OBJECTS)


def test_it_moves_no_object_back_to_the_champion_when_the_share_grows():
    before = arms(ab_pair(20), OBJECTS)
    after = arms(ab_pair(30), OBJECTS)
    assert not [i for i in OBJECTS if before[i] == CHALLENGER and after[i] == CHAMPION]
    moved = sum(1 for i in OBJECTS if before[i] == CHAMPION and after[i] == CHALLENGER)
    assert 0.085 <= moved / len(OBJECTS) <= 0.115, moved


def test_it_falls_back_to_the_user_id_when_there_is_no_object_id():
    challenger = ab_pair(50)
    by_user = {u: choose_arm(challenger, {"userId": u}).arm for u in OBJECTS[:500]}
    for user, arm in by_user.items():
        assert choose_arm(challenger, {"userId": user, "objectId": ""}).arm == arm
    assert set(by_user.values()) == {CHALLENGER, CHAMPION}


def test_it_prefers_the_object_id_to_the_user_id():
    challenger = ab_pair(50)
    for n in range(300):
        arm = choose_arm(challenger, {"objectId": f"O-{n}"}).arm
        assert choose_arm(challenger, {"objectId": f"O-{n}", "userId": f"U-{n}"}).arm == arm


def test_it_draws_at_random_without_a_key():
    challenger = ab_pair(20)
    draws = Counter(choose_arm(challenger, None).arm for _ in range(5_000))
    # 20% of 5,000: the standard deviation is about 28 calls, so 900-1,100 is > 3.5 sigma.
    assert 900 <= draws[CHALLENGER] <= 1_100, draws


def test_it_lets_a_caller_force_either_arm():
    challenger = ab_pair(0)
    assert choose_arm(challenger, {"objectId": "L-1"}, CHALLENGER).model is challenger
    forced = choose_arm(ab_pair(100), {"objectId": "L-1"}, CHAMPION)
    assert forced.arm == CHAMPION and forced.model.pk == "lead-champion"


def test_it_refuses_an_unknown_arm():
    with pytest.raises(InvalidInput):
        choose_arm(ab_pair(20), None, "both")


def test_it_routes_every_request_to_the_champion_in_shadow_mode_and_samples_the_challenger():
    challenger = ab_pair(20, AbMode.SHADOW)
    routes = [choose_arm(challenger, {"objectId": i}) for i in OBJECTS]
    assert all(r.model.pk == "lead-champion" and r.arm == CHAMPION for r in routes)
    sampled = sum(1 for r in routes if r.shadow is challenger) / len(routes)
    assert 0.185 <= sampled <= 0.215, sampled


def test_it_serves_the_requested_model_alone_when_the_champion_is_not_active():
    challenger = ab_pair(20)
    challenger.ab_champion.status = ModelStatus.INACTIVE
    route = choose_arm(challenger, {"objectId": "L-1"})
    assert route.model is challenger and route.arm is None
