"""The embedded broker (hotcrm_ai/broker.py): a message is never seen half-written, each one
reaches exactly one live consumer, however many producers (beats, the service) and consumers
(workers) share the folder, and a message taken but not acknowledged is delivered again: after
a reject, a graceful close, or its consumer's death."""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import subprocess
import time
from queue import Empty

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport import filesystem, virtual

from hotcrm_ai import broker


@pytest.fixture(autouse=True)
def fresh_bindings(monkeypatch):
    # kombu keeps the filesystem transport's bindings per process, not per folder: a queue
    # bound in an earlier test's folder would count as bound here and get no binding file.
    monkeypatch.setattr(broker.Transport, "global_state", virtual.BrokerState())


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


def _consume(folder, results, stop, idle: float = 1.0) -> None:
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
                    if time.monotonic() - idle_since > idle:
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


def _queued(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder / "queue") if name.endswith(".jobs.msg"))


def _claimed(folder) -> list[str]:
    root = folder / "queue" / broker.CLAIMED
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*")) if root.exists() else []


def _take_and_hold(folder, taken, then: str) -> None:
    """Take one message and never acknowledge it; then wait to be killed, or close gracefully."""
    with Connection("filesystem://", transport=broker.Transport, transport_options=_options(folder)) as conn:
        queue = conn.SimpleQueue("jobs")
        taken.put(queue.get(block=True, timeout=30).payload["id"])
        if then == "hang":
            time.sleep(120)
    # leaving the `with`: the connection closes and kombu restores the unacknowledged message


def _drain(folder, quiet: float) -> list[tuple[str, float]]:
    """(id, when) of every message until none came for `quiet` seconds, each acknowledged."""
    got = []
    with Connection("filesystem://", transport=broker.Transport, transport_options=_options(folder)) as conn:
        queue = conn.SimpleQueue("jobs")
        while True:
            try:
                message = queue.get(block=True, timeout=quiet)
            except Empty:
                break
            got.append((message.payload["id"], time.monotonic()))
            message.ack()
    return got


def test_it_keeps_a_taken_message_until_it_is_acknowledged(tmp_path):
    _produce(tmp_path, "m", 1)
    [name] = _queued(tmp_path)
    with Connection("filesystem://", transport=broker.Transport, transport_options=_options(tmp_path)) as conn:
        queue = conn.SimpleQueue("jobs")
        message = queue.get(block=True, timeout=5)
        assert _queued(tmp_path) == []
        assert _claimed(tmp_path) == [f"{broker.this_process().name}/{name}"]
        message.ack()
        assert _claimed(tmp_path) == []
    assert _queued(tmp_path) == [] and _claimed(tmp_path) == []  # nothing comes back at close


def test_it_keeps_no_claim_for_a_consumer_that_never_acknowledges(tmp_path):
    # Celery's remote-control queues are consumed with no_ack: their messages are not kept.
    _produce(tmp_path, "m", 2)
    with Connection("filesystem://", transport=broker.Transport, transport_options=_options(tmp_path)) as conn:
        got = []
        with conn.Consumer(Queue("jobs", Exchange("jobs"), "jobs"), no_ack=True,
                           callbacks=[lambda body, message: got.append(body["id"])]):
            conn.drain_events(timeout=5)
        # Either message may come first: two produced in one millisecond sort by their uuids.
        assert len(got) == 1 and got[0] in ("m-0", "m-1") and _claimed(tmp_path) == []
        other = conn.default_channel.basic_get("jobs", no_ack=True)
        assert other is not None and {got[0], other.payload["id"]} == {"m-0", "m-1"}
        assert _queued(tmp_path) == [] and _claimed(tmp_path) == []


def test_it_puts_a_message_rejected_with_requeue_back_and_drops_one_rejected_without(tmp_path):
    _produce(tmp_path, "m", 1)
    [name] = _queued(tmp_path)
    with Connection("filesystem://", transport=broker.Transport, transport_options=_options(tmp_path)) as conn:
        queue = conn.SimpleQueue("jobs")
        queue.get(block=True, timeout=5).reject(requeue=True)
        assert _queued(tmp_path) == [name] and _claimed(tmp_path) == []  # the same file, first in line
        message = queue.get(block=True, timeout=5)
        assert message.payload == {"id": "m-0"}
        message.reject(requeue=False)
        assert _queued(tmp_path) == [] and _claimed(tmp_path) == []
        with pytest.raises(Empty):
            queue.get(block=True, timeout=1.5)  # past a dead-claims check: nothing anywhere


def test_it_delivers_a_message_held_by_a_killed_consumer_to_another_within_seconds(tmp_path):
    _produce(tmp_path, "m", 3)
    context = multiprocessing.get_context("fork")
    taken = context.Queue()
    victim = context.Process(target=_take_and_hold, args=(tmp_path, taken, "hang"))
    victim.start()
    held = taken.get(timeout=30)
    os.kill(victim.pid, signal.SIGKILL)  # not reaped yet: a zombie must count as dead too
    killed_at = time.monotonic()
    got = _drain(tmp_path, quiet=3.0)
    victim.join(10)
    assert sorted(i for i, _ in got) == ["m-0", "m-1", "m-2"]  # every message once, the held one too
    assert dict(got)[held] - killed_at < 5.0
    assert _queued(tmp_path) == [] and _claimed(tmp_path) == []


def test_it_puts_unacknowledged_messages_back_once_when_a_consumer_closes(tmp_path):
    # kombu restores the unacknowledged messages of a closing channel by putting copies; here
    # the claim itself goes back, so the dead-claims check has nothing left to add later.
    _produce(tmp_path, "m", 1)
    context = multiprocessing.get_context("fork")
    taken = context.Queue()
    consumer = context.Process(target=_take_and_hold, args=(tmp_path, taken, "close"))
    consumer.start()
    assert taken.get(timeout=30) == "m-0"
    consumer.join(30)
    assert consumer.exitcode == 0
    assert len(_queued(tmp_path)) == 1 and _claimed(tmp_path) == []
    assert [i for i, _ in _drain(tmp_path, quiet=2.5)] == ["m-0"]  # 2.5 s: past two checks


def _ack_then_hold(folder, report_path, acks: int) -> None:
    """A consumer that reports each id it takes (one atomic append), acknowledges the first
    `acks` and holds the next one unacknowledged until it is killed."""
    fd = os.open(report_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    with Connection("filesystem://", transport=broker.Transport, transport_options=_options(folder)) as conn:
        queue = conn.SimpleQueue("jobs")
        for _ in range(acks):
            message = queue.get(block=True, timeout=60)
            os.write(fd, f"{message.payload['id']}\n".encode())
            message.ack()
        os.write(fd, f"{queue.get(block=True, timeout=60).payload['id']}\n".encode())
        time.sleep(120)


def test_it_hands_each_message_to_exactly_one_live_consumer_when_one_of_three_is_killed(tmp_path):
    context = multiprocessing.get_context("fork")
    results, stop = context.Queue(), context.Event()
    report = tmp_path / "victim.txt"
    victim = context.Process(target=_ack_then_hold, args=(tmp_path, report, 10))
    survivors = [context.Process(target=_consume, args=(tmp_path, results, stop, 3.0)) for _ in range(2)]
    producers = [context.Process(target=_produce, args=(tmp_path, name, 400)) for name in ("beat-a", "beat-b")]
    for p in [victim, *survivors, *producers]:
        p.start()
    deadline = time.monotonic() + 60
    while not (report.exists() and report.read_text().count("\n") == 11) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(10)
    for p in producers:
        p.join(60)
    stop.set()
    received = [results.get(timeout=60) for _ in survivors]
    for p in survivors:
        p.join(10)
    *acked, held = report.read_text().split()
    assert len(acked) == 10
    living = collections.Counter(received[0] + received[1])
    assert living.most_common(1)[0][1] == 1  # exactly once among the living consumers
    assert held in living  # the message the victim died holding reached one of them
    assert not living.keys() & set(acked)  # and no acknowledged one did
    assert sorted([*living, *acked]) == sorted(f"{n}-{i}" for n in ("beat-a", "beat-b") for i in range(400))
    assert _claimed(tmp_path) == []


def test_it_tells_a_dead_owner_from_a_live_one_whose_pid_was_reused_or_machine_restarted():
    me = broker.this_process()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        alive = broker.Owner(sleeper.pid, broker._start_time(sleeper.pid) or "", me.boot, me.host)
        assert not alive.is_dead(me)
        assert broker.Owner(sleeper.pid, "1", me.boot, me.host).is_dead(me)  # same pid, another process
        assert broker.Owner(sleeper.pid, alive.start, "another-boot", me.host).is_dead(me)
        assert not broker.Owner(12345678, "1", me.boot, "another-host").is_dead(me)  # cannot tell: left alone
    finally:
        sleeper.kill()
        sleeper.wait()
    assert alive.is_dead(me)
    assert broker.Owner.parse(alive.name) == alive
