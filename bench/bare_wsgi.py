"""The load test's baseline: the smallest WSGI app, served by the same gunicorn settings."""


def application(environ, start_response):
    body = b'{"ok": true}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
