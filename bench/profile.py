"""Profile the hot path in process with pyinstrument: N requests through the real WSGI
application (middleware, auth, view, pipeline, recording), no network.

    .venv/bin/python bench/profile.py [cached|uncached|batch] [N]

Writes the summary to bench/profiles/<case>.txt. Uses the same environment as bench/run.py
(DATABASE_URL / REDIS_URL when set, else the embedded default in bench/.work/var).
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench import run  # noqa: E402


def main() -> None:
    case = sys.argv[1] if len(sys.argv) > 1 else "cached"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    run.WORK.mkdir(exist_ok=True)
    run.setup_django(run.service_env(quick=False))
    from django.core.wsgi import get_wsgi_application
    from pyinstrument import Profiler

    app = get_wsgi_application()
    key = run.token()
    path = "/api/v1/predictions/" + ("batch/" if case == "batch" else "")

    def body(i: int) -> bytes:
        if case == "batch":
            return json.dumps({"modelId": run.MODEL_ID, "features": run.batch_rows(1000), "useCache": False}).encode()
        features = run.LEAD if case == "cached" else {**run.LEAD, "budget": time.time_ns() // 1000 % 10**9 + i}
        return json.dumps({"modelId": run.MODEL_ID, "features": features}).encode()

    def call(i: int) -> None:
        data = body(i)
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(data)), "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr,
            "HTTP_AUTHORIZATION": f"Token {key}",
        }
        statuses = []
        chunks = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(chunks)
        chunks.close()  # as a WSGI server does: fires request_finished (after-response work)
        if not statuses[0].startswith("200"):
            raise RuntimeError(statuses[0])

    for i in range(20):
        call(i)
    profiler = Profiler(interval=0.0002)
    started = time.perf_counter()
    profiler.start()
    for i in range(n):
        call(i)
    profiler.stop()
    per_request = (time.perf_counter() - started) / n * 1000
    out = BENCH / "profiles" / f"{case}.txt"
    out.parent.mkdir(exist_ok=True)
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    out.write_text(f"{case}: {n} requests in process, {per_request:.3f} ms each (profiler on)\n\n{text}")
    print(out.read_text()[:6000])


if __name__ == "__main__":
    main()
