"""monitoring/prometheus/alerts.yml: valid for Prometheus (`promtool check rules`), each rule
fires on the series it should and only there (`promtool test rules alerts_test.yml`), and
every metric it names is one /metrics really exposes, labels included."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from alerts.models import Incident
from tests.monitoring.support import CHURN, predict

RULES = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def register_remote_model() -> None:
    from registry.services import model_register

    model_register(data={
        "id": "remote-deal", "name": "remote-deal", "version": "1", "type": "regression", "provider": "custom",
        "provider_config": {"endpoint": "http://127.0.0.1:9/v1/models/deal:predict"},
        "feature_schema": {"features": [{"name": "amount", "type": "number"}]},
    })


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert Path(PROMTOOL).exists(), "promtool is missing: run scripts/setup-promtool"
    return subprocess.run([PROMTOOL, *args], cwd=RULES, capture_output=True, text=True, timeout=120)


def test_it_ships_rules_promtool_accepts():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def test_it_fires_each_rule_on_the_series_that_should_fire_it():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_it_names_only_metrics_and_labels_that_metrics_exposes(client, api):
    predict(api, "churn-prediction-v1", CHURN)
    register_remote_model()  # its circuit state is on /metrics
    Incident.objects.create(rule_name="drift watch", condition="drift", model_id="churn-prediction-v1",
                            status="firing", since=timezone.now(), fired_at=timezone.now())
    exposed: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(client.get("/metrics").content.decode()):
        for sample in family.samples:
            exposed.setdefault(sample.name, set()).update(sample.labels)
    assert exposed["hotcrm_alert_firing"] == {"model", "rule", "condition"}
    expressions = [r["expr"] for g in yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
                   for r in g["rules"]]
    named = {name for expr in expressions for name in re.findall(r"\b(hotcrm_\w+)", expr)}
    assert named == {"hotcrm_predictions_total", "hotcrm_prediction_latency_seconds_bucket",
                     "hotcrm_alert_firing", "hotcrm_metric_store_failures_total", "hotcrm_provider_circuit_state"}
    for name in named:
        assert name in exposed, name
    used_labels = {label for expr in expressions for label in re.findall(r"(\w+)=\"", expr)}
    used_labels |= {label for expr in expressions for group in re.findall(r"by \(([^)]*)\)", expr)
                    for label in map(str.strip, group.split(","))}
    available = (exposed["hotcrm_predictions_total"] | exposed["hotcrm_alert_firing"]
                 | exposed["hotcrm_provider_circuit_state"] | {"le"})
    assert used_labels <= available, used_labels - available
