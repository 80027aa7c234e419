"""Where a worker's time goes, chunk by chunk (a benchmark aid, off unless JOB_STAGE_LOG names
a file): each chunk appends one JSON line with the wall and CPU milliseconds of each stage
(waiting for the task, reading the chunk, scoring, each write of the commit), so
bench/jobs.py can say which stage holds the time that is neither scoring nor COPY.

Off, a stage mark is one attribute read: nothing is timed or written.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson
from django.conf import settings


class _Timer:
    def __init__(self, path: str) -> None:
        self.path = path
        self.last_end: float | None = None  # when this process's previous chunk ended
        self.stages: dict[str, list[float]] = {}
        self.info: dict[str, Any] = {}
        self.wall = self.cpu = 0.0

    def begin(self, **info: Any) -> None:
        now = time.perf_counter()
        self.stages = {}
        self.info = {"pid": os.getpid(), **info}
        if self.last_end is not None:  # the broker round trip and Celery's own work between tasks
            self.stages["between_tasks"] = [(now - self.last_end) * 1000, 0.0]
        self.wall, self.cpu = now, time.process_time()

    def mark(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        spent = self.stages.setdefault(stage, [0.0, 0.0])
        spent[0] += (wall - self.wall) * 1000
        spent[1] += (cpu - self.cpu) * 1000
        self.wall, self.cpu = wall, cpu

    def end(self, **info: Any) -> None:
        self.mark("rest")
        self.last_end = time.perf_counter()
        line = {**self.info, **info, "at": time.time(),
                "stages": {k: [round(v[0], 2), round(v[1], 2)] for k, v in self.stages.items()}}
        with open(self.path, "ab") as f:
            f.write(orjson.dumps(line) + b"\n")


class _Off:
    def begin(self, **info: Any) -> None:
        pass

    def mark(self, stage: str) -> None:
        pass

    def end(self, **info: Any) -> None:
        pass


_timer: _Timer | _Off | None = None


def timer() -> _Timer | _Off:
    """This process's stage timer (the setting is read once)."""
    global _timer
    if _timer is None:
        path = settings.HOTCRM.get("JOB_STAGE_LOG", "")
        _timer = _Timer(path) if path else _Off()
    return _timer
