"""The benchmark's smoke run: it starts the floor and the service under gunicorn, loads
them with wrk and writes its table. No timing is asserted (this machine is shared)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is installed by scripts/setup-bench")
def test_it_measures_the_service_beside_the_floor_and_writes_the_table(tmp_path):
    output = tmp_path / "RESULTS.md"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env |= {"HOTCRM_VAR_DIR": str(tmp_path / "var"), "CACHE_KEY_PREFIX": f"{env.get('CACHE_KEY_PREFIX', 'hotcrm')}-bench"}
    run = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--output", str(output)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = output.read_text()
    assert re.search(r"\| 1\. cached single predictions \| [\d,]+ req/s, p50 [\d.]+ ms, p99 [\d.]+ ms \| floor [\d,]+ req/s", table)
    assert re.search(r"\| 2\. uncached single predictions \| [\d,]+ req/s", table)
    assert re.search(r"\| 3\. 1,000-row batches \| [\d,]+ rows/s .* every row recorded: yes", table)
    assert "Machine: " in table and "Load average" in table
