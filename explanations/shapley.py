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
def coalition_pairs(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each player i, every coalition S without i, S with i added, and the weight
    |S|!(m-|S|-1)!/m!: phi_i = sum of weight * (v(S + i) - v(S)). Differences, not two
    weighted sums, so a player the model ignores gets exactly 0."""
    codes = np.arange(2**m, dtype=np.int64)
    sizes = np.bitwise_count(codes.astype(np.uint64)).astype(int)
    w = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)])
    without = np.array([codes[(codes >> i) & 1 == 0] for i in range(m)]).reshape(m, -1)
    with_i = without | (1 << np.arange(m, dtype=np.int64))[:, None]
    weights = w[sizes[without]]
    for array in (without, with_i, weights):
        array.flags.writeable = False
    return without, with_i, weights


def exact(value: ValueFunction, m: int) -> Attribution:
    v = np.asarray(value(all_coalitions(m)), dtype=float)
    if not m:
        return Attribution(base=v[0], output=v[-1], values=np.zeros((0, *v.shape[1:])), method="exact", evaluations=1)
    without, with_i, weights = coalition_pairs(m)
    phi = np.einsum("ik,ik...->i...", weights, v[with_i] - v[without])
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
