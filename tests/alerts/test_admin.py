"""Alerts in the admin: channels with write-only secrets, a "send test notification"
action, rules validated as in the API, incidents acknowledged."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from alerts.models import Channel, Incident, Rule
from tests.alerts.support import SECRET, webhook_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-admin-123"))
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_it_adds_a_webhook_channel_and_never_shows_its_secret(admin_client, receiver):
    response = admin_client.post("/admin/alerts/channel/add/", {
        "name": "ops", "kind": "webhook", "url": receiver.url, "emails": "[]", "enabled": "on", "secret": SECRET,
    }, follow=True)
    assert response.status_code == 200 and Channel.objects.filter(name="ops").exists(), response.content[:3000]
    channel = Channel.objects.get(name="ops")
    page = admin_client.get(f"/admin/alerts/channel/{channel.pk}/change/").content.decode()
    assert SECRET not in page and "Set (hidden)" in page


def test_it_refuses_a_webhook_without_a_secret_on_the_form(admin_client, receiver):
    response = admin_client.post("/admin/alerts/channel/add/", {
        "name": "ops", "kind": "webhook", "url": receiver.url, "emails": "[]", "enabled": "on"})
    assert response.status_code == 200 and "needs a secret" in response.content.decode()
    assert not Channel.objects.exists()


def test_its_action_sends_a_test_notification_and_reports_a_failure(admin_client, receiver):
    from tests.predictions.providers.servers import Reply

    good = webhook_channel(receiver.url)
    response = admin_client.post("/admin/alerts/channel/", {
        "action": "send_test", "_selected_action": [good.pk]}, follow=True)
    assert any(m.startswith("ops-webhook: test notification sent") for m in messages_of(response))
    assert [kind for kind, _ in receiver.events()] == ["alert.test"]
    receiver.handle = lambda request: Reply(503, b"")
    response = admin_client.post("/admin/alerts/channel/", {
        "action": "send_test", "_selected_action": [good.pk]}, follow=True)
    assert "ops-webhook: test notification failed: HTTP 503" in messages_of(response)


def test_it_validates_a_rule_like_the_api(admin_client):
    response = admin_client.post("/admin/alerts/rule/add/", {
        "name": "errors", "condition": "errorRate", "level": "", "threshold": "", "for_seconds": "60",
        "cooldown_seconds": "300", "min_samples": "10", "enabled": "on"})
    assert "An errorRate rule needs a threshold" in response.content.decode()
    assert not Rule.objects.exists()


def test_it_acknowledges_incidents(admin_client):
    now = timezone.now()
    incident = Incident.objects.create(rule_name="r", condition="health", model_id="lead-scoring-v1",
                                       status="firing", since=now, fired_at=now)
    admin_client.post("/admin/alerts/incident/", {"action": "acknowledge", "_selected_action": [incident.pk]})
    incident.refresh_from_db()
    assert incident.acknowledged_by == "admin" and incident.acknowledged_at is not None
    assert admin_client.get(f"/admin/alerts/incident/{incident.pk}/change/").status_code == 200
