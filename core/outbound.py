"""Where this service may send requests: only to hosts an operator allows.

One question, `outbound_url_problem(url)` (`outbound_url_check` raises instead; the
transports of `guarded_transport`/`OutboundTransport` ask it before every request), asked by
every caller: provider endpoints, health
URLs and SDK base URLs at registration (without resolving) and again at call time (against
every address the host resolves to), and by any other outbound caller (webhooks, Slack) with
its own list of patterns.

Patterns (`PROVIDER_ALLOWED_HOSTS`, comma-separated): an exact host (`api.openai.com`), a
domain and its subdomains (`*.amazonaws.com`), an IP address or network (`10.1.0.0/16`), or
`*` for any public host. Loopback answers only to a pattern that names it (`127.0.0.1`,
`::1`, `127.0.0.0/8`, `localhost`); private addresses only to a pattern other than `*`.
Link-local, cloud-metadata, unspecified, multicast and reserved addresses are refused always.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from hotcrm_ai.errors import ApplicationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Instance-metadata services answer credentials to whoever asks from the machine.
METADATA_HOSTS = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                  "instance-data.ec2.internal", "metadata.azure.internal"}
METADATA_ADDRESSES = {ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192",
    "168.63.129.16",
)}
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class OutboundRefused(ApplicationError):
    status = 400
    code = "outbound_not_allowed"


def provider_allowed_hosts() -> list[str]:
    return list(settings.HOTCRM["PROVIDER_ALLOWED_HOSTS"])


def outbound_url_problem(url: str, *, allowed: Iterable[str] | None = None,
                         resolve: bool = False, setting: str = "PROVIDER_ALLOWED_HOSTS") -> str | None:
    """Why a request to `url` must not be sent, or None when it may. `resolve=True` (at call
    time) also checks every address the host resolves to now."""
    patterns = [p.strip().lower() for p in (provider_allowed_hosts() if allowed is None else allowed)
                if p.strip()]
    parts = urlsplit(str(url))
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme not in ("http", "https") or not host:
        return "the URL must be http(s) with a host."
    if parts.username or parts.password:
        return "the URL must not carry a user name or password; use credentials."
    literal = _ip(host)
    if host in METADATA_HOSTS or (literal is not None and _always_refused(literal)):
        return f"{host} is a link-local or cloud-metadata address, which is never called."
    if not any(_host_matches(host, literal, p) for p in patterns):
        return f"the host {host} is not in {setting}."
    if host in LOOPBACK_NAMES and not _loopback_allowed(patterns, host, None):
        return f"loopback ({host}) is allowed only when {setting} names it."
    addresses = [literal] if literal is not None else (_resolve(host, parts.port) if resolve else [])
    for address in addresses:
        if problem := _address_problem(host, address, patterns, setting):
            return problem
    return None


def outbound_url_check(url: str, **kwargs: Any) -> None:
    """`outbound_url_problem` as an error (400 `outbound_not_allowed`)."""
    if problem := outbound_url_problem(url, **kwargs):
        raise OutboundRefused(f"Outbound call refused: {problem}")


def guarded_transport(base: type, connect_error: type[Exception] = httpx.ConnectError) -> type:
    """An httpx-style transport class that asks `outbound_url_problem` before every request,
    and connects only to an address it has checked: its connections resolve the host once,
    check every address, and connect to those very addresses (TLS still verifies and sends
    SNI for the host name). Checking one lookup and letting the client library make its own
    left a window: a name answering an allowed address to the check and a forbidden one to
    the connect (DNS rebinding) reached the forbidden one. A factory because the OpenAI SDK
    runs on its own fork of httpx (`httpx2`), with a transport class of its own."""

    class Guarded(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, allowed: Iterable[str] | None = None,
                     setting: str = "PROVIDER_ALLOWED_HOSTS", **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.allowed = None if allowed is None else list(allowed)
            self.setting = setting
            pool = self._pool
            if not hasattr(pool, "_network_backend") or hasattr(pool, "_proxy_url"):
                # A proxy resolves the host itself: only the request-time check applies.
                self.pinned = False
            else:
                pool._network_backend = _PinnedBackend(pool._network_backend, self._addresses)
                self.pinned = True

        def handle_request(self, request: Any) -> Any:
            problem = outbound_url_problem(str(request.url), allowed=self.allowed, resolve=not self.pinned,
                                           setting=self.setting)
            if problem:
                raise OutboundRefused(f"Outbound call refused: {problem}")
            return super().handle_request(request)

        def _addresses(self, host: str, port: int) -> list[str]:
            """The checked addresses to connect to `host` at (one lookup)."""
            patterns = [p.strip().lower() for p in (provider_allowed_hosts() if self.allowed is None
                                                    else self.allowed) if p.strip()]
            name = host.rstrip(".").lower()
            literal = _ip(name)
            addresses = [literal] if literal is not None else _resolve(name, port)
            if not addresses:
                raise connect_error(f"{host} does not resolve.")
            for address in addresses:
                if problem := _address_problem(name, address, patterns, self.setting):
                    raise OutboundRefused(f"Outbound call refused: {problem}")
            return list(dict.fromkeys(str(a) for a in addresses))

    Guarded.__name__ = Guarded.__qualname__ = f"Outbound{base.__name__}"
    return Guarded


class _PinnedBackend:
    """An httpcore network backend that connects to the addresses `addresses(host, port)`
    checked, in turn, instead of letting the socket library resolve the name again."""

    def __init__(self, inner: Any, addresses: Any) -> None:
        self.inner = inner
        self.addresses = addresses

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None) -> Any:
        last: Exception | None = None
        for address in self.addresses(host, port):
            try:
                return self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                              socket_options=socket_options)
            except Exception as exc:  # the library's connect errors: try the next address
                last = exc
        assert last is not None
        raise last

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


OutboundTransport = guarded_transport(httpx.HTTPTransport)


def outbound_openai_client(**kwargs: Any) -> Any:
    """An http_client for the OpenAI SDK whose every request is checked like ours."""
    import httpx2
    import openai

    return openai.DefaultHttpxClient(transport=guarded_transport(httpx2.HTTPTransport, httpx2.ConnectError)(),
                                     **kwargs)


# --- helpers ------------------------------------------------------------------------------

def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _always_refused(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (address in METADATA_ADDRESSES or address.is_link_local or address.is_unspecified
            or address.is_multicast or (address.is_reserved and not address.is_loopback))


def _network(pattern: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(pattern.strip("[]"), strict=False)
    except ValueError:
        return None


def _host_matches(host: str, literal: IPAddress | None, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and literal is None
    network = _network(pattern)
    if network is not None:
        return literal is not None and literal in network
    return host == pattern


def _loopback_allowed(patterns: list[str], host: str, address: IPAddress | None) -> bool:
    """Named by the operator: the loopback name itself, or a loopback address or network."""
    for pattern in patterns:
        if pattern in LOOPBACK_NAMES and host in LOOPBACK_NAMES:
            return True
        network = _network(pattern)
        if network is not None and network.network_address.is_loopback and (
                address is None or address in network):
            return True
    return False


def _address_problem(host: str, address: IPAddress, patterns: list[str], setting: str) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if _always_refused(address):
        return f"{host} resolves to a link-local or cloud-metadata address, which is never called."
    if address.is_loopback and not _loopback_allowed(patterns, host, address):
        return f"{host} resolves to loopback, allowed only when {setting} names it."
    if address.is_private and not address.is_loopback:
        explicit = [p for p in patterns if p != "*"]
        if not any(_host_matches(host, _ip(host), p) or _in_network(address, p) for p in explicit):
            return f"{host} resolves to a private address, allowed only by a pattern other than '*'."
    return None


def _in_network(address: IPAddress, pattern: str) -> bool:
    network = _network(pattern)
    return network is not None and address in network


def _resolve(host: str, port: int | None) -> list[IPAddress]:
    """Every address the host resolves to; none when it does not resolve (the call then
    fails as a connection error, which is what it is)."""
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    out = []
    for info in infos:
        address = _ip(str(info[4][0]).split("%")[0])
        if address is not None:
            out.append(address)
    return out
