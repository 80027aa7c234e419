"""What shadow mode costs the caller: prediction latency with the challenger shadowing
every request against the same requests without a shadow, measured in the same run.

Run: .venv/bin/python bench/ab_shadow.py [--requests 400]

Each request goes through Django's real WSGI handler (token auth, routing, validation,
model, log and metric writes) on a throw-away SQLite database. "response" is the time until
the handler hands the finished response back, which is what the caller waits for; "worker"
adds the response's close(), where the shadow challenger runs, which is what the worker
process spends. Cache off, so every request runs its model. Runs are interleaved so drift
on a loaded machine hits both sides alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup() -> None:
    os.environ["HOTCRM_VAR_DIR"] = tempfile.mkdtemp(prefix="hotcrm-bench-ab-")
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotcrm_ai.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("train_builtin_models", only=["lead-scoring-v1", "lead-scoring-v2"], verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per side")
    args = parser.parse_args()
    setup()

    import json

    import numpy as np
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.client import RequestFactory

    from apiauth.services import token_create
    from predictions.models import PredictionLog
    from registry import services
    from registry.models import AbMode, MLModel

    v1 = MLModel.objects.get(pk="lead-scoring-v1")
    services.model_update(model=MLModel.objects.get(pk="lead-scoring-v2"), data={
        "ab_enabled": True, "ab_champion": v1, "ab_mode": AbMode.SHADOW, "ab_traffic_percentage": 100.0,
    })
    _, key = token_create(name="bench")
    # Keep one database connection, as production does (CONN_MAX_AGE=60 on PostgreSQL):
    # reopening SQLite per request (and its WAL checkpoint on close) would swamp the figures.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    handler, factory = WSGIHandler(), RequestFactory()
    lead = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
            "job_title": "VP of Sales", "budget": 120000}

    def call(model_id: str, n: int) -> tuple[float, float]:
        body = {"modelId": model_id, "features": {**lead, "company_size": 10 + n}, "useCache": False,
                "context": {"objectId": f"L-{n}"}}
        environ = factory.post("/api/v1/predictions/", json.dumps(body), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Token {key}").environ
        started = time.perf_counter()
        response = handler(environ, lambda status, headers: None)
        answered = time.perf_counter()
        response.close()  # the WSGI server does this after sending the body: the shadow runs here
        closed = time.perf_counter()
        assert response.status_code == 200, response.content
        assert json.loads(response.content)["modelId"] == "lead-scoring-v1"
        return (answered - started) * 1000, (closed - started) * 1000

    for n in range(20):  # warm up both models and the database
        call("lead-scoring-v1", n)
        call("lead-scoring-v2", n)
    plain, shadowed = [], []
    for n in range(args.requests):
        plain.append(call("lead-scoring-v1", 1000 + n))       # champion alone
        shadowed.append(call("lead-scoring-v2", 1000 + n))    # champion answers, challenger shadows
    shadow_logs = PredictionLog.objects.filter(shadow=True).count()

    def row(name: str, values: list[float]) -> str:
        a = np.asarray(values)
        return f"  {name:<34} median {np.median(a):7.3f} ms   mean {a.mean():7.3f} ms   p95 {np.percentile(a, 95):7.3f} ms"

    base_resp = [r for r, _ in plain]
    shadow_resp = [r for r, _ in shadowed]
    print(f"A/B shadow mode, {args.requests} requests per side, lead-scoring-v1 answering, cache off")
    print(row("response, no shadow (baseline)", base_resp))
    print(row("response, challenger shadowing 100%", shadow_resp))
    print(row("worker time, no shadow", [w for _, w in plain]))
    print(row("worker time, shadowing 100%", [w for _, w in shadowed]))
    ratio = statistics.median(shadow_resp) / statistics.median(base_resp)
    added = statistics.median(shadow_resp) - statistics.median(base_resp)
    print(f"  response latency ratio shadow/baseline (median): {ratio:.3f}  (added {added:+.3f} ms)")
    print(f"  shadow answers logged: {shadow_logs} (expected {args.requests + 20}), none returned")


if __name__ == "__main__":
    main()
