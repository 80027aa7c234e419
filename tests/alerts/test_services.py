"""The evaluator and its incident state machine, judged over real metrics: one notification
when an incident fires, one when it resolves, none in between, damped by `for`, cooldown
and minSamples."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Delivery, DeliveryAttempt, Incident
from alerts.services import evaluator_lease_release, evaluator_lease_take
from tests.alerts.support import SECRET, rule, webhook_channel
from tests.monitoring.support import add_metrics
from tests.predictions.providers.conftest import predict, register
from tests.predictions.providers.servers import LocalServer, Reply

pytestmark = pytest.mark.django_db
ROW = {"amount": 120, "segment": "enterprise"}


@pytest.fixture
def provider():
    server = LocalServer(lambda request: Reply(500, {"error": "boom"}))
    yield server
    server.close()


def test_it_sends_one_firing_then_one_resolved_for_a_model_a_failing_provider_made_unhealthy(
        api, provider, receiver, evaluate):
    register("flaky-v1", "custom", endpoint=f"{provider.url}/v1/models/deal:predict",
             config={"retries": 0, "circuitFailureThreshold": 1000}, health_thresholds={"windowSeconds": 2})
    rule(channels=[webhook_channel(receiver.url)], model_id="flaky-v1")
    for _ in range(4):
        assert predict(api, "flaky-v1", ROW).status_code == 502
    evaluate()
    evaluate()  # still firing: nobody is told again
    events = receiver.events()
    assert [kind for kind, _ in events] == ["alert.firing"]
    incident = events[0][1]["incident"]
    assert incident["modelId"] == "flaky-v1" and incident["status"] == "firing"
    assert "unhealthy" in incident["reason"] and incident["resolvedAt"] is None
    assert events[0][1]["dashboardUrl"].endswith("/dashboard/models/flaky-v1/")

    provider.handle = lambda request: Reply(200, {"predictions": [{"score": 0.7}]})
    time.sleep(2.1)  # the failures leave the 2 s health window
    for _ in range(3):
        assert predict(api, "flaky-v1", ROW).status_code == 200
    evaluate()
    evaluate()
    events = receiver.events()
    assert [kind for kind, _ in events] == ["alert.firing", "alert.resolved"]
    resolved = events[1][1]["incident"]
    assert resolved["id"] == incident["id"] and resolved["status"] == "resolved" and resolved["resolvedAt"]
    # Each notification its own message id, the same on every retry; each attempt recorded.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 2
    assert DeliveryAttempt.objects.filter(ok=True).count() == 2


def test_it_signs_with_the_channels_secret_only(receiver, evaluate):
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    rule(channels=[webhook_channel(receiver.url)], model_id="churn-prediction-v1")
    evaluate()
    request = receiver.requests[0]
    assert receiver.events(SECRET)
    other = "whsec_" + "A" * 43 + "="
    with pytest.raises(Exception, match="signature"):
        receiver.events(other)
    assert SECRET.encode() not in request.body and SECRET not in str(request.headers)


def test_it_waits_for_the_for_duration_before_firing_and_tells_nobody_about_a_blip(receiver, evaluate):
    rule(channels=[webhook_channel(receiver.url)], model_id="churn-prediction-v1", for_seconds=60)
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    now = timezone.now()
    evaluate(now=now)
    assert Incident.objects.get().status == "pending"
    evaluate(now=now + timedelta(seconds=30))
    assert receiver.requests == []
    evaluate(now=now + timedelta(seconds=61))
    assert [kind for kind, _ in receiver.events()] == ["alert.firing"]

    # A blip shorter than `for`: pending, then gone without a word.
    Incident.objects.all().delete()
    receiver.reset()
    evaluate(now=now)
    add_metrics("churn-prediction-v1", [10] * 200)  # errors fall to 2.4 %: healthy
    evaluate(now=now + timedelta(seconds=30))
    assert not Incident.objects.exists() and receiver.requests == []


def test_it_keeps_quiet_during_the_cooldown_after_a_resolution(receiver, evaluate):
    rule(channels=[webhook_channel(receiver.url)], model_id="churn-prediction-v1", cooldown_seconds=600)
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    evaluate()
    add_metrics("churn-prediction-v1", [10] * 200)
    evaluate()
    add_metrics("churn-prediction-v1", [10] * 100, success=False)
    evaluate()  # unhealthy again within the cooldown: flapping, damped
    assert [kind for kind, _ in receiver.events()] == ["alert.firing", "alert.resolved"]
    later = timezone.now() + timedelta(seconds=601)
    add_metrics("churn-prediction-v1", [10] * 100, success=False, age_seconds=-601)
    evaluate(now=later)
    assert [kind for kind, _ in receiver.events()][-1] == "alert.firing"
    assert Incident.objects.filter(status="firing").count() == 1


def test_it_judges_nothing_below_min_samples(receiver, evaluate):
    rule(channels=[webhook_channel(receiver.url)], model_id="churn-prediction-v1", min_samples=20)
    add_metrics("churn-prediction-v1", [10] * 19, success=False)
    evaluate()
    assert not Incident.objects.exists()
    add_metrics("churn-prediction-v1", [10], success=False)
    evaluate()
    assert Incident.objects.get().status == "firing"


def test_it_watches_every_active_model_when_a_rule_names_none(receiver, evaluate):
    rule(channels=[webhook_channel(receiver.url)])
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    add_metrics("lead-scoring-v1", [10] * 5, success=False)
    add_metrics("sentiment-analysis-v1", [10] * 5)
    counts = evaluate()
    assert counts["fired"] == 2 and counts["checks"] >= 6
    assert sorted(body["incident"]["modelId"] for _, body in receiver.events()) == [
        "churn-prediction-v1", "lead-scoring-v1"]


def test_it_measures_error_rate_and_p95_over_the_rules_window(receiver, evaluate):
    channel = webhook_channel(receiver.url)
    rule("errors", channels=[channel], condition="errorRate", level="", threshold=20, for_seconds=60,
         model_id="churn-prediction-v1")
    rule("slow", channels=[channel], condition="p95Latency", level="", threshold=300, for_seconds=60,
         model_id="lead-scoring-v1")
    add_metrics("churn-prediction-v1", [10] * 10, success=False, age_seconds=120)  # outside the window
    add_metrics("churn-prediction-v1", [10] * 8)
    add_metrics("churn-prediction-v1", [10] * 3, success=False)  # 27 % in the window
    add_metrics("lead-scoring-v1", [100] * 10 + [900] * 2)
    evaluate()
    reasons = {body["incident"]["rule"]: body["incident"]["reason"] for _, body in receiver.events()}
    assert set(reasons) == {"errors", "slow"}
    assert "27.3%" in reasons["errors"] and "above 20%" in reasons["errors"]
    assert "above 300 ms" in reasons["slow"]


def test_it_notices_a_model_that_stopped_getting_traffic(receiver, evaluate):
    rule("quiet", channels=[webhook_channel(receiver.url)], condition="noTraffic", level="", for_seconds=600)
    add_metrics("churn-prediction-v1", [10] * 3, age_seconds=900)
    evaluate()
    assert [body["incident"]["modelId"] for _, body in receiver.events()] == ["churn-prediction-v1"]
    add_metrics("churn-prediction-v1", [10])
    evaluate()
    assert [kind for kind, _ in receiver.events()] == ["alert.firing", "alert.resolved"]


def test_it_fires_when_a_providers_circuit_opens(api, provider, receiver, evaluate):
    register("tripping-v1", "custom", endpoint=f"{provider.url}/v1/models/deal:predict",
             config={"retries": 0, "circuitFailureThreshold": 2, "circuitOpenSeconds": 60})
    rule("circuit", channels=[webhook_channel(receiver.url)], condition="circuitOpen", level="")
    evaluate()
    assert receiver.requests == []
    for _ in range(2):
        predict(api, "tripping-v1", ROW)
    evaluate()
    events = receiver.events()
    assert [body["incident"]["modelId"] for _, body in events] == ["tripping-v1"]
    assert "circuit open" in events[0][1]["incident"]["reason"]


def test_it_resolves_what_is_open_when_its_rule_is_disabled(receiver, evaluate):
    alert = rule(channels=[webhook_channel(receiver.url)], model_id="churn-prediction-v1")
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    evaluate()
    alert.enabled = False
    alert.save()
    evaluate()
    assert [kind for kind, _ in receiver.events()] == ["alert.firing", "alert.resolved"]


def test_it_records_every_attempt_and_retries_a_failing_channel(receiver, evaluate):
    receiver.queue(Reply(500, {"error": "down"}), Reply(503, b""))
    rule(channels=[webhook_channel(receiver.url)], model_id="churn-prediction-v1")
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    evaluate()
    delivery = Delivery.objects.get()
    assert delivery.status == "sent" and delivery.attempts == 3
    assert list(delivery.attempt_log.values_list("ok", "status_code")) == [(False, 500), (False, 503), (True, 204)]
    # The same message id on every attempt, so the receiver can deduplicate.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_it_gives_up_after_the_last_attempt(receiver, evaluate):
    receiver.handle = lambda request: Reply(500, b"")
    rule(channels=[webhook_channel(receiver.url)], model_id="churn-prediction-v1")
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    evaluate()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 3 and delivery.last_error == "HTTP 500"


def test_it_gives_the_lease_to_one_evaluator_at_a_time(settings):
    settings.ALERTS = settings.ALERTS | {"INTERVAL": 30}
    now = timezone.now()
    assert evaluator_lease_take(now=now)
    assert not evaluator_lease_take(now=now)  # a cycle is running
    evaluator_lease_release(5.0)
    assert not evaluator_lease_take(now=now + timedelta(seconds=10))  # one ran this interval
    assert evaluator_lease_take(now=now + timedelta(seconds=16))


def test_it_gives_every_model_an_unhealthy_rule_from_the_environment(settings, receiver, evaluate):
    settings.ALERTS = settings.ALERTS | {"WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": SECRET}
    add_metrics("lead-scoring-v1", [10] * 10, success=False)  # the default rule's minSamples
    evaluate()
    events = receiver.events()
    assert [(k, b["incident"]["modelId"], b["incident"]["rule"]) for k, b in events] == [
        ("alert.firing", "lead-scoring-v1", "environment-unhealthy")]
