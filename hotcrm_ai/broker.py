"""The embedded Celery broker: kombu's filesystem transport, with its two races closed.

kombu's own `_put` opens the message file under its final name and writes it afterwards (its
lock is advisory and `_get` never takes it), so a consumer listing the folder in between
takes an empty file: `loads("")` raises JSONDecodeError after the file is already gone, and
the message is lost (seen with two beats and workers on one folder). Its `_get` claims a file
with `shutil.move` into the temporary directory, which is a copy when that directory is on
another filesystem, so two consumers can both take one message.

Here a message is written under a name no consumer looks at and renamed into place (a
rename within one folder is atomic: a consumer sees the whole file or none), and a consumer
claims it by renaming it into the queue folder's own `.claimed/` (one filesystem, so exactly
one consumer wins; the others find it gone and look at the next).

Settings select it with `CELERY_BROKER_TRANSPORT` when the broker URL is `filesystem://`.
"""

from __future__ import annotations

import os
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

CLAIMED = ".claimed"


class Channel(filesystem.Channel):
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
        wanted = f"{queue}.msg"
        claimed_folder = os.path.join(self.data_folder_in, CLAIMED)
        os.makedirs(claimed_folder, exist_ok=True)
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(claimed_folder, filename)
            try:
                os.rename(os.path.join(self.data_folder_in, filename), claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            try:
                with open(claimed, "rb") as f:
                    payload = f.read()
                os.remove(claimed)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            return loads(bytes_to_str(payload))
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel
