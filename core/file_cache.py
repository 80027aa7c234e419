"""Django's file-based cache with `add` and `incr` atomic across processes, for counters
every worker of one machine must share when there is no Redis (throttle windows, login
failures). Django's own `incr` is a get then a set (two processes both read 4 and both write
5) and resets the key's expiry; here an exclusive `flock` on one lock file serialises them
and the expiry is kept. The counters are a few small files: holding the lock costs
microseconds."""

from __future__ import annotations

import fcntl
import os
import pickle
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache.backends.filebased import FileBasedCache


class LockedFileBasedCache(FileBasedCache):
    @contextmanager
    def _locked(self) -> Iterator[None]:
        os.makedirs(self._dir, exist_ok=True)
        with open(os.path.join(self._dir, "counters.lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def add(self, key: str, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        with self._locked():
            return super().add(key, value, timeout, version)

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        with self._locked():
            try:
                with open(self._key_to_file(key, version), "rb") as handle:
                    expiry = pickle.load(handle)
                    value = pickle.loads(zlib.decompress(handle.read()))
            except (FileNotFoundError, EOFError, zlib.error):
                raise ValueError(f"Key '{key}' not found") from None
            left = None if expiry is None else expiry - time.time()
            if left is not None and left <= 0:
                raise ValueError(f"Key '{key}' not found")
            self.set(key, value + delta, left, version)
            return value + delta
