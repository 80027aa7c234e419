from __future__ import annotations

import pytest

from tests.alerts.support import Receiver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def eager_tasks(settings):
    """In-process tests run deliveries as they are queued (the worker tests run a real one);
    retries come at once."""
    from hotcrm_ai.celery import app as current_app

    settings.ALERTS = settings.ALERTS | {"RETRY_BACKOFF": 0.0, "DELIVERY_TIMEOUT": 2.0, "DELIVERY_ATTEMPTS": 3}
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = False


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks):
    """One evaluation cycle, its deliveries sent when it commits (as they are in production)."""
    from alerts.services import alerts_evaluate

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return alerts_evaluate(**kwargs)
    return run


from tests.faults.conftest import builtin_fixture, secret_key  # noqa: E402, F401  (for test_worker)
