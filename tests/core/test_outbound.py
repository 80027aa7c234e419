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
