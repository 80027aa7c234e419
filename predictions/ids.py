"""Prediction ids: UUID version 7 (RFC 9562), whose first 48 bits are the Unix time in
milliseconds, so an id says when it was minted (feedback waits only for recent ids) and new
log rows land at the end of the primary-key index.

Hand-written because Python gains `uuid.uuid7` only in 3.14; this is the RFC's layout with
74 random bits, and the ids stay ordinary UUIDs for clients and the database.
"""

from __future__ import annotations

import os
import time
import uuid

_RANDOM_BITS = (1 << 74) - 1


def new_prediction_id() -> str:
    return new_prediction_ids(1)[0]


def new_prediction_ids(count: int) -> list[str]:
    """`count` ids from one read of the OS's random source (a batch asks once, not per row)."""
    ms = time.time_ns() // 1_000_000
    pool = os.urandom(10 * count)
    ids = []
    for i in range(count):
        rand = int.from_bytes(pool[10 * i:10 * i + 10], "big") & _RANDOM_BITS
        # 48 bits time | 4 bits version (7) | 12 bits random | 2 bits variant (10) | 62 bits random
        value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
        h = f"{value:032x}"  # uuid.UUID's own str() layout, without building a UUID object
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def minted_at(prediction_id: str) -> float | None:
    """The Unix time a version-7 id was minted, or None (another kind of id, or a time in the
    future, which no id of ours has)."""
    try:
        value = uuid.UUID(str(prediction_id))
    except ValueError:
        return None
    if value.version != 7:
        return None
    seconds = (value.int >> 80) / 1000
    return seconds if seconds <= time.time() + 1 else None


# The shadow log of a prediction has an id derived from the prediction's own, so an outcome
# reported for the returned prediction reaches its shadow twin without another column.
_SHADOW_NAMESPACE = uuid.UUID("7b0e4f43-5d0c-4e8e-9a4c-0c5a1f6d2b11")


def shadow_id(prediction_id: str) -> str:
    """The id of the shadow run's log row twinned with prediction `prediction_id`."""
    return str(uuid.uuid5(_SHADOW_NAMESPACE, str(prediction_id)))
