"""The gunicorn worker `make run` serves with: gunicorn's threaded worker (`gthread`), whose
idle and slow connections wait in its poller instead of holding a worker (three idle
connections stopped every `sync` worker), with requests gunicorn itself refuses (a request
line over its limit, malformed headers) answered in the API's JSON error shape rather than
gunicorn's HTML page.

Slow and half-sent requests: gthread hands a connection to a thread as soon as its first
bytes arrive, and the thread then blocks until the request is complete, so 50 clients that
send half a request (headers not finished, or a body shorter than its Content-Length) held
every thread. Here the worker's poller reads each request itself, without a thread, until
its head and body are complete (bodies up to GUNICORN_BUFFER_BYTES), and only then hands it
to a thread; a request not complete within GUNICORN_READ_TIMEOUT seconds is answered 408
and closed. What a thread still reads or writes itself (a body over the buffer size, a
response to a client that does not read) waits at most GUNICORN_IO_TIMEOUT seconds per
read or write. Written here because gunicorn has no setting for any of this; the other
way is a buffering proxy (nginx) in front.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http import errors
from gunicorn.http2 import negotiation
from gunicorn.workers import gthread
from gunicorn.workers.gthread import TConn, ThreadWorker

# Seconds a request may take to arrive whole (head and buffered body) before it is refused.
READ_TIMEOUT = float(os.environ.get("GUNICORN_READ_TIMEOUT", "10"))
# Requests up to this size (head plus body) are read whole by the poller; larger bodies are
# read by their thread (uploads), each read bounded by IO_TIMEOUT.
BUFFER_BYTES = int(os.environ.get("GUNICORN_BUFFER_BYTES", str(1024 * 1024)))
# Seconds one socket read or write of a thread may wait for the client.
IO_TIMEOUT = float(os.environ.get("GUNICORN_IO_TIMEOUT", "10"))
TIMEOUT_BODY = json.dumps({"error": {"code": "request_timeout",
                                     "message": "The request did not arrive in time."}}).encode()
TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(TIMEOUT_BODY)).encode() + b"\r\n\r\n" + TIMEOUT_BODY)

# A new connection holds a thread while gthread waits for its first bytes, 5 s by default,
# before parking it in the poller: 50 idle connections then held every thread for seconds
# (tests/faults/test_slow_clients.py). Real clients send at once; park the rest sooner.
# gunicorn reads this module constant at each use; it has no setting for it.
gthread.DEFAULT_WORKER_DATA_TIMEOUT = 0.1

# gunicorn's own statuses for what it refuses before the application sees a request
# (gunicorn/workers/base.py handle_error); every other client error there is a 400.
STATUSES: list[tuple[type[Exception], int, str, str]] = [
    (errors.LimitRequestLine, 414, "URI Too Long", "request_line_too_long"),
    (errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "headers_too_large"),
    (errors.UnsupportedTransferCoding, 501, "Not Implemented", "unsupported_transfer_coding"),
    (errors.ExpectationFailed, 417, "Expectation Failed", "expectation_failed"),
    (errors.ForbiddenProxyRequest, 403, "Forbidden", "forbidden"),
]
CLIENT_ERRORS = tuple(
    getattr(errors, name) for name in (
        "InvalidRequestLine", "InvalidRequestMethod", "InvalidHTTPVersion", "InvalidHeader",
        "InvalidHeaderName", "InvalidProxyLine", "InvalidSchemeHeaders", "ObsoleteFolding",
        "InvalidChunkSize", "ChunkMissingTerminator", "InvalidChunkExtension", "InvalidH2CPreface",
    ) if hasattr(errors, name)
)


class TimedSocket(socket.socket):
    """A client socket whose blocking reads and writes give up after IO_TIMEOUT. gunicorn
    switches its sockets between non-blocking (in the poller) and blocking (in a thread)
    with setblocking(); "blocking" here means "with a timeout". A client that is too slow
    looks like one that reset the connection, which gunicorn closes quietly."""

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(IO_TIMEOUT)
        else:
            super().setblocking(False)

    def recv(self, *args: Any) -> bytes:
        try:
            return super().recv(*args)
        except TimeoutError:
            raise ConnectionResetError(errno.ECONNRESET, "client too slow") from None

    def send(self, *args: Any) -> int:
        try:
            return super().send(*args)
        except TimeoutError:
            raise ConnectionResetError(errno.ECONNRESET, "client too slow") from None

    def sendall(self, *args: Any) -> None:
        try:
            return super().sendall(*args)
        except TimeoutError:
            raise ConnectionResetError(errno.ECONNRESET, "client too slow") from None

    def sendfile(self, *args: Any, **kwargs: Any) -> int:
        try:
            return super().sendfile(*args, **kwargs)
        except TimeoutError:
            raise ConnectionResetError(errno.ECONNRESET, "client too slow") from None


def request_state(buf: bytes | bytearray) -> str:
    """Whether `buf` holds a whole HTTP/1 request: "complete"; "incomplete"; "continue"
    (the head is whole, asks for 100-continue, and the body has not started); or "thread"
    (too large to buffer, or malformed: gunicorn's parser reads the rest and answers)."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return "thread" if len(buf) > BUFFER_BYTES else "incomplete"
    body_start = head_end + 4
    length: int | None = None
    chunked = expect = False
    for line in bytes(buf[:head_end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return "thread"
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = chunked or b"chunked" in value
        elif name == b"expect":
            expect = value == b"100-continue"
    if chunked:
        if length is not None:
            return "thread"  # ambiguous framing: gunicorn refuses it
        return _chunked_state(buf, body_start, expect)
    if not length:
        return "complete"
    if body_start + length > BUFFER_BYTES:
        return "thread"
    if len(buf) - body_start >= length:
        return "complete"
    return "continue" if expect and len(buf) == body_start else "incomplete"


def _chunked_state(buf: bytes | bytearray, pos: int, expect: bool) -> str:
    start = pos
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            if len(buf) > BUFFER_BYTES:
                return "thread"
            return "continue" if expect and len(buf) == start else "incomplete"
        try:
            size = int(bytes(buf[pos:line_end]).split(b";")[0].strip(), 16)
        except ValueError:
            return "thread"
        if size == 0:  # the last chunk: then trailers, ended by an empty line
            if buf[line_end + 2:line_end + 4] == b"\r\n" or buf.find(b"\r\n\r\n", line_end) >= 0:
                return "complete"
            return "incomplete"
        pos = line_end + 2 + size + 2
        if pos > BUFFER_BYTES:
            return "thread"
        if pos > len(buf):
            return "incomplete"


def _without_expect(buf: bytearray) -> bytearray:
    head_end = buf.find(b"\r\n\r\n")
    lines = bytes(buf[:head_end]).split(b"\r\n")
    kept = [lines[0], *(line for line in lines[1:] if line.partition(b":")[0].strip().lower() != b"expect")]
    return bytearray(b"\r\n".join(kept)) + buf[head_end:]


class JsonErrorThreadWorker(ThreadWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[TConn, float] = {}  # connections whose request is arriving -> deadline

    # --- requests read whole by the poller before a thread takes them -------------------

    def accept(self, listener: Any) -> None:
        try:
            raw, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client = TimedSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
        conn = TConn(self.cfg, client, client_addr, listener.getsockname())
        if self.cfg.is_ssl or negotiation.prior_knowledge_allowed(self.cfg, client_addr):
            self.enqueue_req(conn)  # TLS and HTTP/2 are read by gunicorn's own code
        else:
            self._start_reading(conn)

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        # A kept-alive connection's next request is read whole before a thread takes it too.
        if getattr(conn, "prebuffer", False) is False or conn.is_http2:
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn)

    def _start_reading(self, conn: Any) -> None:
        conn.sock.setblocking(False)
        conn.prebuffer = bytearray()
        conn.continued = False
        self.reading[conn] = time.monotonic() + READ_TIMEOUT
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: Any, _fileobj: Any) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._stop_reading(conn)
            self.nr_conns -= 1
            conn.close()
            return
        conn.prebuffer += data
        state = request_state(conn.prebuffer)
        if state == "continue" and not conn.continued:
            # The client waits for this before it sends the body; the expectation is then met,
            # so gunicorn must not answer it a second time.
            conn.continued = True
            conn.prebuffer = _without_expect(conn.prebuffer)
            with contextlib.suppress(OSError):
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if state in ("complete", "thread"):
            self._stop_reading(conn)
            conn.data_ready = True
            self.enqueue_req(conn)

    def _stop_reading(self, conn: Any) -> None:
        self.reading.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn, deadline in list(self.reading.items()):
            started = bool(conn.prebuffer)
            # A stopping worker does not wait for connections that have sent nothing yet.
            if deadline > now and (self.alive or started):
                continue
            self._stop_reading(conn)
            if started:  # an idle connection is just closed, as an idle kept-alive one is
                with contextlib.suppress(OSError):
                    conn.sock.send(TIMEOUT_RESPONSE)
            self.nr_conns -= 1
            conn.close()

    def handle(self, conn: Any) -> Any:
        """In a thread: the request read so far goes back in front of the parser."""
        buffered = getattr(conn, "prebuffer", None)
        if buffered:
            conn.prebuffer = bytearray()
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(buffered))
        return super().handle(conn)

    # --- JSON errors --------------------------------------------------------------------

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, reason, code = _status_of(exc)
        if status == 500:  # the application's fault: gunicorn logs it with its traceback
            return super().handle_error(req, client, addr, exc)
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], str(exc)[:200])
        body = json.dumps({"error": {"code": code, "message": f"{reason}."}}).encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        try:
            util.write_nonblock(client, head + body)
        except Exception:
            self.log.debug("Failed to send error message.")


def _status_of(exc: BaseException) -> tuple[int, str, str]:
    for kind, status, reason, code in STATUSES:
        if isinstance(exc, kind):
            return status, reason, code
    if isinstance(exc, CLIENT_ERRORS):
        return 400, "Bad Request", "bad_request"
    return 500, "Internal Server Error", "server_error"
