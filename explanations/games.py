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
from threadpoolctl import ThreadpoolController

from ml.base import TabularPredictor
from ml.builtin.tabular import BoostedTreesFastPath

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
