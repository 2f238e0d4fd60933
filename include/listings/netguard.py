"""The guard between untrusted URLs and our own network: sources' and images' URLs come from configs and
data that users and data providers write, so a request may not reach loopback, private, link-local
(cloud metadata at 169.254.169.254), reserved or multicast addresses unless a config says it may
(`allow_private_hosts`, which only an admin may set).

Two checks: `refuse_private_url` before connecting (the host's every address), and `GuardedAdapter`, which
checks the address each new connection actually reached (DNS rebinding; redirects).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

DEFAULT_PORTS = {"http": 80, "https": 443}


class PrivateAddressError(Exception):
    """A connection reached an address we refuse. Not an OSError on purpose: urllib3 and requests would
    wrap that into a generic connection error, and we want to name it."""


def is_forbidden_address(text: str) -> bool:
    """Whether an image download may not connect to this IP: anything but a public unicast address
    (loopback, private, link-local, reserved, multicast, unspecified, carrier-grade NAT...)."""
    address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback whatever Python 3.11 says
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


def _checked_peer(sock: socket.socket, host: str) -> socket.socket:
    peer = str(sock.getpeername()[0])
    if is_forbidden_address(peer):
        sock.close()
        raise PrivateAddressError(f"{host} connected to the non-public address {peer}")
    return sock


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_peer(super()._new_conn(), self.host)


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_peer(super()._new_conn(), self.host)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """Checks the address each new connection actually reached, after DNS. The check before the request
    alone leaves a gap: a hostile DNS server can answer a public address to us and a private one to the
    connection a moment later (DNS rebinding). Does not apply through a proxy (the proxy resolves)."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = DEFAULT_POOLBLOCK, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def private_addresses(url: str) -> list[str]:
    """The non-public addresses the URL's host resolves to (empty: all public). ValueError for a URL that
    is not http(s) with a host; OSError when the host does not resolve."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in DEFAULT_PORTS or not host:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    infos = socket.getaddrinfo(host, parts.port or DEFAULT_PORTS[scheme], type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos if is_forbidden_address(str(info[4][0]))})


def refuse_private_url(url: str) -> None:
    """PrivateAddressError when the URL's host is, or resolves to, a non-public address; ValueError when it
    is no http(s) URL. A host that does not resolve passes: the request fails with a connection error."""
    try:
        forbidden = private_addresses(url)
    except (OSError, UnicodeError):
        return
    if forbidden:
        host = urlsplit(url).hostname
        raise PrivateAddressError(f"{host} resolves to the non-public address(es) {', '.join(forbidden)}")
