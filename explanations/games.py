"""Value functions ("games") whose Shapley values are the explanations.

Interventional Shapley for a row x and a background sample B: v(S) is the mean model output
over b in B of the row that takes the features in S from x and the others from b. Every row
all the coalitions need is built at once and sent to the model in as few calls as possible:
- a local tabular model mixes rows in its already-encoded space (each input feature owns its
  columns, a category all of its one-hot columns) and evaluates only its numeric output;
- any other model (any provider) gets raw feature rows, de-duplicated, in chunked batches.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.special import expit
from threadpoolctl import ThreadpoolController

from ml.base import TabularPredictor
from ml.builtin.leads import LeadScorer
from ml.builtin.tabular import BinaryClassifier, BoostedTreesFastPath, LogisticFastPath

# Rows evaluated per chunk in process: bounds memory (rows x columns floats) on 2^12 coalitions.
LOCAL_CHUNK_ROWS = 200_000
RowsFunction = Callable[[list[dict[str, Any]]], list[float]]
TextsFunction = Callable[[list[str]], list[float]]


def row_key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_controller: ThreadpoolController | None = None


def _one_thread():
    """A one-thread limit; the controller is built once, as finding the libraries takes ~5 ms."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1)


def encoded_game(
    predictor: TabularPredictor, x: np.ndarray, background: np.ndarray, owners: Sequence[Sequence[int]]
) -> Callable[[np.ndarray], np.ndarray]:
    """v(S) over encoded rows: `owners[i]` are the matrix columns player i owns."""
    link = logistic_link(predictor)
    if link is not None:
        return logistic_game(link, x, background, owners)
    return mixing_game(predictor, x, background, owners)


def logistic_link(predictor: TabularPredictor) -> tuple[np.ndarray, float, float] | None:
    """(weights, intercept, scale) when the output is scale * sigmoid(matrix @ weights + b)."""
    model = getattr(predictor, "model", None)
    if not isinstance(model, LogisticFastPath) or not isinstance(predictor, BinaryClassifier):
        return None
    scale = 100.0 if isinstance(predictor, LeadScorer) else 1.0  # the lead score is p x 100
    return model.weights, model.intercept, scale


def logistic_game(
    link: tuple[np.ndarray, float, float], x: np.ndarray, background: np.ndarray, owners: Sequence[Sequence[int]]
) -> Callable[[np.ndarray], np.ndarray]:
    """The mixing game of a logistic model without building the mixed rows: the log-odds are a
    sum over columns, so each player adds its columns' terms from x or from the background row
    (coalitions x players @ players x background rows), and only the sigmoid is per row."""
    weights, intercept, scale = link
    x = np.asarray(x, dtype=float).reshape(-1)
    projection = np.zeros((len(weights), len(owners)))  # column c of player i -> weight c
    for player, columns in enumerate(owners):
        projection[list(columns), player] = weights[list(columns)]
    unowned = weights * (projection == 0).all(axis=1)
    from_x = x @ projection  # players
    from_background = background @ projection  # background rows x players
    fixed = intercept + background @ unowned  # background rows

    def value(masks: np.ndarray) -> np.ndarray:
        chosen = masks.astype(float)
        logits = (fixed[None, :] + (chosen @ from_x)[:, None]) + (1.0 - chosen) @ from_background.T
        return scale * expit(logits).mean(axis=1)

    return value


def mixing_game(
    predictor: TabularPredictor, x: np.ndarray, background: np.ndarray, owners: Sequence[Sequence[int]]
) -> Callable[[np.ndarray], np.ndarray]:
    """Any tabular model: the rows of every coalition built in encoded space and evaluated."""
    ownership = np.zeros((len(owners), x.shape[-1]), dtype=bool)
    for player, columns in enumerate(owners):
        ownership[player, list(columns)] = True
    x = np.asarray(x, dtype=float).reshape(-1)
    n = len(background)
    threaded = isinstance(getattr(predictor, "model", None), BoostedTreesFastPath)

    def value(masks: np.ndarray) -> np.ndarray:
        columns = (masks.astype(np.int8) @ ownership.astype(np.int8)) > 0  # coalitions x columns
        out = np.empty(len(masks))
        step = max(LOCAL_CHUNK_ROWS // n, 1)
        # One thread for scikit-learn's tree ensembles: on a busy server their OpenMP threads
        # spin-wait for each other and made a 3,200-row evaluation ~15x slower, not faster.
        # (Numpy-only models skip the limit, which costs more than their whole evaluation.)
        with _one_thread() if threaded else contextlib.nullcontext():
            for start in range(0, len(masks), step):
                chunk = columns[start : start + step]
                mixed = np.where(chunk[:, None, :], x[None, None, :], background[None, :, :])
                outputs = predictor.output(mixed.reshape(-1, x.shape[0]))
                out[start : start + step] = outputs.reshape(len(chunk), n).mean(axis=1)
        return out

    return value


def row_game(
    evaluate: RowsFunction, x: dict[str, Any], background: list[dict[str, Any]], players: Sequence[str]
) -> Callable[[np.ndarray], np.ndarray]:
    """v(S) over raw feature rows, for any model reached through `evaluate`."""
    def value(masks: np.ndarray) -> np.ndarray:
        rows = [
            {**b, **{name: x[name] for name, keep in zip(players, mask, strict=True) if keep}}
            for mask in masks
            for b in background
        ]
        return np.asarray(evaluate_unique(evaluate, rows)).reshape(len(masks), len(background)).mean(axis=1)

    return value


def evaluate_unique(evaluate: RowsFunction, rows: list[dict[str, Any]]) -> list[float]:
    """Send each distinct row once: coalitions repeat rows whenever x and b agree somewhere."""
    keys = [row_key(row) for row in rows]
    index: dict[str, int] = {}
    unique: list[dict[str, Any]] = []
    for key, row in zip(keys, rows, strict=True):
        if key not in index:
            index[key] = len(unique)
            unique.append(row)
    results = evaluate(unique)
    return [results[index[key]] for key in keys]


def words_game(evaluate: TextsFunction, words: list[str]) -> Callable[[np.ndarray], np.ndarray]:
    """v(S) = the model's output on the text made of the words in S alone, in their order."""
    def value(masks: np.ndarray) -> np.ndarray:
        texts = [" ".join(w for w, keep in zip(words, mask, strict=True) if keep) for mask in masks]
        unique = sorted(set(texts))
        results = dict(zip(unique, evaluate(unique), strict=True))
        return np.array([results[t] for t in texts], dtype=float)

    return value
