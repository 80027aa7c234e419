"""Alerts on real Celery processes: two beat schedulers (as when two machines each run one)
queue an evaluation every second to two workers, over a Redis broker as between machines; a webhook receiver verifying Standard
Webhooks signatures sees exactly one alert.firing and one alert.resolved; a channel that
hangs and one that answers 500 are retried, every attempt recorded, and never hold up the
healthy channel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.alerts.support import SECRET, Receiver
from tests.faults.servers import ROOT, RedisServer
from tests.predictions.providers.servers import Reply

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
CELERY = str(Path(sys.executable).parent / "celery")
HANG = 8.0  # the hanging channel answers after this long, far past the delivery timeout


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


@pytest.fixture
def servers():
    good, hanging, failing = Receiver(), Receiver(), Receiver()
    hanging.handle = lambda request: Reply(204, b"", delay=HANG)
    failing.queue(Reply(500, b""), Reply(500, b""))  # then 204
    yield good, hanging, failing
    for server in (good, hanging, failing):
        server.close()


@pytest.fixture
def broker(tmp_path):
    """A private Redis: the embedded filesystem broker loses a message now and then when
    several processes write and read its queue at once (kombu reads a file still empty)."""
    server = RedisServer(tmp_path).start()
    yield server.url
    server.stop()


class Scenario:
    def __init__(self, tmp_path: Path, secret_key: str, broker: str) -> None:
        self.tmp = tmp_path
        self.procs: list[subprocess.Popen] = []
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "HOTCRM_ENV"}}
        self.env = env | {
            "SECRET_KEY": secret_key, "HOTCRM_VAR_DIR": str(tmp_path / "var"),
            "CACHE_KEY_PREFIX": f"hotcrm-alerts-{os.getpid()}-{time.monotonic_ns()}",
            "DJANGO_SETTINGS_MODULE": "hotcrm_ai.settings", "ALERT_INTERVAL": "1",
            "ALERT_DELIVERY_TIMEOUT": "1.5", "ALERT_DELIVERY_ATTEMPTS": "3", "ALERT_RETRY_BACKOFF": "0.5",
            "CELERY_BROKER_URL": broker, "ALERT_ALLOWED_HOSTS": "127.0.0.1",
        }

    def run(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "tests.alerts.scenario", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def start(self, name: str, *args: str) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs.append(subprocess.Popen([CELERY, "-A", "hotcrm_ai", *args], cwd=ROOT, env=self.env,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def workers_ready(self, count: int) -> bool:
        """Do `count` workers answer a remote-control ping on the broker?"""
        from celery import Celery

        app = Celery(broker=self.env["CELERY_BROKER_URL"])  # as hotcrm_ai.settings configures it
        app.conf.broker_transport_options = {"global_keyprefix": f"{self.env['CACHE_KEY_PREFIX']}:celery:"}
        try:
            return len(app.control.ping(timeout=1.0)) >= count
        finally:
            app.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in self.tmp.glob("*.log"))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_two_beats_notify_once_and_a_hanging_or_failing_channel_never_holds_up_the_others(
        tmp_path, servers, broker, builtin_fixture, secret_key):
    good, hanging, failing = servers
    scenario = Scenario(tmp_path, secret_key, broker)
    # The model is failing from the start: the first cycle of either beat fires.
    scenario.run("setup", str(builtin_fixture), SECRET, good.url, hanging.url, failing.url)
    try:
        for n in (1, 2):
            scenario.start(f"worker{n}", "worker", "--concurrency", "2", "--without-mingle", "--without-gossip",
                           "--hostname", f"alerts{n}-{os.getpid()}@%h")
            scenario.start(f"beat{n}", "beat", "--schedule", str(tmp_path / f"beat{n}-schedule"))
        # A worker's start-up (Django, the models) took 37-45 s at load 5-10 on two cores, and
        # all four processes start at once: the alert's clock starts once both workers answer.
        wait_for(lambda: scenario.workers_ready(2), 300, "the workers did not start:\n" + scenario.logs())
        wait_for(lambda: good.requests, 90, "no alert.firing arrived:\n" + scenario.logs())
        first_hang = min((r.received for r in hanging.requests), default=None)
        # The healthy channel was not held up by the hanging one's attempt.
        assert first_hang is None or good.requests[0].received - first_hang < HANG / 2
        time.sleep(4)  # two beats keep evaluating: still firing, nobody told again
        assert [kind for kind, _ in good.events()] == ["alert.firing"]
        scenario.run("heal")
        wait_for(lambda: len(good.requests) >= 2, 60, "no alert.resolved arrived:\n" + scenario.logs())
        time.sleep(3)
        assert [kind for kind, _ in good.events()] == ["alert.firing", "alert.resolved"]
        firing = good.events()[0][1]["incident"]
        assert firing["modelId"] == "churn-prediction-v1" and firing["rule"] == "churn unhealthy"
        wait_for(lambda: len(hanging.requests) >= 6, 60, "the hanging channel was not retried:\n" + scenario.logs())
        # The 500 channel was retried until it took the firing (twice refused) and the resolved;
        # every retry carries the same message id.
        accepted = [body["type"] for _, body in failing.events()]
        assert accepted.count("alert.firing") == 3 and accepted.count("alert.resolved") == 1
        assert len({r.headers["webhook-id"] for r in failing.requests}) == 2
        report = json.loads(scenario.run("report"))
    finally:
        scenario.stop()
    by_channel = {(row["channel"], row["event"]): row for row in report}
    assert len(report) == 6  # one delivery per channel and event, whatever the two beats did
    assert by_channel[("hook-0", "alert.firing")]["attempts"] == 1
    assert by_channel[("hook-1", "alert.firing")] | {"log": None} == {
        "channel": "hook-1", "event": "alert.firing", "status": "failed", "attempts": 3, "log": None}
    assert all(not ok and error == "timed out after 1.5 s"
               for ok, _, error in by_channel[("hook-1", "alert.firing")]["log"])
    assert [ok for ok, _, _ in by_channel[("hook-2", "alert.firing")]["log"]] == [False, False, True]
