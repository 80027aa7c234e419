"""`hotcrm_alert_firing` on /metrics: the evaluator's firing incidents, so Prometheus can
route the conditions only the service can judge (drift, A/B verdicts, open circuits,
failed jobs) through Alertmanager (monitoring/prometheus/alerts.yml)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)


class FiringIncidentsCollector:
    def collect(self) -> Iterator[GaugeMetricFamily]:
        from alerts.models import Incident

        family = GaugeMetricFamily("hotcrm_alert_firing", "Alert incidents firing now, by model and rule.",
                                   labels=["model", "rule", "condition"])
        try:
            rows = Incident.objects.filter(status=Incident.Status.FIRING).values_list(
                "model_id", "rule_name", "condition")
            for row in rows:
                family.add_metric(list(row), 1)
        except Exception:
            # A scrape must still answer with the other metrics while the database is away.
            logger.warning("Could not read firing incidents for /metrics", exc_info=True)
        yield family
