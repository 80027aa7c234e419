"""What every app measures: `MetricRecord`s of each prediction request or explanation served.

Apps record through `metrics_record`; the monitoring app, which stores the records and
exposes them to Prometheus, registers itself as a recorder when Django starts
(monitoring.services). Recording this way keeps predictions and explanations below
monitoring: they never import it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

logger = logging.getLogger(__name__)


@dataclass
class MetricRecord:
    model_id: str
    model_version: str
    timestamp: datetime
    latency_ms: float
    confidence: float | None
    cached: bool
    success: bool
    provider: str
    ab_arm: str = ""
    error: str = ""
    error_code: str = ""
    kind: str = "prediction"
    # Predictions this record stands for: a request's rows of one model, arm and kind
    # (monitoring.models.Metric).
    rows: int = 1
    # Carries its request's latency (one record per request, model and arm does).
    timed: bool = True


Recorder = Callable[[list[MetricRecord]], None]
_recorders: list[Recorder] = []


def recorder_register(recorder: Recorder) -> Recorder:
    if recorder not in _recorders:
        _recorders.append(recorder)
    return recorder


def metrics_record(records: list[MetricRecord]) -> None:
    """Record metrics; a failing metric store never fails the request that produced them."""
    for recorder in _recorders:
        try:
            recorder(records)
        except Exception:
            logger.exception("Could not record %d metric(s)", len(records))
