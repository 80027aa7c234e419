"""Outbound calls only where an operator allows: how PROVIDER_ALLOWED_HOSTS patterns match
(tests/predictions/providers/test_outbound.py: at registration and before every call)."""

from __future__ import annotations

import socket

import pytest

from core.outbound import outbound_url_problem


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://169.254.1.1/",
    "http://0.0.0.0:8080/",
])
def test_it_never_allows_link_local_or_metadata_addresses(url):
    for allowed in (["*"], ["169.254.169.254", "169.254.0.0/16", "fd00:ec2::254", "::/0",
                            "metadata.google.internal", "0.0.0.0"]):
        assert outbound_url_problem(url, allowed=allowed) is not None, (url, allowed)


def test_it_allows_loopback_only_when_named():
    assert outbound_url_problem("http://127.0.0.1:9000/score", allowed=["*"]) is not None
    assert outbound_url_problem("http://localhost:9000/score", allowed=["*"]) is not None
    assert outbound_url_problem("http://[::1]:9000/score", allowed=["*"]) is not None
    assert outbound_url_problem("http://127.0.0.1:9000/score", allowed=["127.0.0.1"]) is None
    assert outbound_url_problem("http://localhost:9000/score", allowed=["localhost"]) is None


def test_it_allows_private_networks_only_by_an_explicit_pattern():
    assert outbound_url_problem("http://10.1.2.3/score", allowed=["*"]) is not None
    assert outbound_url_problem("http://10.1.2.3/score", allowed=["10.0.0.0/8"]) is None
    assert outbound_url_problem("http://192.168.1.4/score", allowed=["10.0.0.0/8"]) is not None


def test_it_matches_exact_hosts_and_subdomains():
    allowed = ["api.openai.com", "*.amazonaws.com"]
    assert outbound_url_problem("https://api.openai.com/v1", allowed=allowed) is None
    assert outbound_url_problem("https://runtime.sagemaker.eu-west-1.amazonaws.com/", allowed=allowed) is None
    assert outbound_url_problem("https://api.openai.com.evil.example/v1", allowed=allowed) is not None
    assert outbound_url_problem("https://evilamazonaws.com/", allowed=allowed) is not None
    assert outbound_url_problem("https://user:pw@api.openai.com/v1", allowed=allowed) is not None
    assert outbound_url_problem("file:///etc/passwd", allowed=["*"]) is not None


def test_it_checks_what_a_host_resolves_to_at_call_time(monkeypatch):
    """A name that passes at registration and later resolves to the metadata address."""
    rebound = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
    monkeypatch.setattr("core.outbound.socket.getaddrinfo", lambda *a, **k: rebound)
    url = "http://models.example.test/score"
    assert outbound_url_problem(url, allowed=["*.example.test"]) is None
    assert "metadata" in outbound_url_problem(url, allowed=["*.example.test"], resolve=True)


class _Recorder(__import__("http.server").server.BaseHTTPRequestHandler):
    def do_GET(self):  # http.server's name
        self.server.hits.append(self.path)
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(address: str, port: int, name: str):
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer((address, port), _Recorder)
    server.hits, server.name = [], name
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _client(which: str):
    import httpx

    from core.outbound import OutboundTransport, outbound_openai_client

    return httpx.Client(transport=OutboundTransport()) if which == "httpx" else outbound_openai_client()


@pytest.mark.parametrize("which", ["httpx", "openai"])
def test_it_connects_to_the_address_it_checked_whatever_a_second_lookup_answers(monkeypatch, settings, which):
    """DNS rebinding: a name that answers an allowed address to the check and a forbidden one
    (here 127.0.0.2: loopback, but not the 127.0.0.1 the operator named) to any later lookup.
    Both addresses are on this machine; nothing leaves it."""
    real = socket.getaddrinfo
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    allowed_side = _serve("127.0.0.1", 0, "public")
    port = allowed_side.server_address[1]
    internal = _serve("127.0.0.2", port, "internal")
    monkeypatch.setitem(settings.HOTCRM, "PROVIDER_ALLOWED_HOSTS", ["rebind.test", "127.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        with _client(which) as client:
            response = client.get(f"http://rebind.test:{port}/latest/meta-data/")
        assert response.text == "public"
        assert internal.hits == [] and allowed_side.hits == ["/latest/meta-data/"]
    finally:
        allowed_side.shutdown()
        internal.shutdown()
