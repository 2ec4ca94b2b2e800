"""The PROXY protocol in front of a raw TCP door (telnet, IRC): who the client really is when
HAProxy (`send-proxy` / `send-proxy-v2`) connects for it.

A `ProxyGate` is the first protocol of every connection on a door with `proxy_protocol` on.
From a peer in the door's `trusted_proxies` it reads the header (bounded, protocol/proxy.py,
within HEADER_TIMEOUT), then hands the connection to the door's own session, built with the
client's address: per-address limits, the login back-off and logs all see that address. A
trusted peer without a header, or any other peer sending one, is refused with a log line:
the first would count every client as the balancer, the second would let anyone claim any
address. Other peers connect directly, as without a balancer. A gate waiting for its header
is in its door's `Handshakes`, which a stop cuts at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Sequence
from typing import cast

from torbit.frontends.handshake import Handshakes
from torbit.protocol.proxy import V1_PREFIX, V2_SIGNATURE, ProxyHeaderError, ProxyHeaderReader

log = logging.getLogger("torbit.proxy")

HEADER_TIMEOUT = 5.0  # seconds for a trusted proxy's header to arrive

Peer = tuple[str, int]
SessionFactory = Callable[[Peer | None], asyncio.Protocol]


def peer_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A peer's address, an IPv4-mapped IPv6 one (an IPv4 client on a dual-stack socket)
    as the IPv4 address it is; None if `host` is not an IP address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedNetworks:
    """The balancers a door believes (`trusted_proxies`: addresses or networks)."""

    def __init__(self, entries: Sequence[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(e, strict=False) for e in entries)

    def trusts(self, host: str) -> bool:
        address = peer_address(host)
        return address is not None and any(address in network for network in self._networks)


def _peer(transport: asyncio.BaseTransport) -> Peer | None:
    peer = transport.get_extra_info("peername")
    return (str(peer[0]), int(peer[1])) if peer else None


def _looks_like_header(data: bytes) -> bool:
    return data.startswith(V1_PREFIX) or data.startswith(V2_SIGNATURE[:8])


class ProxyGate(asyncio.Protocol):
    """Stands in front of one connection until it knows who the client is."""

    __slots__ = (
        "_door",
        "_inner",
        "_make",
        "_peer",
        "_pending",
        "_reader",
        "_timer",
        "_transport",
        "_trusted",
    )

    def __init__(
        self, make: SessionFactory, trusted: TrustedNetworks, door: str, pending: Handshakes
    ) -> None:
        self._make = make
        self._trusted = trusted
        self._door = door
        self._pending = pending  # where it is while it waits for the header
        self._reader: ProxyHeaderReader | None = None
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._peer: Peer | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = t = cast(asyncio.Transport, transport)
        self._peer = _peer(t)
        if self._peer is not None and self._trusted.trusts(self._peer[0]):
            self._reader = ProxyHeaderReader()
            self._timer = asyncio.get_running_loop().call_later(HEADER_TIMEOUT, self._timeout)
            self._pending.add(self)
            return
        # a direct client: served at once; its first bytes are checked for a header
        self._inner = self._make(None)
        self._inner.connection_made(t)

    def data_received(self, data: bytes) -> None:
        t, inner = self._transport, self._inner
        assert t is not None
        if inner is not None:  # a direct client's first bytes
            t.set_protocol(inner)
            if _looks_like_header(data):
                self._refuse(f"sent a PROXY header but is not in {self._door}.trusted_proxies")
                return
            inner.data_received(data)
            return
        assert self._reader is not None
        try:
            header = self._reader.feed(data)
        except ProxyHeaderError as e:
            self._refuse(f"is a trusted proxy but sent no valid PROXY header ({e})")
            return
        if header is None:
            return
        self._waited()
        rest, self._reader = self._reader.rest, None
        session = self._make(header.source or self._peer)
        t.set_protocol(session)
        session.connection_made(t)
        if rest and not t.is_closing():
            session.data_received(rest)

    def eof_received(self) -> bool | None:
        if self._inner is not None:
            return self._inner.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._waited()
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def _timeout(self) -> None:
        self._refuse(f"is a trusted proxy but sent no PROXY header within {HEADER_TIMEOUT} s")

    def _refuse(self, why: str) -> None:
        peer = f"{self._peer[0]}:{self._peer[1]}" if self._peer else "?"
        log.warning("%s: refused %s: it %s", self._door, peer, why)
        self._waited()
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Cut the connection now, its header not read (the door stops)."""
        self._waited()
        if self._transport is not None:
            self._transport.abort()

    def _waited(self) -> None:
        """No more waiting for the header (it came, or the connection ends)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.discard(self)
