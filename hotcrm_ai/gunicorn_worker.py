"""The gunicorn worker `make run` serves with: gunicorn's threaded worker (`gthread`), whose
idle and slow connections wait in its poller instead of holding a worker (three idle
connections stopped every `sync` worker), with requests gunicorn itself refuses (a request
line over its limit, malformed headers) answered in the API's JSON error shape rather than
gunicorn's HTML page."""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers import gthread
from gunicorn.workers.gthread import ThreadWorker

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


class JsonErrorThreadWorker(ThreadWorker):
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
