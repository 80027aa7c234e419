"""A task only the Celery tests load (`celery worker --include`): it leaves a file, so a
test sees that a separate worker process ran it."""

from __future__ import annotations

import os
from pathlib import Path

from hotcrm_ai.celery import app


@app.task(name="tests.probe_touch")
def probe_touch(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
