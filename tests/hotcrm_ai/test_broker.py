"""The embedded broker (hotcrm_ai/broker.py): a message is never seen half-written, and each
one reaches exactly one consumer, however many producers (beats, the service) and consumers
(workers) share the folder."""

from __future__ import annotations

import multiprocessing
import time
from queue import Empty

import pytest
from kombu import Connection
from kombu.transport import filesystem

from hotcrm_ai import broker


def _options(folder) -> dict:
    (folder / "queue").mkdir(parents=True, exist_ok=True)
    return {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"), "store_processed": False, "polling_interval": 0.01}


def _channel(transport, folder):
    connection = Connection("filesystem://", transport=transport, transport_options=_options(folder))
    return connection, connection.default_channel


def test_it_never_hands_a_consumer_a_message_that_is_still_being_written(tmp_path, monkeypatch):
    # The attack: a consumer looks at the folder while a producer is between creating the
    # message file and writing it. kombu's own transport hands it the empty file and loses it.
    producer_conn, producer = _channel(filesystem.Transport, tmp_path / "stock")
    consumer_conn, consumer = _channel(filesystem.Transport, tmp_path / "stock")
    seen = []
    real_dumps = filesystem.dumps

    def dumps_while_a_consumer_looks(payload):
        try:
            seen.append(consumer._get("jobs"))
        except Exception as exc:  # what the stock consumer makes of it
            seen.append(exc)
        return real_dumps(payload)

    monkeypatch.setattr(filesystem, "dumps", dumps_while_a_consumer_looks)
    producer._put("jobs", {"n": 1})
    assert isinstance(seen[0], ValueError)  # JSONDecodeError: the empty file was taken...
    with pytest.raises(Empty):
        consumer._get("jobs")  # ...and the message is gone

    producer_conn, producer = _channel(broker.Transport, tmp_path / "ours")
    consumer_conn, consumer = _channel(broker.Transport, tmp_path / "ours")
    seen.clear()
    monkeypatch.setattr(broker, "dumps", dumps_while_a_consumer_looks)
    producer._put("jobs", {"n": 1})
    assert isinstance(seen[0], Empty)  # the half-written message is invisible...
    assert consumer._get("jobs") == {"n": 1}  # ...and delivered whole once written
    producer_conn.release()
    consumer_conn.release()


def _produce(folder, name: str, count: int) -> None:
    with Connection("filesystem://", transport=broker.Transport, transport_options=_options(folder)) as conn:
        queue = conn.SimpleQueue("jobs")
        for i in range(count):
            queue.put({"id": f"{name}-{i}"})
        queue.close()


def _consume(folder, results, stop) -> None:
    got = []
    with Connection("filesystem://", transport=broker.Transport, transport_options=_options(folder)) as conn:
        queue = conn.SimpleQueue("jobs")
        idle_since = None
        while True:
            try:
                message = queue.get(block=True, timeout=0.2)
            except Empty:
                if stop.is_set():
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 1.0:
                        break
                continue
            idle_since = None
            got.append(message.payload["id"])
            message.ack()
        queue.close()
    results.put(got)


def test_it_hands_each_message_to_exactly_one_of_two_consumers_while_two_producers_write(tmp_path):
    context = multiprocessing.get_context("fork")
    results, stop = context.Queue(), context.Event()
    consumers = [context.Process(target=_consume, args=(tmp_path, results, stop)) for _ in range(2)]
    producers = [context.Process(target=_produce, args=(tmp_path, name, 400)) for name in ("beat-a", "beat-b")]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join(60)
    stop.set()
    received = [results.get(timeout=60) for _ in consumers]
    for p in consumers:
        p.join(10)
    everything = received[0] + received[1]
    assert len(everything) == 800
    assert sorted(everything) == sorted(f"{n}-{i}" for n in ("beat-a", "beat-b") for i in range(400))
    assert received[0] and received[1]  # both consumers took part
