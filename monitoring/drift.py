"""Input drift: a tabular model's recent inputs against a reference sample of what its
inputs should look like, the first of:
1. a sample an admin uploaded (POST /models/{id}/drift-reference/, monitoring.DriftReference);
2. its `providerConfig.config.explanationBackground` (remote models);
3. the sample of its training data kept with its artifact (`TabularSpace.extra["reference"]`,
   written by ml/builtin/tabular.py; built-in models).

Per scalar feature, scipy does the test: two-sample Kolmogorov-Smirnov for numbers,
chi-squared on the contingency table for categories and booleans. A feature drifts when
its test is significant after a Bonferroni correction over the features tested AND its
population stability index (PSI) shows a shift that matters (>= 0.2 by convention), so a
large sample cannot flag a negligible difference.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone
from scipy import stats

from hotcrm_ai.errors import InvalidInput
from ml.base import TabularPredictor
from ml.schema import parse_schema
from monitoring.models import DriftReference, rows_to_columns
from monitoring.thresholds import thresholds_for
from predictions.features import validate
from predictions.models import PredictionLog
from registry.models import MLModel

logger = logging.getLogger(__name__)
NUMERIC = {"integer", "number"}
CATEGORICAL = {"category", "boolean"}
PSI_BINS = 10
PSI_FLOOR = 1e-4  # keeps log(0) out of PSI where a bin is empty on one side


UPLOADED, BACKGROUND, TRAINING = "upload", "explanationBackground", "trainingData"
SOURCE_WORDS = {UPLOADED: "the uploaded reference sample", BACKGROUND: "the explanation background",
                TRAINING: "the training data"}


def reference_sample(model: MLModel) -> tuple[dict[str, list[Any]], str] | None:
    """The model's reference values per feature and where they come from, or None."""
    uploaded = DriftReference.objects.filter(model_id=model.pk).first()
    if uploaded is not None:
        return uploaded.columns(), UPLOADED
    background = _background_sample(model)
    if background:
        return background, BACKGROUND
    training = _training_sample(model)
    return (training, TRAINING) if training else None


def _background_sample(model: MLModel) -> dict[str, list[Any]] | None:
    """`providerConfig.config.explanationBackground`, validated as explanations validate it
    (rows that do not fit the schema leave the sample without them)."""
    config = (model.provider_config or {}).get("config")
    raw = config.get("explanationBackground") if isinstance(config, dict) else None
    if not isinstance(raw, list) or not raw or not model.feature_schema:
        return None
    rows = []
    for row in raw:
        try:
            rows.append(validate(model, row))
        except InvalidInput:
            logger.warning("An explanationBackground row of %s does not fit its schema", model.pk)
    return rows_to_columns(rows) or None


def _training_sample(model: MLModel) -> dict[str, list[Any]] | None:
    from predictions.providers import provider_for
    from predictions.providers.local import LocalProvider

    if model.provider != "local":
        return None
    try:
        provider = provider_for(model)
        predictor = provider.predictor(model) if isinstance(provider, LocalProvider) else None
    except Exception:
        logger.warning("No predictor to read the drift reference of %s", model.pk, exc_info=True)
        return None
    if not isinstance(predictor, TabularPredictor):
        return None
    return predictor.space().extra.get("reference")


def recent_inputs(model: MLModel, limit: int, window: int) -> list[dict[str, Any]]:
    since = timezone.now() - timedelta(seconds=window)
    return list(
        PredictionLog.objects.filter(model_id=model.pk, created_at__gte=since, shadow=False)
        .order_by("-created_at")
        .values_list("features", flat=True)[:limit]
    )


def model_drift(model: MLModel) -> dict[str, Any]:
    """`{available, reason?, sampleSize, referenceSize, referenceSource, comparedWith,
    features: [...], drifting: [...]}`."""
    if not model.feature_schema or not model.feature_schema.get("features"):
        return {"available": False, "features": [], "drifting": [],
                "reason": "This model has no featureSchema: drift is judged feature by feature, so it needs one."}
    limits = thresholds_for(model.health_thresholds)
    found = reference_sample(model)
    if not found:
        return {"available": False, "features": [], "drifting": [],
                "reason": "No reference sample to compare with: upload one (POST /api/v1/models/{id}/"
                          "drift-reference/) or set providerConfig.config.explanationBackground."}
    reference, source = found
    inputs = recent_inputs(model, settings.HOTCRM["DRIFT_SAMPLE"], settings.HOTCRM["DRIFT_WINDOW"])
    needed = int(limits["driftMinSamples"])
    base = {"sampleSize": len(inputs), "referenceSize": max(map(len, reference.values()), default=0),
            "referenceSource": source, "comparedWith": SOURCE_WORDS[source]}
    if len(inputs) < needed:
        return {"available": False, **base, "features": [], "drifting": [],
                "reason": f"Only {len(inputs)} recent input(s); drift is judged from {needed}."}
    specs = [s for s in parse_schema(model.feature_schema) if s.name in reference]
    tested = [s for s in specs if s.type in NUMERIC | CATEGORICAL]
    alpha = limits["driftPValue"] / max(1, len(tested))
    features = []
    for spec in specs:
        current = [row.get(spec.name) for row in inputs if row.get(spec.name) is not None]
        if spec.type not in NUMERIC | CATEGORICAL or not current:
            features.append({"feature": spec.name, "label": spec.label, "test": None, "drifting": False,
                             "note": "not compared (free text)" if current else "no values"})
            continue
        result = (_numeric if spec.type in NUMERIC else _categorical)(reference[spec.name], current)
        result["drifting"] = bool(result["pValue"] < alpha and result["psi"] >= limits["driftPsi"])
        features.append({"feature": spec.name, "label": spec.label, **result})
    return {"available": True, **base, "features": features,
            "drifting": [f["feature"] for f in features if f["drifting"]]}


def _numeric(reference: list[Any], current: list[Any]) -> dict[str, Any]:
    ref, cur = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    test = stats.ks_2samp(ref, cur)
    # PSI over the reference's deciles; the outer bins are open so nothing falls outside.
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, PSI_BINS + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    if len(edges) < 3:  # a (nearly) constant reference: split at its value
        edges = np.array([-np.inf, float(np.median(ref)), np.inf])
    ref_counts, _ = np.histogram(ref, edges)
    cur_counts, _ = np.histogram(cur, edges)
    return {"test": "ks", "statistic": _r(test.statistic), "pValue": float(test.pvalue),
            "psi": _psi(ref_counts, cur_counts),
            "reference": {"mean": _r(ref.mean()), "median": _r(np.median(ref))},
            "current": {"mean": _r(cur.mean()), "median": _r(np.median(cur))}}


def _categorical(reference: list[Any], current: list[Any]) -> dict[str, Any]:
    ref, cur = [str(v) for v in reference], [str(v) for v in current]
    categories = sorted(set(ref) | set(cur))
    ref_counts = np.array([ref.count(c) for c in categories])
    cur_counts = np.array([cur.count(c) for c in categories])
    if len(categories) < 2:
        statistic, p_value = 0.0, 1.0
    else:
        test = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))
        statistic, p_value = float(test.statistic), float(test.pvalue)
    share = dict(zip(categories, np.round(100 * cur_counts / len(cur), 1).tolist(), strict=True))
    ref_share = dict(zip(categories, np.round(100 * ref_counts / len(ref), 1).tolist(), strict=True))
    return {"test": "chi2", "statistic": _r(statistic), "pValue": p_value,
            "psi": _psi(ref_counts, cur_counts), "reference": {"share": ref_share}, "current": {"share": share}}


def _psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    # Hand-written: scipy has no PSI and it is one line of arithmetic over the bins.
    ref = np.maximum(ref_counts / ref_counts.sum(), PSI_FLOOR)
    cur = np.maximum(cur_counts / cur_counts.sum(), PSI_FLOOR)
    return _r(np.sum((cur - ref) * np.log(cur / ref)))


def _r(value: Any) -> float:
    return round(float(value), 4)
