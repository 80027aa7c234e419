"""gunicorn settings for `make run` (workers and bind come from the Makefile).

Prometheus: every worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR and
/metrics sums them (prometheus-client multiprocess mode). The directory must be set
before any worker imports prometheus_client and be empty when the server starts.
Metrics and prediction log rows: each worker stores its buffers after responses, from
background threads when idle, and on exit.
"""

import os
import shutil
import tempfile

wsgi_app = "hotcrm_ai.wsgi"
# Load Django once in the master and fork the workers from it (see when_ready).
preload_app = True
# Threads, not sync workers: an idle or slow client waits in the worker's poller instead of
# holding the worker (three idle connections stopped every sync worker); requests gunicorn
# refuses itself are answered as JSON errors (hotcrm_ai/gunicorn_worker.py).
worker_class = "hotcrm_ai.gunicorn_worker.JsonErrorThreadWorker"
# A client that sends half a request still holds a thread until `timeout`: in front of the
# internet, put a buffering proxy (nginx) before gunicorn as its docs advise.
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
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


def when_ready(server):
    # The master, before it forks any worker (the app is preloaded): import every view and
    # load every active model once, so each worker starts with them (shared copy-on-write)
    # and a replacement worker serves at once. No connection may cross the fork.
    if not _serves_django():
        return
    from django.db import connections

    from hotcrm_ai.warmup import warm_up

    try:
        server.log.info("Warm-up loaded %d model(s)", warm_up())
    except Exception:  # workers still serve, loading lazily
        server.log.exception("Warm-up failed")
    finally:
        connections.close_all()


def _serves_django():
    """False for another WSGI app served under these settings (bench/bare_wsgi.py)."""
    from django.apps import apps

    return apps.ready


def post_worker_init(worker):
    if not _serves_django():
        return
    from core.write_behind import start_background_flushes

    start_background_flushes()


def worker_exit(server, worker):
    if not _serves_django():
        return
    from core.write_behind import stop_and_flush_all

    stop_and_flush_all()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_PROMETHEUS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
