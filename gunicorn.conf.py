"""gunicorn settings for `make run` (workers and bind come from the Makefile)."""

wsgi_app = "hotcrm_ai.wsgi"
worker_class = "sync"
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "info"
