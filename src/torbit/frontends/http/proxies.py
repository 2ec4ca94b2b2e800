"""Who is really calling when a reverse proxy stands in front: `X-Forwarded-For` and
`X-Forwarded-Proto` are believed only from the peers listed in `http.trusted_proxies`
(none by default), because anyone can send them. Every per-address rule (connection limits,
long polls, the login back-off, /metrics, logs) then uses the real client's address.

The client is the right-most address in `X-Forwarded-For` that is not itself a trusted
proxy: each proxy appends the address it got the request from, so entries to the left of
the last trusted hop are the client's own claims and worth nothing. The RFC 7239
`Forwarded` header is never read: believing two headers would let a client send the one
the proxy does not rewrite.

`ForwardedClient` applies this to every request's ASGI scope; the connection guard
(guard.py) asks the same `TrustedProxies` which address a proxied connection is counted
against, so the two never disagree.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from torbit.frontends.proxied import peer_address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Headers = Iterable[tuple[bytes, bytes]]

MAX_HOPS = 32  # a longer X-Forwarded-For is read from its right end only


def _address(entry: str) -> str | None:
    """The address in one X-Forwarded-For entry ("1.2.3.4", "1.2.3.4:80", "[::1]:80",
    "::1"), normalised, or None if it is not an IP address."""
    entry = entry.strip()
    if entry.startswith("["):
        entry = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None


class TrustedProxies:
    """The configured proxies, and the real client behind a request that came through them."""

    def __init__(self, entries: Sequence[str] = ()) -> None:
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(e, strict=False) for e in entries
        )

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, host: str) -> bool:
        """Whether `host` is a listed proxy; an IPv4-mapped peer (`::ffff:a.b.c.d`, what a
        socket bound to `::` sees of an IPv4 client) is its IPv4 address, as on the other
        doors (`peer_address`)."""
        if not self._networks:
            return False
        address = peer_address(host)
        return address is not None and any(address in net for net in self._networks)

    def client(self, peer: str, headers: Headers) -> str:
        """The address to hold responsible for a request that arrived from `peer`."""
        if not self.trusts(peer):
            return peer
        chain = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
        hops = ",".join(chain).split(",")[-MAX_HOPS:]
        client = peer
        for entry in reversed(hops):
            address = _address(entry)
            if address is None:
                break  # garbage from the left: stop at the last address a proxy vouched for
            client = address
            if not self.trusts(address):
                break
        return client

    def scheme(self, peer: str, headers: Headers) -> str | None:
        """http or https as the trusted proxy saw it, if it said so."""
        if not self.trusts(peer):
            return None
        for k, v in headers:
            if k == b"x-forwarded-proto":
                proto = v.decode("latin-1").split(",")[-1].strip().lower()
                if proto in ("http", "https"):
                    return proto
        return None


class ForwardedClient:
    """Pure ASGI middleware: the scope's client (and scheme) become the real ones when the
    peer is a trusted proxy; otherwise forwarding headers change nothing."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("client") and self.proxies:
            peer = scope["client"][0]
            if self.proxies.trusts(peer):
                headers = scope["headers"]
                real = self.proxies.client(peer, headers)
                scheme = self.proxies.scheme(peer, headers)
                scope = dict(scope, client=(real, 0))
                if scheme is not None:
                    if scope["type"] == "websocket":
                        scheme = "wss" if scheme == "https" else "ws"
                    scope["scheme"] = scheme
        await self.app(scope, receive, send)
