"""The alerts API: channels and rules with staff writes and clear 400s, secrets never
returned, incidents newest first, acknowledge, and a test notification."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Channel, Incident, Rule
from tests.alerts.support import SECRET, webhook_channel

pytestmark = pytest.mark.django_db


def post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def error(response) -> str:
    return response.json()["error"]["message"]


def test_it_creates_a_webhook_channel_and_never_returns_its_secret(staff_api):
    response = post(staff_api, "/api/v1/alerts/channels/",
                    {"name": "ops", "kind": "webhook", "url": "https://hooks.slack.com/alerts", "secret": SECRET})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secretSet"] is True and "secret" not in body and SECRET not in response.content.decode()
    assert SECRET not in Channel.objects.get().secret_encrypted
    listed = staff_api.get("/api/v1/alerts/channels/")
    assert SECRET not in listed.content.decode() and listed.json()[0]["name"] == "ops"


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "a", "kind": "webhook", "url": "https://hooks.slack.com/x"}, "secret"),
    ({"name": "a", "kind": "webhook", "url": "https://hooks.slack.com/x", "secret": "whsec_short"}, "secret"),
    ({"name": "a", "kind": "webhook", "url": "https://hooks.slack.com/x", "secret": "not-whsec"}, "secret"),
    ({"name": "a", "kind": "webhook", "url": "ftp://hooks.slack.com/x", "secret": SECRET}, "url"),
    ({"name": "a", "kind": "webhook", "secret": SECRET}, "url"),
    ({"name": "a", "kind": "webhook", "url": "http://169.254.169.254/latest", "secret": SECRET}, "url"),
    ({"name": "a", "kind": "webhook", "url": "https://evil.example.net/x", "secret": SECRET}, "url"),
    ({"name": "a", "kind": "slack"}, "url"),
    ({"name": "a", "kind": "email"}, "emails"),
    ({"name": "a", "kind": "email", "emails": ["not an address"]}, "emails"),
    ({"name": "a", "kind": "pager"}, "kind"),
    ({"name": "bad\u0000name", "kind": "email", "emails": ["o@example.com"]}, "name"),
    ({"name": "x" * 101, "kind": "email", "emails": ["o@example.com"]}, "name"),
], ids=["no-secret", "short-secret", "not-whsec", "ftp", "no-url", "metadata-address", "host-not-allowed",
        "slack-no-url", "no-emails", "bad-email",
        "unknown-kind", "nul", "long-name"])
def test_it_refuses_a_bad_channel_with_a_400_naming_the_field(staff_api, body, field):
    response = post(staff_api, "/api/v1/alerts/channels/", body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {"invalid_input", "invalid_text"}
    assert error(response).startswith(field) or field in error(response)
    assert not Channel.objects.exists()


def test_it_refuses_lone_surrogates(staff_api):
    raw = '{"name": "ops\\ud800", "kind": "email", "emails": ["o@example.com"]}'
    response = staff_api.post("/api/v1/alerts/channels/", raw, content_type="application/json")
    assert response.status_code == 400 and not Channel.objects.exists()


def test_it_lets_service_tokens_read_but_not_write(api):
    assert api.get("/api/v1/alerts/channels/").status_code == 200
    assert api.get("/api/v1/alerts/rules/").status_code == 200
    assert api.get("/api/v1/alerts/").status_code == 200
    response = post(api, "/api/v1/alerts/channels/", {"name": "a", "kind": "email", "emails": ["o@example.com"]})
    assert response.status_code == 403
    assert post(api, "/api/v1/alerts/rules/", {"name": "r", "condition": "drift"}).status_code == 403


def test_it_updates_a_channel_keeping_its_secret_when_none_is_given(staff_api, receiver):
    channel = webhook_channel(receiver.url)
    stored = channel.secret_encrypted
    response = staff_api.patch(f"/api/v1/alerts/channels/{channel.pk}/", {"name": "renamed"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "renamed"
    channel.refresh_from_db()
    assert channel.secret_encrypted == stored


def test_it_creates_a_rule_over_channels(staff_api, receiver):
    channel = webhook_channel(receiver.url)
    response = post(staff_api, "/api/v1/alerts/rules/", {
        "name": "slow leads", "condition": "p95Latency", "threshold": 250, "forSeconds": 300,
        "modelId": "lead-scoring-v1", "channels": [channel.pk], "cooldownSeconds": 900, "minSamples": 50})
    assert response.status_code == 201, response.content
    assert response.json() == {
        "id": Rule.objects.get().pk, "name": "slow leads", "condition": "p95Latency", "level": None,
        "threshold": 250.0, "forSeconds": 300, "modelId": "lead-scoring-v1", "channels": [channel.pk],
        "cooldownSeconds": 900, "minSamples": 50, "enabled": True, "fromEnvironment": False}
    again = post(staff_api, "/api/v1/alerts/rules/", {"name": "slow leads", "condition": "drift"})
    assert again.status_code == 409


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "r", "condition": "health"}, "level"),
    ({"name": "r", "condition": "errorRate", "forSeconds": 60}, "threshold"),
    ({"name": "r", "condition": "errorRate", "threshold": 150, "forSeconds": 60}, "threshold"),
    ({"name": "r", "condition": "errorRate", "threshold": 5}, "forSeconds"),
    ({"name": "r", "condition": "noTraffic"}, "forSeconds"),
    ({"name": "r", "condition": "drift", "modelId": "no-such-model"}, "modelId"),
    ({"name": "r", "condition": "drift", "channels": [999999]}, "channels"),
    ({"name": "r", "condition": "drift", "cooldownSeconds": -1}, "cooldownSeconds"),
    ({"name": "r", "condition": "sometimes"}, "condition"),
    ({"name": "r", "condition": "p95Latency", "threshold": "NaN", "forSeconds": 60}, "threshold"),
], ids=["health-no-level", "no-threshold", "threshold-over-100", "no-window", "no-traffic-window",
        "unknown-model", "unknown-channel", "negative-cooldown", "unknown-condition", "nan"])
def test_it_refuses_a_bad_rule_with_a_400_naming_the_field(staff_api, body, field):
    response = post(staff_api, "/api/v1/alerts/rules/", body)
    assert response.status_code == 400, response.content
    assert field in error(response)
    assert not Rule.objects.exists()


def _incident(model_id: str, status: str, age: int) -> Incident:
    when = timezone.now() - timedelta(seconds=age)
    return Incident.objects.create(rule_name="r", condition="health", model_id=model_id, status=status,
                                   reason="why", since=when, fired_at=None if status == "pending" else when,
                                   resolved_at=when if status == "resolved" else None)


def test_it_lists_incidents_newest_first_without_pending_ones(api):
    old = _incident("lead-scoring-v1", "resolved", 3600)
    new = _incident("churn-prediction-v1", "firing", 60)
    _incident("lead-scoring-v1", "pending", 10)
    body = api.get("/api/v1/alerts/").json()
    assert [i["id"] for i in body["results"]] == [new.pk, old.pk]
    assert body["results"][0] | {"since": None, "firedAt": None} == {
        "id": new.pk, "modelId": "churn-prediction-v1", "rule": "r", "ruleId": None, "condition": "health",
        "status": "firing", "reason": "why", "since": None, "firedAt": None, "resolvedAt": None,
        "acknowledgedAt": None, "acknowledgedBy": ""}
    only = api.get("/api/v1/alerts/?modelId=lead-scoring-v1").json()["results"]
    assert [i["id"] for i in only] == [old.pk]


def test_it_acknowledges_an_incident_once(staff_api, api):
    incident = _incident("lead-scoring-v1", "firing", 60)
    assert api.post(f"/api/v1/alerts/{incident.pk}/acknowledge/").status_code == 403
    first = staff_api.post(f"/api/v1/alerts/{incident.pk}/acknowledge/").json()
    assert first["acknowledgedBy"] == "token:staff" or first["acknowledgedBy"]
    second = staff_api.post(f"/api/v1/alerts/{incident.pk}/acknowledge/").json()
    assert second["acknowledgedAt"] == first["acknowledgedAt"]
    assert staff_api.post("/api/v1/alerts/999999/acknowledge/").status_code == 404


def test_it_sends_a_test_notification_from_the_api(staff_api, api, receiver):
    channel = webhook_channel(receiver.url)
    assert api.post(f"/api/v1/alerts/channels/{channel.pk}/test/").status_code == 403
    response = staff_api.post(f"/api/v1/alerts/channels/{channel.pk}/test/")
    assert response.status_code == 200
    assert response.json()["ok"] is True and response.json()["statusCode"] == 204
    [(kind, _)] = receiver.events()
    assert kind == "alert.test"
