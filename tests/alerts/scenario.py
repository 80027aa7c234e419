"""Run in a separate process by tests/alerts/test_worker.py (`python -m tests.alerts.scenario
STEP ...`), against that test's own database: `setup` migrates, loads the built-in models and
makes the channels, a rule and a model's failing traffic; `heal` adds healthy traffic; `report` prints
the deliveries and their attempts as JSON."""

from __future__ import annotations

import json
import sys

import django


def main(step: str, *args: str) -> None:
    django.setup()
    from alerts import services
    from alerts.models import Delivery
    from tests.monitoring.support import add_metrics

    if step == "setup":
        from django.core.management import call_command

        fixture, secret, *urls = args
        call_command("migrate", interactive=False, verbosity=0)
        call_command("loaddata", fixture, verbosity=0)
        channels = [services.channel_create(data={"name": f"hook-{i}", "kind": "webhook", "url": url}, secret=secret)
                    for i, url in enumerate(urls)]
        services.rule_create(data={"name": "churn unhealthy", "condition": "health", "level": "unhealthy",
                                   "model_id": "churn-prediction-v1", "min_samples": 5, "cooldown_seconds": 0},
                             channels=channels)
        add_metrics("churn-prediction-v1", [12] * 10, success=False)
    elif step == "heal":
        add_metrics("churn-prediction-v1", [12] * 500)
    elif step == "report":
        rows = [{"channel": d.channel.name, "event": d.event, "status": d.status, "attempts": d.attempts,
                 "log": [[a.ok, a.status_code, a.error] for a in d.attempt_log.all()]}
                for d in Delivery.objects.select_related("channel").order_by("id")]
        print(json.dumps(rows))


if __name__ == "__main__":
    main(*sys.argv[1:])
