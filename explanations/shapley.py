"""Shapley values of a cooperative game given as a batched value function.

A game has `m` players; `value(masks)` takes a boolean matrix (coalitions x players) and
returns one number per coalition, so every evaluation a calculation needs goes to the model
in one call. Up to `EXACT_LIMIT` players the values are exact (all 2^m coalitions);
beyond, they are a permutation-sampling estimate with its standard error.

Hand-written rather than taken from `shap`: shap builds its coalition rows feature column by
feature column and cannot treat a category's one-hot columns, or a remote model's raw rows,
as one player; the enumeration itself is a dozen lines of numpy (and shap stays a test-only
dependency, used to check these values).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

EXACT_LIMIT = 12
ValueFunction = Callable[[np.ndarray], np.ndarray]


@dataclass
class Attribution:
    """`value` may return one number per coalition or a vector (several outputs at once, as
    for a recommendation's items); `base`, `output` and each player's value follow suit."""

    base: Any  # v(empty coalition)
    output: Any  # v(all players)
    values: np.ndarray  # players (x outputs); base + sum(values) == output
    method: str  # "exact" | "permutation"
    standard_errors: np.ndarray | None = None  # permutation only
    permutations: int = 0
    evaluations: int = 0


@lru_cache(maxsize=EXACT_LIMIT + 1)
def all_coalitions(m: int) -> np.ndarray:
    """(2^m x m) booleans; row k holds the players of the bits set in k."""
    codes = np.arange(2**m, dtype=np.int64)[:, None]
    masks = (codes >> np.arange(m, dtype=np.int64)) & 1 == 1
    masks.flags.writeable = False
    return masks


@lru_cache(maxsize=EXACT_LIMIT + 1)
def shapley_matrix(m: int) -> np.ndarray:
    """(m x 2^m) weights W with phi = W @ v:
    phi_i = sum over S without i of |S|!(m-|S|-1)!/m! (v(S + i) - v(S)), so W[i, S] is
    +w(|S| - 1) when i is in S and -w(|S|) when it is not."""
    masks = all_coalitions(m)
    sizes = masks.sum(axis=1)
    w = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)] + [0.0])
    matrix = np.where(masks.T, w[np.maximum(sizes - 1, 0)][None, :], -w[sizes][None, :])
    matrix.flags.writeable = False
    return matrix


def exact(value: ValueFunction, m: int) -> Attribution:
    v = np.asarray(value(all_coalitions(m)), dtype=float)
    phi = np.tensordot(shapley_matrix(m), v, axes=1) if m else np.zeros((0, *v.shape[1:]))
    return Attribution(base=v[0], output=v[-1], values=phi, method="exact", evaluations=len(v))


def permutation(value: ValueFunction, m: int, *, permutations: int, seed: int = 0) -> Attribution:
    """Antithetic permutation sampling: each permutation and its reverse, as a pair.

    Every permutation's marginal contributions telescope to v(all) - v(empty), so the
    estimate adds up exactly; the standard error is over the pairs.
    """
    pairs = max(permutations // 2, 2)
    rng = np.random.default_rng(seed)
    orders = []
    for _ in range(pairs):
        order = rng.permutation(m)
        orders += [order, order[::-1]]
    # for each order, the m + 1 growing coalitions: empty, {o0}, {o0, o1}, ..., all
    masks = np.zeros((len(orders), m + 1, m), dtype=bool)
    for k, order in enumerate(orders):
        for step, player in enumerate(order):
            masks[k, step + 1 :, player] = True
    v = np.asarray(value(masks.reshape(-1, m)), dtype=float)
    v = v.reshape(len(orders), m + 1, *v.shape[1:])
    marginal = np.zeros((len(orders), m, *v.shape[2:]))
    for k, order in enumerate(orders):
        marginal[k, order] = np.diff(v[k], axis=0)
    paired = (marginal[0::2] + marginal[1::2]) / 2
    phi = paired.mean(axis=0)
    error = paired.std(axis=0, ddof=1) / math.sqrt(len(paired))
    return Attribution(
        base=v[0, 0], output=v[0, -1], values=phi, method="permutation",
        standard_errors=error, permutations=len(orders), evaluations=len(orders) * (m + 1),
    )


def attribute(value: ValueFunction, m: int, *, permutations: int, seed: int = 0) -> Attribution:
    if m <= EXACT_LIMIT:
        return exact(value, m)
    return permutation(value, m, permutations=permutations, seed=seed)
