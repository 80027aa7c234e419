"""Single-row latency through the Open Inference Protocol (V2), beside the REST API:

  A. a real MLServer serving a scikit-learn pipeline, called directly over V2 (the floor)
  B. our REST API -> `custom` model with protocol v2 -> that MLServer
  C. our own V2 endpoint -> the same `custom` model -> that MLServer
  D. our REST API -> the same pipeline uploaded as ONNX (`local`, onnxruntime in process)
  E. our own V2 endpoint -> that ONNX model

Sequential requests on keep-alive connections, one gunicorn worker, every request's features
different and caching off, so each one is a real prediction. Writes bench/RESULTS-v2.md.

    .venv/bin/python bench/v2_latency.py [--requests 400]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402
from tests.predictions.providers import mlserver  # noqa: E402 - the MLServer the V2 tests start

SCHEMA = {"features": [{"name": "amount", "type": "number", "min": 0, "max": 1000},
                       {"name": "segment", "type": "category", "categories": ["smb", "enterprise"]}]}


def row(i: int) -> dict:
    return {"amount": float(i % 1000) + 0.5, "segment": "enterprise" if i % 2 else "smb"}


def v2_body(r: dict, outputs: list[str] | None = None) -> dict:
    body = {"inputs": [{"name": "amount", "shape": [1, 1], "datatype": "FP64", "data": [r["amount"]]},
                       {"name": "segment", "shape": [1, 1], "datatype": "BYTES", "data": [r["segment"]]}]}
    if outputs:
        body["outputs"] = [{"name": o} for o in outputs]
    return body


def timed(client: httpx.Client, url: str, bodies: list[dict], headers: dict, warmup: int = 30) -> dict:
    for body in bodies[:warmup]:
        client.post(url, json=body, headers=headers).raise_for_status()
    times = []
    for body in bodies[warmup:]:
        started = time.perf_counter()
        response = client.post(url, json=body, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    times.sort()
    return {"n": len(times), "p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))],
            "mean": statistics.fmean(times)}


def onnx_of_the_same_pipeline() -> bytes:
    """The pipeline MLServer serves, fitted again here by the same code and seed, then converted."""
    import importlib.util

    import pandas as pd
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    spec = importlib.util.spec_from_file_location("mlserver_model", mlserver.MODEL_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with tempfile.TemporaryDirectory() as folder:
        import joblib

        module.main(Path(folder), "deal", [])
        pipeline = joblib.load(Path(folder) / "deal" / "model.joblib")  # our own file, just written
    assert list(pipeline.predict_proba(pd.DataFrame([row(1)])).shape) == [1, 2]
    return convert_sklearn(pipeline, initial_types=[("amount", FloatTensorType([None, 1])),
                                                    ("segment", StringTensorType([None, 1]))],
                           options={"zipmap": False}).SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    run.WORK.mkdir(exist_ok=True)
    env = run.service_env(quick=False, var_dir=run.WORK / "var-v2")
    run.setup_django(env)
    from registry import services
    from registry.models import MLModel

    workdir = Path(tempfile.mkdtemp(prefix="v2-bench-"))
    peer = mlserver.start(workdir, "deal", [])
    service = None
    try:
        MLModel.objects.filter(pk__in=["deal-mlserver", "deal-onnx"]).delete()
        services.model_register(data={
            "id": "deal-mlserver", "name": "deal (MLServer)", "version": "1", "type": "classification",
            "provider": "custom", "feature_schema": SCHEMA, "cache_ttl": 0,
            "provider_config": {"endpoint": peer.url, "config": {
                "protocol": "v2", "modelName": "deal", "outputs": ["predict_proba"],
                "response": {"labels": peer.classes}, "timeout": 10}}})
        local = services.model_register(data={
            "id": "deal-onnx", "name": "deal (ONNX)", "version": "1", "type": "classification",
            "provider": "local", "feature_schema": SCHEMA, "cache_ttl": 0})
        services.model_artifact_upload(model=local, data=onnx_of_the_same_pipeline())
        key = run.token()
        service = run.gunicorn("v2-bench", "hotcrm_ai.settings", env, workers=1)
        auth = {"Authorization": f"Token {key}"}
        n = args.requests + 30
        results = {}
        with httpx.Client(timeout=30) as client:
            results["A. MLServer direct (V2)"] = timed(
                client, f"{peer.url}/v2/models/deal/infer",
                [v2_body(row(i), ["predict_proba"]) | {"parameters": {"content_type": "pd"}} for i in range(n)], {})
            for name, model_id in (("B. REST -> custom v2 -> MLServer", "deal-mlserver"),
                                   ("D. REST -> local ONNX", "deal-onnx")):
                results[name] = timed(client, f"{service.url}/api/v1/predictions/",
                                      [{"modelId": model_id, "features": row(n + i), "useCache": False}
                                       for i in range(n)], auth)
            for name, model_id in (("C. our V2 -> custom v2 -> MLServer", "deal-mlserver"),
                                   ("E. our V2 -> local ONNX", "deal-onnx")):
                results[name] = timed(client, f"{service.url}/v2/models/{model_id}/infer",
                                      [v2_body(row(2 * n + i)) for i in range(n)], auth)
    finally:
        if service is not None:
            service.stop()
        peer.stop()
    lines = [
        "# Single-row latency over V2 and REST (bench/v2_latency.py)", "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"One gunicorn worker (embedded SQLite + in-process cache), "
        f"MLServer 1.7.1 (sklearn runtime, parallel_workers 0), {args.requests} sequential requests per "
        "path after 30 warm-up ones, distinct features, no caching.", "",
        "| path | p50 ms | p95 ms | mean ms |", "|---|---:|---:|---:|",
        *[f"| {name} | {r['p50']:.2f} | {r['p95']:.2f} | {r['mean']:.2f} |" for name, r in results.items()],
        "", f"Load average (1, 5, 15 min) at the end: {run.load_average()} on this shared machine.", "",
    ]
    (BENCH / "RESULTS-v2.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(json.dumps(results))


if __name__ == "__main__":
    subprocess.run(["bash", str(ROOT / "scripts" / "setup-mlserver")], check=True)
    main()
