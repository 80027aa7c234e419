"""Root fixtures: the built-in models trained once per test session, and API clients."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent


def pytest_sessionstart(session: pytest.Session) -> None:
    # With REDIS_URL set the suite must run against Redis: unreachable is a failure.
    if os.environ.get("REDIS_URL"):
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5).ping()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Each `make test` run has its own filesystem broker queue (var/celery/<prefix>): gone
    # with the run.
    import shutil

    if settings.CACHE_KEY_PREFIX.startswith("hotcrm-test-"):
        shutil.rmtree(settings.CELERY_QUEUE_DIR, ignore_errors=True)


def _builtin_fixture_path() -> Path:
    """Trained built-in models are kept between test runs, keyed by the code that trains them."""
    digest = hashlib.sha256(settings.SECRET_KEY.encode())
    for source in sorted([*ROOT.glob("ml/**/*.py"), *ROOT.glob("ml/data/*"), ROOT / "registry/services.py"]):
        digest.update(source.read_bytes())
    return Path(settings.VAR_DIR) / "test-cache" / f"builtin-{digest.hexdigest()[:16]}.json"


def install_builtin_models() -> None:
    """Register the trained built-in models in the current (test) database."""
    path = _builtin_fixture_path()
    if path.exists():
        call_command("loaddata", str(path), verbosity=0)
        return
    call_command("train_builtin_models", verbosity=0)
    # Training leaves registration entries in the audit trail that the fixture does not
    # hold: without this, the first run after a change to the models differs from the rest.
    from registry.models import RegistryChange

    RegistryChange.objects.all().delete()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    call_command("dumpdata", "registry.MLModel", "registry.ModelArtifact", output=str(tmp), verbosity=0)
    tmp.replace(path)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        install_builtin_models()


# The fake providers the tests talk to listen on loopback, which an operator must allow.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]


@pytest.fixture(autouse=True)
def _loopback_providers_allowed(monkeypatch):
    monkeypatch.setitem(settings.HOTCRM, "PROVIDER_ALLOWED_HOSTS", LOOPBACK_HOSTS)


@pytest.fixture(autouse=True)
def _clean_caches():
    from apiauth.selectors import forget_cached_tokens
    from core.cache import shared_cache
    from monitoring.services import metric_buffer
    from predictions.recording import log_buffer
    from registry.selectors import forget_cached_models

    _clear_all_caches()
    forget_cached_models()
    forget_cached_tokens()
    shared_cache().reset()
    # Each metric and log row is stored as it is recorded, so tests may read them at once;
    # tests of the buffer itself turn this off (tests/monitoring/test_recorder.py).
    metric_buffer().synchronous = True
    log_buffer().synchronous = True
    yield
    metric_buffer().discard()
    log_buffer().discard()
    _clear_all_caches()
    forget_cached_models()
    forget_cached_tokens()


def _clear_all_caches() -> None:
    caches["memory"].clear()
    if "limits" in settings.CACHES:  # throttle and lockout counters without Redis (files)
        caches["limits"].clear()
    if settings.REDIS_URL:
        # Only this run's keys: other runs may share the Redis server.
        caches["default"].delete_pattern("*")


@pytest.fixture
def service_token(db):
    from apiauth.services import token_create

    _, key = token_create(name="service")
    return key


@pytest.fixture
def staff_token(db):
    from apiauth.services import token_create

    _, key = token_create(name="staff", is_staff=True)
    return key


@pytest.fixture
def api(service_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {service_token}")
    return client


@pytest.fixture
def staff_api(staff_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {staff_token}")
    return client


# --- Celery -----------------------------------------------------------------------------
# Tasks run for real: a worker (a thread of this process) takes them from the configured
# broker (the filesystem transport under var/, or REDIS_URL's Redis) and runs them against
# the test database. Such tests commit, so they need `transaction=True`.

@pytest.fixture
def builtin_models_restored(transactional_db):
    """Jobs tests commit (the worker has its own connection), so Django empties the database
    after each (pytest-django runs such tests after all others): the models come back here."""
    from registry.models import MLModel

    if not MLModel.objects.filter(pk="lead-scoring-v1").exists():
        install_builtin_models()


@pytest.fixture
def celery_worker(builtin_models_restored):
    from celery.contrib.testing.worker import start_worker

    from hotcrm_ai.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
        yield
