"""A real Seldon MLServer on loopback for the V2 tests: its own venv (scripts/setup-mlserver,
pinned and hash-checked), a scikit-learn pipeline fitted by that venv's Python, free ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / "var" / "mlserver-venv"
MODEL_SCRIPT = Path(__file__).with_name("mlserver_model.py")


@dataclass
class MLServer:
    url: str
    classes: list[str]
    expected: list[list[float]]  # the pipeline's own predict_proba of the rows asked for
    process: subprocess.Popen
    log: Any

    def stop(self) -> None:
        self.log.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workdir: Path, name: str, rows: list[dict], *, timeout: float = 120.0) -> MLServer:
    # `make test` creates the venv; this only fills in when a test is run on its own.
    subprocess.run(["bash", str(ROOT / "scripts" / "setup-mlserver")], check=True)
    fitted = subprocess.run([str(VENV / "bin" / "python"), str(MODEL_SCRIPT), str(workdir), name, json.dumps(rows)],
                            check=True, capture_output=True, text=True)
    answer = json.loads(fitted.stdout.strip().splitlines()[-1])
    port = free_port()
    (workdir / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(),
        "parallel_workers": 0, "debug": False,
    }))
    log = open(workdir / "mlserver.log", "wb")  # noqa: SIM115 - open for the server's lifetime
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE_URL", "REDIS_URL"))}
    process = subprocess.Popen([str(VENV / "bin" / "mlserver"), "start", str(workdir)], stdout=log,
                               stderr=subprocess.STDOUT, env=env, cwd=workdir)
    server = MLServer(f"http://127.0.0.1:{port}", answer["classes"], answer["proba"], process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("MLServer exited:\n" + (workdir / "mlserver.log").read_text()[-2000:])
        try:
            if httpx.get(f"{server.url}/v2/models/{name}/ready", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError("MLServer did not get ready:\n" + (workdir / "mlserver.log").read_text()[-2000:])
