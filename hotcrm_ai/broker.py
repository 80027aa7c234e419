"""The embedded Celery broker: kombu's filesystem transport, with its two races closed and
redelivery added.

kombu's own `_put` opens the message file under its final name and writes it afterwards (its
lock is advisory and `_get` never takes it), so a consumer listing the folder in between
takes an empty file: `loads("")` raises JSONDecodeError after the file is already gone, and
the message is lost (seen with two beats and workers on one folder). Its `_get` claims a file
with `shutil.move` into the temporary directory, which is a copy when that directory is on
another filesystem, so two consumers can both take one message.

Here a message is written under a name no consumer looks at and renamed into place (a
rename within one folder is atomic: a consumer sees the whole file or none), and a consumer
claims it by renaming it into its own folder under the queue folder's `.claimed/` (one
filesystem, so exactly one consumer wins; the others find it gone and look at the next).

kombu's transport also deletes the file on receipt, so `acks_late` could not redeliver: a
message a worker had taken and not acknowledged died with it. Here the claimed file stays
until the message is acknowledged:
- ack, or reject without requeue: the claim is deleted;
- reject with requeue, and kombu's restore of unacknowledged messages when a channel closes
  (a graceful shutdown): the claim is renamed back into the queue, under its own name (so it
  is taken first again), instead of kombu putting a copy;
- a consumer whose process is gone (SIGKILL, OOM, a reboot) cannot do either: every consumer
  looks at the other owners' folders at its first poll and then every `claims_check_interval`
  seconds (a transport option, 1 s by default), and renames back the claims of dead owners.
  An owner's folder is named `<pid>+<start time>+<boot id>+<host>`, so a pid reused by
  another process, or the same pid after a reboot, never passes for the owner.

Settings select it with `CELERY_BROKER_TRANSPORT` when the broker URL is `filesystem://`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import uuid
from dataclasses import dataclass
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

CLAIMED = ".claimed"


# --- Who holds a claim --------------------------------------------------------------------

def _stat_fields(pid: int) -> list[bytes] | None:
    """Fields 3.. of /proc/<pid>/stat (after the command name, which may hold spaces and
    parentheses), None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rpartition(b")")[2].split()


UNKNOWN = "?"


def _start_time(pid: int) -> str | None:
    """When the process started (clock ticks after boot), None when it is gone or a zombie
    (killed, not yet reaped: it will never ack), UNKNOWN when it exists but cannot be read
    (no procfs, as on macOS, or another user's process under hidepid)."""
    fields = _stat_fields(pid)
    if fields is not None:
        return None if fields[0] in (b"Z", b"X") else fields[19].decode()  # field 22, starttime
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return UNKNOWN


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return "0"


@dataclass(frozen=True)
class Owner:
    pid: int
    start: str
    boot: str
    host: str

    @property
    def name(self) -> str:
        return f"{self.pid}+{self.start}+{self.boot}+{self.host}"

    @classmethod
    def parse(cls, name: str) -> Owner | None:
        parts = name.split("+", 3)
        if len(parts) != 4 or not parts[0].isdigit() or int(parts[0]) == 0:
            return None
        return cls(int(parts[0]), parts[1], parts[2], parts[3])

    def is_dead(self, me: Owner) -> bool:
        if self.host != me.host:
            return False  # another machine's process: only its own consumers can tell
        if self.boot != me.boot:
            return True  # this machine restarted since
        start = _start_time(self.pid)
        return start is None or start not in (self.start, UNKNOWN)


_me: Owner | None = None


def this_process() -> Owner:
    """This process as a claim owner (computed again in a forked child, which has its own pid)."""
    global _me
    if _me is None or _me.pid != os.getpid():
        host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:64] or "host"
        _me = Owner(os.getpid(), _start_time(os.getpid()) or UNKNOWN, _boot_id(), host)
    return _me


# --- Claims ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    folder: str  # the queue folder it came from and goes back to
    name: str
    path: str  # where it is while claimed


class Claims:
    """This connection's claimed, unacknowledged messages by delivery tag. Acks may come from
    another thread (Celery's pool result handler): each claim is popped once, by one of them."""

    def __init__(self, check_interval: float) -> None:
        self.held: dict[str, Claim] = {}
        self.check_interval = check_interval
        self.checked_at: float | None = None

    def drop(self, delivery_tag: str) -> None:
        claim = self.held.pop(delivery_tag, None)
        if claim is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(claim.path)

    def give_back(self, delivery_tag: str) -> bool:
        """Rename the claimed file back into its queue; False when this tag has no claim."""
        claim = self.held.pop(delivery_tag, None)
        if claim is None:
            return False
        # A missing file means nothing is left to give back; a copy could only duplicate it.
        with contextlib.suppress(FileNotFoundError):
            os.rename(claim.path, os.path.join(claim.folder, claim.name))
        return True

    def give_back_all(self) -> None:
        for delivery_tag in list(self.held):
            self.give_back(delivery_tag)

    def recover_if_due(self, folder: str) -> None:
        now = monotonic()
        if self.checked_at is None or now - self.checked_at >= self.check_interval:
            self.checked_at = now
            recover_dead_claims(folder)


def recover_dead_claims(folder: str) -> int:
    """Rename the claims of dead owners back into the queue folder; how many."""
    root = os.path.join(folder, CLAIMED)
    me = this_process()
    recovered = 0
    try:
        owners = os.listdir(root)
    except FileNotFoundError:
        return 0
    for name in owners:
        owner = Owner.parse(name)
        if owner is None or owner == me or not owner.is_dead(me):
            continue
        owner_folder = os.path.join(root, name)
        try:
            claimed = os.listdir(owner_folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for filename in claimed:
            try:
                os.rename(os.path.join(owner_folder, filename), os.path.join(folder, filename))
                recovered += 1
            except FileNotFoundError:
                continue  # another consumer gave it back first
        with contextlib.suppress(OSError):  # another consumer removed it, or is still emptying it
            os.rmdir(owner_folder)
    return recovered


def _delivery_tag(message: Any) -> str | None:
    try:
        return message["properties"]["delivery_tag"]
    except (TypeError, KeyError):
        return None


# --- kombu -------------------------------------------------------------------------------

class QoS(virtual.QoS):
    channel: Channel

    def ack(self, delivery_tag: str) -> None:
        super().ack(delivery_tag)  # marked acked first, so a concurrent restore skips it
        self.channel.claims.drop(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if requeue and self.channel.claims.give_back(delivery_tag):
            super().ack(delivery_tag)  # done with here: it is back in the queue
            return
        super().reject(delivery_tag, requeue=requeue)
        self.channel.claims.drop(delivery_tag)

    def restore_unacked(self) -> list[tuple[BaseException, Any]]:
        # kombu's own puts a copy of each message back; ours renames the claim back, once.
        self._flush()
        errors: list[tuple[BaseException, Any]] = []
        while self._delivered:
            delivery_tag, message = self._delivered.popitem()
            if delivery_tag in self._dirty:
                continue  # acked meanwhile by another thread
            try:
                if not self.channel.claims.give_back(delivery_tag):
                    self.channel._restore(message)
            except BaseException as exc:
                errors.append((exc, message))
        return errors


class Channel(filesystem.Channel):
    QoS = QoS

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.claims: Claims = connection.claims
        self._no_ack_queues: set[str] = set()

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]  # kombu's bases disagree on the name
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot: `_get` matches what follows the name's first dot against
        # "<queue>.msg", which "<name>.part" never is.
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str, timeout: Any = None) -> Any:
        folder = self.data_folder_in
        self.claims.recover_if_due(folder)
        own_folder = os.path.join(folder, CLAIMED, this_process().name)
        os.makedirs(own_folder, exist_ok=True)
        wanted = f"{queue}.msg"
        for filename in sorted(os.listdir(folder)):
            if filename.partition(".")[2] != wanted:
                continue
            claim = Claim(folder, filename, os.path.join(own_folder, filename))
            try:
                os.rename(os.path.join(folder, filename), claim.path)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            return self._read_claim(queue, claim)
        raise Empty()

    def _read_claim(self, queue: str, claim: Claim) -> Any:
        try:
            with open(claim.path, "rb") as f:
                payload = f.read()
        except OSError as exc:
            raise ChannelError(f"Cannot read file {claim.path!r} from queue.") from exc
        try:
            message = loads(bytes_to_str(payload))
        except ValueError:
            os.remove(claim.path)  # unreadable: kept, it would fail again at every restart
            raise
        delivery_tag = _delivery_tag(message)
        if delivery_tag is None or queue in self._no_ack_queues:
            os.remove(claim.path)  # no ack will name it (remote-control queues are no_ack)
        else:
            self.claims.held[delivery_tag] = claim
        return message

    def basic_consume(self, queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> Any:
        if no_ack:
            self._no_ack_queues.add(queue)
        else:
            self._no_ack_queues.discard(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        message = super().basic_get(queue, no_ack, **kwargs)
        if message is not None and no_ack:
            self.claims.drop(message.delivery_tag)
        return message


class Transport(filesystem.Transport):
    Channel = Channel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.claims = Claims(float(client.transport_options.get("claims_check_interval", 1.0)))

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)  # each channel gives back its unacked messages
        self.claims.give_back_all()  # and what was taken but never delivered
