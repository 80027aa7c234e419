"""The A/B test report: both arms side by side (predictions, latency, failures, outcomes)
and the verdict on whether the challenger is better."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from django.db.models import Avg, Count, Q, QuerySet, Sum

from core.shapes import body_of
from hotcrm_ai.errors import NotSupported
from monitoring.models import PREDICTION, Metric
from predictions.ab.verdict import compare_accuracy, compare_errors
from predictions.feedback import LABEL_TYPES
from predictions.models import PredictionLog
from predictions.selectors import outcome_summary
from predictions.serializers import AbArmReport, AbTestReport
from registry.models import AbArm, AbMode, MLModel


def ab_test_report(model: MLModel) -> dict[str, Any]:
    """Both arms of the A/B test in which `model` is the challenger, and the verdict.

    Each arm's predictions, failures and latency are its served traffic; a challenger's
    shadow runs are counted apart (`shadowRuns`, `shadowFailures`). Outcomes, accuracy/MAE
    and mean confidence judge every answer the arm gave, served or shadow: in shadow mode
    the challenger is judged on its shadow runs' outcomes."""
    champion = model.ab_champion
    if champion is None:
        raise NotSupported(f"'{model.pk}' is not the challenger of an A/B test.", code="no_ab_test")
    if champion.type != model.type:
        # The registry refuses this pairing (MLModel._ab_errors); a row from before that check
        # gets an answer, not a comparison of answers that cannot be compared.
        raise NotSupported(f"'{model.pk}' is a {model.type} model and its champion '{champion.pk}' a "
                           f"{champion.type} model: their answers cannot be compared.", code="ab_types_differ")
    logs = PredictionLog.objects.filter(requested_model_id=model.pk)
    metrics = Metric.objects.filter(kind=PREDICTION)
    challenger_arms = [AbArm.CHALLENGER, AbArm.SHADOW]
    challenger, c = _arm(model, logs.filter(model_id=model.pk, ab_arm__in=challenger_arms),
                         metrics.filter(model_id=model.pk, ab_arm__in=challenger_arms))
    champion_arm, h = _arm(champion, logs.filter(model_id=champion.pk, ab_arm=AbArm.CHAMPION),
                           metrics.filter(model_id=champion.pk, ab_arm=AbArm.CHAMPION))
    share = model.ab_traffic_percentage
    # Outcomes expected on the champion per outcome on the challenger: in shadow mode the
    # champion answers all traffic and the challenger runs on `share`% of it.
    served_by_champion = 100 if model.ab_mode == AbMode.SHADOW else 100 - share
    expected_ratio = served_by_champion / share if 0 < share < 100 else 1.0
    metric: Literal["accuracy", "mae"]
    if model.type in LABEL_TYPES:
        metric = "accuracy"
        verdict = compare_accuracy(c["correct"], c["outcomes"], h["correct"], h["outcomes"],
                                   expected_ratio=expected_ratio)
    else:
        metric = "mae"
        verdict = compare_errors(c["errors"], h["errors"], expected_ratio=expected_ratio)
    return body_of(AbTestReport(
        modelId=model.pk, championModelId=champion.pk, enabled=model.ab_enabled,
        mode=model.ab_mode, trafficPercentage=share, metric=metric,
        arms={AbArm.CHALLENGER: challenger, AbArm.CHAMPION: champion_arm},
        significance=verdict.significance(), verdict=verdict.text,
    ))


def _arm(model: MLModel, logs: QuerySet[PredictionLog],
         metrics: QuerySet[Metric]) -> tuple[AbArmReport, dict[str, Any]]:
    """One arm's report, and its outcome summary for the verdict."""
    counts = logs.aggregate(predictions=Count("id", filter=Q(shadow=False)), shadow=Count("id", filter=Q(shadow=True)),
                            confidence=Avg("confidence"))
    served, shadow = metrics.exclude(ab_arm=AbArm.SHADOW), metrics.filter(ab_arm=AbArm.SHADOW)
    # one latency per request (Metric.timed): a batch is one observation, not one per row
    latencies = np.asarray(served.filter(success=True, timed=True).values_list("latency_ms", flat=True), float)
    outcomes = outcome_summary(logs, model.type)
    return AbArmReport(
        modelId=model.pk, modelVersion=model.version,
        predictions=counts["predictions"], shadowRuns=counts["shadow"],
        failures=_rows(served.filter(success=False)), shadowFailures=_rows(shadow.filter(success=False)),
        latency={
            "mean": round(float(latencies.mean()), 3) if latencies.size else None,
            "p95": round(float(np.percentile(latencies, 95)), 3) if latencies.size else None,
        },
        meanConfidence=round(counts["confidence"], 2) if counts["confidence"] is not None else None,
        outcomes=outcomes["outcomes"], accuracy=outcomes["accuracy"], mae=outcomes["mae"],
    ), outcomes


def _rows(metrics: QuerySet[Metric]) -> int:
    return metrics.aggregate(n=Sum("rows"))["n"] or 0
