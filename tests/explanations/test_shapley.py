from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from explanations import shapley


def brute_force(value, m):
    """Shapley values from their definition: the mean marginal contribution over all orders."""
    phi = np.zeros(m)
    orders = list(itertools.permutations(range(m)))
    for order in orders:
        mask = np.zeros(m, dtype=bool)
        for player in order:
            before = value(mask[None, :])[0]
            mask[player] = True
            phi[player] += value(mask[None, :])[0] - before
    return phi / math.factorial(m)


def game(m, seed=0):
    rng = np.random.default_rng(seed)
    weights, pairs = rng.normal(size=m), rng.normal(size=(m, m))

    def value(masks):
        masks = masks.astype(float)
        return masks @ weights + np.einsum("ki,ij,kj->k", masks, pairs, masks) + np.sin(masks.sum(axis=1))

    return value


@pytest.mark.parametrize("m", [1, 2, 3, 5, 6])
def test_it_agrees_with_the_definition(m):
    value = game(m)
    assert shapley.exact(value, m).values == pytest.approx(brute_force(value, m), abs=1e-12)


def test_it_gives_a_player_that_never_matters_exactly_zero():
    value = game(6)
    ignoring = lambda masks: value(masks * np.array([1, 1, 0, 1, 1, 1], dtype=bool))  # noqa: E731
    assert shapley.exact(ignoring, 6).values[2] == 0.0


def test_it_shares_out_vector_outputs_column_by_column():
    first, second = game(4, 1), game(4, 2)
    both = shapley.exact(lambda masks: np.stack([first(masks), second(masks)], axis=1), 4)
    assert both.values[:, 0] == pytest.approx(shapley.exact(first, 4).values, abs=1e-12)
    assert both.values[:, 1] == pytest.approx(shapley.exact(second, 4).values, abs=1e-12)


def test_permutation_sampling_adds_up_exactly_and_states_its_error():
    value = game(14, 3)
    estimate = shapley.attribute(value, 14, permutations=64)
    assert estimate.method == "permutation" and estimate.permutations == 64
    full = value(np.ones((1, 14), dtype=bool))[0]
    empty = value(np.zeros((1, 14), dtype=bool))[0]
    assert empty + estimate.values.sum() == pytest.approx(full, abs=1e-9)
    assert (estimate.standard_errors > 0).all()


def test_permutation_sampling_converges_to_the_exact_values():
    value = game(8, 4)
    exact = shapley.exact(value, 8).values
    estimate = shapley.permutation(value, 8, permutations=4_000, seed=1)
    assert np.abs(estimate.values - exact).max() < 5 * estimate.standard_errors.max()


@pytest.mark.parametrize("model_id", ["lead-scoring-v1", "churn-prediction-v1"])
def test_the_logistic_shortcut_plays_the_same_game_as_mixing_rows(trained_predictors, model_id):
    from explanations import games

    predictor = trained_predictors[model_id]
    space = predictor.space()
    owners = [space.columns[name] for name in space.feature_names]
    background = space.background
    masks = shapley.all_coalitions(len(owners))
    for x in background[:3]:
        shortcut = games.encoded_game(predictor, x, background, owners)(masks)
        mixed = games.mixing_game(predictor, x, background, owners)(masks)
        assert games.logistic_link(predictor) is not None
        assert shortcut == pytest.approx(mixed, abs=1e-12)
    # and with some players left out (as a comparison leaves out unchanged features)
    partial = owners[1:3]
    masks = shapley.all_coalitions(2)
    assert games.encoded_game(predictor, background[0], background, partial)(masks) == pytest.approx(
        games.mixing_game(predictor, background[0], background, partial)(masks), abs=1e-12)


@pytest.fixture(scope="module")
def trained_predictors():
    from ml.builtin.training import train_builtin

    return {model_id: train_builtin(model_id).predictor for model_id in ("lead-scoring-v1", "churn-prediction-v1")}
