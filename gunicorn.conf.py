"""gunicorn settings for `make run` (workers and bind come from the Makefile).

Prometheus: every worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR and
/metrics sums them (prometheus-client multiprocess mode). The directory must be set
before any worker imports prometheus_client and be empty when the server starts.
Metrics and prediction log rows: each worker flushes its buffers from background threads\nand on exit.
"""

import os
import shutil
import tempfile

wsgi_app = "hotcrm_ai.wsgi"
worker_class = "sync"
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "info"
# gunicorn 27's control socket has one default path per user: several servers on one
# machine (test runs, checkouts) would take it from each other. Nothing here uses it.
control_socket_disable = True

_OWN_PROMETHEUS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_PROMETHEUS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hotcrm-prometheus-")


def on_starting(server):
    # Values left by an earlier server in the same directory would be added to ours.
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        os.remove(os.path.join(directory, name))


def post_worker_init(worker):
    from hotcrm_ai.warmup import warm_up
    from monitoring.recorder import start_background_flushes

    try:
        warm_up()
    except Exception:  # a worker that could not warm up still serves (and loads lazily)
        worker.log.exception("Warm-up failed")
    start_background_flushes()


def worker_exit(server, worker):
    from monitoring.recorder import stop_and_flush_all

    stop_and_flush_all()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_PROMETHEUS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
