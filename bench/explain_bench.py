"""Explanation benchmark: our exact Shapley values against `shap.explainers.Exact` on the same
model, the same row and the same background, in one run.

    .venv/bin/python bench/explain_bench.py [--repeats N]

For each built-in tabular model it trains the model (as `train_builtin_models` does), then
times `TabularExplainer.explain` (the service's own code path, without HTTP and cache) and
shap's exact explainer (constructed once and warmed up, so numba's compilation is not
counted) on the same rows, prints the medians, their ratio and the largest difference between
the two sets of values.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotcrm_ai.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import shap  # noqa: E402

from explanations.explainers import TabularExplainer  # noqa: E402
from ml.builtin.training import CATALOG, train_builtin  # noqa: E402
from ml.schema import parse_schema, validate_features  # noqa: E402
from registry.models import MLModel  # noqa: E402
from tests.explanations.support import feature_level  # noqa: E402
from tests.ml.support import COLD_LEAD, HAPPY_ACCOUNT, HOT_LEAD  # noqa: E402

ROWS = {
    "lead-scoring-v1": [HOT_LEAD, COLD_LEAD],
    "lead-scoring-v2": [HOT_LEAD, COLD_LEAD],
    "churn-prediction-v1": [
        HAPPY_ACCOUNT,
        {"account_age": 4, "support_tickets": 9, "usage_frequency": 2, "nps_score": -40, "payment_delays": 3},
    ],
}


def median_ms(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench(model_id: str, repeats: int) -> tuple[float, float, float]:
    result = train_builtin(model_id)
    predictor = result.predictor
    model = MLModel(id=model_id, feature_schema=result.feature_schema, provider_config={})
    explainer = TabularExplainer(model, predictor)
    background = predictor.space().background
    ours_ms, shap_ms, worst = [], [], 0.0
    for features in ROWS[model_id]:
        row = validate_features(parse_schema(result.feature_schema), features)
        x = predictor.encode([row])[0]
        codes, function = feature_level(predictor, np.vstack([x[None, :], background]))
        exact = shap.explainers.Exact(function, shap.maskers.Independent(codes[1:], max_samples=len(background)))
        reference = exact(codes[:1], silent=True)  # warm-up (numba) and the values to compare
        ours = explainer.explain(row)
        worst = max(worst, float(np.max(np.abs(ours.attribution.values - reference.values[0]))))
        ours_ms.append(median_ms(lambda r=row: explainer.explain(r), repeats))
        shap_ms.append(median_ms(lambda c=codes, e=exact: e(c[:1], silent=True), repeats))
    return statistics.median(ours_ms), statistics.median(shap_ms), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"{'model':<22}{'features':>9}{'background':>11}{'ours ms':>10}{'shap ms':>10}{'speed-up':>10}{'max |diff|':>12}")
    for model_id in ROWS:
        ours, reference, worst = bench(model_id, args.repeats)
        features = len(parse_schema(CATALOG[model_id].feature_schema))
        print(f"{model_id:<22}{features:>9}{100:>11}{ours:>10.2f}{reference:>10.2f}{reference / ours:>9.1f}x{worst:>12.1e}")


if __name__ == "__main__":
    main()
