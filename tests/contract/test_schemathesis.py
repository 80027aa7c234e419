"""Contract fuzzing: schemathesis against the service under gunicorn, with a valid staff
token, over every operation of the OpenAPI schema. No 5xx, and no response that
contradicts the schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.servers import ROOT, AppServer

pytestmark = [
    pytest.mark.slow,
    # The server under test has its own SQLite database and cache whatever the suite runs
    # on, so the second CI run (PostgreSQL and Redis) would repeat this one exactly.
    pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="covered by the embedded run"),
]

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5")  # per operation; ~1,000 requests
# The time budget of the whole run: fuzzing and stateful phases repeat until it is spent.
STATEFUL_SECONDS = os.environ.get("SCHEMATHESIS_MAX_SECONDS", "60")


def run_schemathesis(app: AppServer, key: str, report: Path) -> subprocess.CompletedProcess:
    # The schema as the live server serves it, fetched once with a patient timeout (its
    # generation takes seconds on a loaded machine; schemathesis waits 10 s at most).
    schema = report.parent / "openapi.json"
    with app.client(key) as http:
        response = http.get("/api/schema/?format=json")
        response.raise_for_status()
        schema.write_bytes(response.content)
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "run", str(schema), "--url", app.base_url,
        "--header", f"Authorization: Token {key}",
        "--checks", CHECKS,
        # Stateful: sequences of calls along the links schemathesis infers (create a model,
        # then read, edit, promote, explain it...), which found what single calls could not.
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-time", STATEFUL_SECONDS,
        "--max-examples", MAX_EXAMPLES,
        "--seed", "20261121",
        # One worker: with two, a 600 s run here died in the coverage phase on CPython 3.11's
        # "AST constructor recursion depth mismatch" (its ast module's recursion counter is
        # not per thread; hypothesis parses lambdas' source while describing strategies).
        "--workers", "1",
        "--request-timeout", "60",
        "--generation-database", "none",
        "--report", "ndjson", "--report-ndjson-path", str(report),
        "--no-color", "--output-truncate", "true",
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)


def request_count(report: Path) -> int:
    """Requests schemathesis sent, from its event log."""
    count = 0
    for line in report.read_text().splitlines():
        event = json.loads(line)
        for name, body in event.items():
            if name == "ScenarioFinished":
                count += sum(len(case.get("interactions", []) or [1])
                             for case in (body.get("recorder", {}).get("cases", {}) or {}).values())
    return count


def test_it_meets_its_own_schema_under_fuzzing(tmp_path, builtin_fixture, secret_key):
    app = AppServer(tmp_path, secret_key=secret_key, fixture=builtin_fixture, workers=2)
    try:
        key = app.prepare("--staff")
        app.start()
        report = tmp_path / "events.ndjson"
        result = run_schemathesis(app, key, report)
        summary = result.stdout[-6000:]
        print(summary)
        print(f"schemathesis requests: {request_count(report)}")
        assert result.returncode == 0, summary + result.stderr[-2000:] + app.log_text()[-3000:]
        assert " 5" not in "".join(line for line in app.log_text().splitlines() if "Internal Server Error" in line)
    finally:
        app.stop()
