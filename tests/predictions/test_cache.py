"""The prediction cache, on both backends: each test runs on the in-process cache and on a
private redis-server, whatever the suite's own REDIS_URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.core.cache import caches

from core import cache as cache_module
from core.cache import CachedAnswer, Entry, shared_cache
from hotcrm_ai.settings import MEMORY_CACHE, redis_cache_config
from monitoring.models import Metric
from predictions.providers.local import LocalProvider
from predictions.services import cache_key
from registry import services as registry_services
from registry.models import MLModel, ModelArtifact
from tests.predictions.redis_server import RedisServer

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

LEAD = {
    "company_size": 250, "industry": "Technology", "engagement_score": 85,
    "job_title": "VP of Sales", "budget": 120000,
}


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.close()


def use_redis(settings, server: RedisServer) -> None:
    settings.REDIS_URL = server.url
    settings.CACHES = {"default": redis_cache_config(server.url), "memory": MEMORY_CACHE}
    server.client().flushall()  # our private server: nobody else's keys are in it
    shared_cache().reset()


def use_memory(settings) -> None:
    settings.REDIS_URL = None
    settings.CACHES = {"default": MEMORY_CACHE, "memory": MEMORY_CACHE}
    shared_cache().reset()


@pytest.fixture(params=["memory", "redis"])
def backend(request, settings):
    if request.param == "redis":
        use_redis(settings, request.getfixturevalue("redis_server"))
    else:
        use_memory(settings)
    yield request.param
    shared_cache().reset()


@pytest.fixture
def clock(monkeypatch):
    """The outage clock, moved on by hand so retry windows do not depend on machine load."""

    class Clock:
        value = 1_000.0

        def __call__(self) -> float:
            return self.value

        def advance(self, seconds: float) -> None:
            self.value += seconds

    fake = Clock()
    monkeypatch.setattr(cache_module, "now", fake)
    return fake


@pytest.fixture
def provider_rows(monkeypatch):
    """Every batch of rows the local provider is really asked to run."""
    calls: list[list[dict]] = []

    def spy_on(method: str) -> None:
        real = getattr(LocalProvider, method)

        def spy(self, model, rows):
            calls.append(list(rows))
            return real(self, model, rows)

        monkeypatch.setattr(LocalProvider, method, spy)

    spy_on("predict_batch")  # single predictions
    spy_on("predict_columns")  # batches
    return calls


@pytest.fixture
def edit(staff_api, django_capture_on_commit_callbacks):
    """PATCH a model as staff, with the commit hooks (registry generation bump) run."""

    def patch(model_id: str, data: dict) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = staff_api.patch(f"/api/v1/models/{model_id}/", data, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    return patch


def deploy_version(model_id: str, version: str, source: str | None = None) -> None:
    """A new version's artifact in place (here a copy of the current one, or `source`'s)."""
    latest = ModelArtifact.objects.filter(model_id=source or model_id).latest()
    ModelArtifact.objects.create(model_id=model_id, version=version, blob=latest.blob,
                                 sha256=latest.sha256, training_rows=latest.training_rows)


def predict(api, features, model_id="lead-scoring-v1", **extra):
    response = api.post("/api/v1/predictions/", {"modelId": model_id, "features": features, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def batch(api, rows, model_id="lead-scoring-v1", **extra):
    response = api.post("/api/v1/predictions/batch/", {"modelId": model_id, "features": rows, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def stats(api):
    response = api.get("/api/v1/cache/stats/")
    assert response.status_code == 200, response.content
    return response.json()


def rows(n, start=0):
    return [dict(LEAD, budget=1000 * (i + 1)) for i in range(start, start + n)]


# --- keys ---------------------------------------------------------------------------------

def test_it_serves_a_repeat_whatever_the_key_order_or_number_form(api, backend):
    first = predict(api, LEAD)
    reordered = dict(reversed(LEAD.items()), budget=120000.0, company_size=250.0)
    second = predict(api, reordered)
    assert not first["cached"] and second["cached"]
    assert second["prediction"] == first["prediction"] and second["confidence"] == first["confidence"]
    assert second["metadata"]["predictionId"] != first["metadata"]["predictionId"]
    assert stats(api) | {"backend": backend} == {"size": 1, "hits": 1, "misses": 1, "backend": backend}


def test_it_does_not_confuse_different_features(api, backend):
    predict(api, LEAD)
    assert not predict(api, dict(LEAD, budget=120001))["cached"]
    assert not predict(api, dict(LEAD, job_title="Sales Intern"))["cached"]


def test_it_records_every_hit_as_a_metric_timed_by_this_request(api, backend):
    miss = predict(api, LEAD)
    hit = predict(api, LEAD)
    metrics = {m.cached: m for m in Metric.objects.filter(model_id="lead-scoring-v1")}
    assert set(metrics) == {False, True}
    assert metrics[True].success and metrics[True].confidence == pytest.approx(hit["confidence"])
    assert hit["processingTime"] == pytest.approx(metrics[True].latency_ms, abs=0.001)
    assert miss["processingTime"] == pytest.approx(metrics[False].latency_ms, abs=0.001)


def test_it_keys_by_the_model_that_answered_not_the_one_requested(api, backend):
    champion = predict(api, LEAD, model_id="lead-scoring-v2", abArm="champion")
    assert champion["modelId"] == "lead-scoring-v1" and not champion["cached"]
    # The champion's cached answer never pins the challenger arm.
    challenger = predict(api, LEAD, model_id="lead-scoring-v2", abArm="challenger")
    assert challenger["modelId"] == "lead-scoring-v2" and not challenger["cached"]
    again = predict(api, LEAD, model_id="lead-scoring-v2", abArm="challenger")
    assert again["modelId"] == "lead-scoring-v2" and again["cached"]
    assert again["prediction"] == challenger["prediction"]
    # Asking the champion directly meets the entry its arm stored.
    direct = predict(api, LEAD, model_id="lead-scoring-v1")
    assert direct["cached"] and direct["prediction"] == champion["prediction"]


def test_it_bounds_the_key_length_whatever_the_input():
    model = MLModel.objects.get(pk="sentiment-analysis-v1")
    short, long = cache_key(model, {"text": "ok"}), cache_key(model, {"text": "word " * 2000})
    assert len(short) == len(long) <= len("pred:") + 100 + 1 + 64
    assert short != long


# --- TTL and useCache ---------------------------------------------------------------------

def test_it_never_touches_the_cache_with_use_cache_false(api, backend, provider_rows):
    assert not predict(api, LEAD, useCache=False)["cached"]
    assert stats(api)["size"] == 0
    predict(api, LEAD)
    assert not predict(api, LEAD, useCache=False)["cached"]
    assert len(provider_rows) == 3
    assert stats(api) | {"backend": backend} == {"size": 1, "hits": 0, "misses": 1, "backend": backend}


def test_it_turns_caching_off_for_a_model_with_a_ttl_of_zero(api, edit, backend):
    edit("lead-scoring-v1", {"cacheTtl": 0})
    predict(api, LEAD)
    assert not predict(api, LEAD)["cached"]
    assert stats(api)["size"] == 0


def test_it_stores_each_entry_for_its_models_ttl(api, edit, backend, redis_server):
    edit("churn-prediction-v1", {"cacheTtl": 1})
    churn = {"account_age": 24, "support_tickets": 3, "usage_frequency": 20, "nps_score": 30, "payment_delays": 0}
    predict(api, LEAD)
    predict(api, churn, model_id="churn-prediction-v1")
    if backend == "redis":
        client = redis_server.client()
        lead_key = caches["default"].make_key(cache_key(MLModel.objects.get(pk="lead-scoring-v1"), LEAD))
        assert 290 <= client.ttl(lead_key) <= 300
    import time

    time.sleep(1.1)
    assert predict(api, LEAD)["cached"]
    assert not predict(api, churn, model_id="churn-prediction-v1")["cached"]


# --- batches --------------------------------------------------------------------------------

def test_it_sends_only_a_batchs_misses_to_the_provider(api, backend, provider_rows):
    batch(api, rows(2))
    provider_rows.clear()
    results = batch(api, rows(4))
    assert [r["cached"] for r in results] == [True, True, False, False]
    assert provider_rows == [rows(2, start=2)]
    single = [predict(api, r, useCache=False)["prediction"] for r in rows(4)]
    assert [r["prediction"] for r in results] == single


def test_it_looks_a_batch_up_once_and_stores_its_misses_once(api, backend, monkeypatch):
    manager, calls = shared_cache(), []
    for name in ("lookup", "store"):
        real = getattr(manager, name)
        monkeypatch.setattr(manager, name, lambda items, _real=real, _name=name: calls.append((_name, len(items))) or _real(items))
    batch(api, rows(3))
    batch(api, rows(5))
    assert calls == [("lookup", 3), ("store", 3), ("lookup", 5), ("store", 2)]


def test_it_talks_to_redis_once_per_lookup_and_once_per_store(settings, redis_server, monkeypatch):
    use_redis(settings, redis_server)
    manager = shared_cache()
    entries = [Entry(f"pred:m:{i}", CachedAnswer({"score": i}, 50.0), 60) for i in range(50)]
    manager.lookup(["pred:m:warm-up"])  # loads the lookup script once per server
    sent: list[int] = []
    real = redis.connection.AbstractConnection.send_packed_command
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command",
                        lambda self, *a, **k: sent.append(1) or real(self, *a, **k))
    manager.store(entries)
    assert len(sent) == 1
    found = manager.lookup([e.key for e in entries] + ["pred:m:absent"])
    assert len(sent) == 2
    assert [f.prediction["score"] for f in found[:-1]] == list(range(50)) and found[-1] is None


# --- invalidation --------------------------------------------------------------------------

def test_it_forgets_answers_when_the_model_version_changes(api, edit, backend):
    predict(api, LEAD)
    predict(api, LEAD, model_id="lead-scoring-v2", abArm="challenger")
    deploy_version("lead-scoring-v2", "2.1.0")
    edit("lead-scoring-v2", {"version": "2.1.0"})
    answer = predict(api, LEAD, model_id="lead-scoring-v2", abArm="challenger")
    assert not answer["cached"] and answer["modelVersion"] == "2.1.0"
    assert predict(api, LEAD)["cached"]  # only the edited model's entries go


def test_it_forgets_answers_when_the_model_is_retrained(api, backend, django_capture_on_commit_callbacks):
    before = predict(api, LEAD)
    with django_capture_on_commit_callbacks(execute=True):
        registry_services.builtin_model_train(model_id="lead-scoring-v1")
    after = predict(api, LEAD)
    assert not after["cached"] and after["modelVersion"] == before["modelVersion"]


def test_it_forgets_answers_after_an_edit_that_changes_them_but_not_after_one_that_does_not(
    api, staff_api, edit, backend,
):
    model = staff_api.get("/api/v1/models/lead-scoring-v1/").json()
    predict(api, LEAD)
    edit("lead-scoring-v1", {"description": "Scores leads."})
    assert predict(api, LEAD)["cached"]
    schema = model["featureSchema"]
    budget = next(f for f in schema["features"] if f["name"] == "budget")
    budget["max"] = budget["max"] * 2
    edit("lead-scoring-v1", {"featureSchema": schema})
    assert not predict(api, LEAD)["cached"]


def test_it_forgets_answers_of_a_model_deleted_and_registered_again(api, staff_api, backend,
                                                                   django_capture_on_commit_callbacks):
    body = staff_api.get("/api/v1/models/lead-scoring-v1/").json()
    body = {k: body[k] for k in ("name", "version", "type", "provider", "featureSchema")} | {"id": "lead-copy"}

    def register() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            assert staff_api.post("/api/v1/models/", body, format="json").status_code == 201
        deploy_version("lead-copy", body["version"], source="lead-scoring-v1")

    register()
    predict(api, LEAD, model_id="lead-copy")
    assert predict(api, LEAD, model_id="lead-copy")["cached"]
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_api.delete("/api/v1/models/lead-copy/").status_code == 204
    register()
    assert not predict(api, LEAD, model_id="lead-copy")["cached"]


# --- stats and clearing --------------------------------------------------------------------

def test_it_counts_hits_and_misses_of_every_process_on_redis(settings, redis_server, api):
    use_redis(settings, redis_server)
    redis_server.client().set("someone-else:1:pred:x:y", "not ours")
    predict(api, LEAD)
    env = dict(os.environ, REDIS_URL=redis_server.url, CACHE_KEY_PREFIX=settings.CACHE_KEY_PREFIX,
               DJANGO_SETTINGS_MODULE="hotcrm_ai.settings")
    other_process = (
        "import django; django.setup()\n"
        "from core.cache import CachedAnswer, Entry, shared_cache\n"
        "m = shared_cache()\n"
        "m.lookup(['pred:other:1', 'pred:other:2'])\n"
        "m.store([Entry('pred:other:1', CachedAnswer(1, 2.0), 60)])\n"
        "m.lookup(['pred:other:1'])\n"
    )
    subprocess.run([sys.executable, "-c", other_process], cwd=ROOT, env=env, check=True, timeout=120)
    predict(api, LEAD)
    assert stats(api) == {"size": 2, "hits": 2, "misses": 3, "backend": "redis"}


def test_it_shows_the_stats_only_to_a_caller_with_a_token():
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/cache/stats/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_it_lets_only_staff_clear_the_cache(api, backend):
    predict(api, LEAD)
    response = api.delete("/api/v1/cache/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert predict(api, LEAD)["cached"]


def test_it_clears_everything_or_one_model(api, staff_api, backend):
    churn = {"account_age": 24, "support_tickets": 3, "usage_frequency": 20, "nps_score": 30, "payment_delays": 0}
    predict(api, LEAD)
    predict(api, churn, model_id="churn-prediction-v1")
    response = staff_api.delete("/api/v1/cache/?modelId=lead-scoring-v1")
    assert response.status_code == 200
    assert response.json() == {"deleted": 1, "backend": backend, "modelId": "lead-scoring-v1"}
    assert not predict(api, LEAD)["cached"]
    assert predict(api, churn, model_id="churn-prediction-v1")["cached"]
    assert staff_api.delete("/api/v1/cache/").json() == {"deleted": 2, "backend": backend, "modelId": None}
    assert stats(api)["size"] == 0
    assert not predict(api, churn, model_id="churn-prediction-v1")["cached"]


@pytest.mark.parametrize(("query", "status", "code"), [
    ("?modelId=no-such-model", 404, "model_not_found"),
    ("?modelId=not%20a%20slug", 400, "invalid_input"),
])
def test_it_refuses_a_bad_clear_and_keeps_the_entries(api, staff_api, backend, query, status, code):
    predict(api, LEAD)
    response = staff_api.delete("/api/v1/cache/" + query)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert predict(api, LEAD)["cached"]


def test_it_leaves_other_prefixes_alone_when_clearing_redis(settings, redis_server, staff_api, api):
    use_redis(settings, redis_server)
    client = redis_server.client()
    client.set("someone-else:1:pred:lead-scoring-v1:abc", "not ours")
    predict(api, LEAD)
    assert staff_api.delete("/api/v1/cache/").json()["deleted"] == 1
    assert client.get("someone-else:1:pred:lead-scoring-v1:abc") == b"not ours"


# --- outage --------------------------------------------------------------------------------

def test_it_keeps_answering_through_a_redis_outage_and_goes_back(settings, api, staff_api, edit, clock):
    server = RedisServer()
    server.start()
    try:
        _outage_run(settings, server, api, staff_api, edit, clock)
    finally:
        server.close()


def _outage_run(settings, server, api, staff_api, edit, clock):
    use_redis(settings, server)
    settings.HOTCRM = dict(settings.HOTCRM, CACHE_RETRY_AFTER=5.0)
    manager, failures = shared_cache(), []
    real_failed = manager._shared_failed
    manager._shared_failed = lambda exc: failures.append(type(exc).__name__) or real_failed(exc)
    responses, backends = [], []

    def run(n: int, **extra) -> None:
        for i in range(n):
            responses.append(predict(api, dict(LEAD, budget=5000 + i % 3), **extra))
            backends.append(stats(api)["backend"])

    run(6)
    assert backends[-1] == "redis" and [r["cached"] for r in responses[:6]] == [False] * 3 + [True] * 3

    server.stop()  # Redis dies in the middle of the run
    run(6)
    assert backends[-6:] == ["memory"] * 6
    assert [r["cached"] for r in responses[-6:]] == [False] * 3 + [True] * 3
    assert len(failures) == 1  # tried once, not on every request of the window

    # A version change during the outage: entries written before it are not served after.
    deploy_version("lead-scoring-v1", "1.0.1")
    edit("lead-scoring-v1", {"version": "1.0.1"})
    run(3)
    assert [r["cached"] for r in responses[-3:]] == [False] * 3
    # A clear during the outage can only reach this process's entries, and says so.
    assert staff_api.delete("/api/v1/cache/").json() == {"deleted": 6, "backend": "memory", "modelId": None}

    server.start()  # Redis comes back (empty, as after a crash)
    run(1)
    assert backends[-1] == "memory"  # not retried before the window ends
    clock.advance(5.0)
    run(6)
    assert backends[-6:] == ["redis"] * 6
    assert [r["cached"] for r in responses[-6:]] == [False] * 3 + [True] * 3
    assert all(r["modelVersion"] == "1.0.1" for r in responses[-10:])

    # Entries written during the outage are dropped on the way back, so a second outage
    # starts empty instead of answering from them.
    server.pause()  # hung: accepts connections, never answers
    clock.advance(5.0)
    run(1)
    assert backends[-1] == "memory" and not responses[-1]["cached"]
    assert len(failures) == 2
    server.resume()
    clock.advance(5.0)
    run(1)
    assert backends[-1] == "redis" and responses[-1]["cached"]
    assert len(responses) == 24  # every request answered: `predict` asserts each was a 200

