from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apiauth.models import ApiToken
from apiauth.services import token_create
from apiauth.throttling import parse_rate

pytestmark = pytest.mark.django_db
NOW = 1_699_999_990.0  # 10 s into a minute (1_699_999_980 is a multiple of 60)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Windows are fixed: a test crossing a window's edge would see its count reset."""
    from types import SimpleNamespace

    from apiauth import throttling

    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: NOW))


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_it_answers_429_with_retry_after_once_a_token_spends_its_own_rate():
    _, key = token_create(name="tight", throttle_rate="3/min")
    client = client_for(key)
    assert [client.get("/api/v1/models/").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/models/")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert refused["Retry-After"] == "50"  # the rest of the minute


def test_it_counts_each_token_on_its_own():
    _, tight = token_create(name="tight", throttle_rate="1/hour")
    _, other = token_create(name="other", throttle_rate="1/hour")
    assert client_for(tight).get("/api/v1/models/").status_code == 200
    assert client_for(tight).get("/api/v1/models/").status_code == 429
    assert client_for(other).get("/api/v1/models/").status_code == 200


def test_it_applies_the_configured_default_to_tokens_without_their_own_rate(settings):
    settings.HOTCRM = {**settings.HOTCRM, "THROTTLE_RATE": "2/min"}
    _, key = token_create(name="plain")
    codes = [client_for(key).get("/api/v1/models/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_it_counts_refused_predictions_without_storing_anything():
    from predictions.models import PredictionLog

    _, key = token_create(name="tight", throttle_rate="1/min")
    client = client_for(key)
    body = {"modelId": "sentiment-analysis-v1", "features": {"text": "great"}}
    assert client.post("/api/v1/predictions/", body, format="json").status_code == 200
    assert client.post("/api/v1/predictions/", body, format="json").status_code == 429
    assert PredictionLog.objects.count() == 1


@pytest.mark.parametrize(("rate", "parsed"), [("600/min", (600, 60)), ("5/s", (5, 1)), ("10 / hour", (10, 3600)),
                                               ("1/day", (1, 86400))])
def test_it_reads_rates(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["fast", "0/min", "10/fortnight", "-1/s", "10"])
def test_it_refuses_a_malformed_rate_on_the_token(rate):
    with pytest.raises(CommandError):
        call_command("create_api_token", "bad", "--throttle-rate", rate)
    assert not ApiToken.objects.filter(name="bad").exists()
