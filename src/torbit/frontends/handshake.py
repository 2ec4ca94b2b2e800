"""A TLS connection counts from the moment it is accepted, not from the end of its handshake.

asyncio tells a protocol served with `ssl=` of its connection only once the TLS handshake is
done, so the per-address and total connection limits (core/limits.py) did not see a client
that opens sockets and never finishes a handshake: each held its socket for the handshake
timeout, as many as it cared to open (250 from one address, where the limit was 100; on
the TLS telnet, IRC and HTTPS ports alike). A `HandshakeGate` is the first protocol of such
a connection: it counts the connection at once (or closes it past a limit), runs the
handshake (`loop.start_tls`, HANDSHAKE_TIMEOUT), then hands the connection to the door's
own protocol, which counts it as its own; the gate's count is returned then, or when the
handshake fails. A gate whose handshake is not done is in its door's `Handshakes`, which
a stop cuts at once (`cut`): a client that never finishes its handshake does not hold the
stop for the handshake timeout.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import cast

from torbit.core.limits import ConnectionLimiter

HANDSHAKE_TIMEOUT = 10.0  # seconds for a TLS handshake, else the connection is closed


class Handshakes:
    """The gates of one door whose handshakes are not done yet."""

    def __init__(self) -> None:
        self._gates: set[HandshakeGate] = set()

    def __len__(self) -> int:
        return len(self._gates)

    def add(self, gate: HandshakeGate) -> None:
        self._gates.add(gate)

    def discard(self, gate: HandshakeGate) -> None:
        self._gates.discard(gate)

    def cut(self) -> int:
        """Abort every connection still in its handshake (a stop); how many there were."""
        gates, self._gates = self._gates, set()
        for gate in gates:
            gate.abort()
        return len(gates)


class HandshakeGate(asyncio.Protocol):
    """Stands in front of one TLS connection until its handshake is done."""

    def __init__(
        self,
        make: Callable[[], asyncio.Protocol],
        tls: ssl.SSLContext,
        connections: ConnectionLimiter,
        exempt: Callable[[str], bool] = lambda ip: False,
        pending: Handshakes | None = None,
    ) -> None:
        self._make = make
        self._tls = tls
        self._connections = connections
        self._exempt = exempt  # peers not counted (HTTP: trusted proxies, counted per client)
        self._task: asyncio.Task[None] | None = None
        self._ip: str | None = None  # counted in `connections` under this address
        self._pending = pending  # where it is while its handshake is not done
        self._transport: asyncio.Transport | None = None

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)  # uvloop's is not asyncio's class
        transport.pause_reading()  # the client's hello is the handshake's to read
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if peer else ""
        if not self._exempt(ip):
            if self._connections.acquire(ip) is not None:
                transport.abort()  # over a limit: the session would refuse it too, in words
                return
            self._ip = ip
        self._transport = transport
        if self._pending is not None:
            self._pending.add(self)
        self._task = asyncio.get_running_loop().create_task(self._handshake(transport))
        # the count is returned however the task ends (cancelled before it began, too)
        self._task.add_done_callback(lambda _: self._done())

    def _done(self) -> None:
        self._release()
        if self._pending is not None:
            self._pending.discard(self)
        self._transport = None

    def abort(self) -> None:
        """Cut the connection now, its handshake unfinished (the door stops)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._transport is not None:
            self._transport.abort()

    def _release(self) -> None:
        if self._ip is not None:
            self._connections.release(self._ip)
            self._ip = None

    async def _handshake(self, transport: asyncio.Transport) -> None:
        inner = self._make()
        try:
            tls_transport = await asyncio.get_running_loop().start_tls(
                transport,
                inner,
                self._tls,
                server_side=True,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
            )
        except asyncio.CancelledError:  # cut by a stop
            transport.abort()
            raise
        except Exception:  # refused, timed out, reset: nobody to tell
            transport.abort()
            return
        self._release()  # the session counts it from here
        if tls_transport is None or tls_transport.is_closing():
            transport.abort()
            return
        inner.connection_made(tls_transport)

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone before the handshake began (after it, the TLS layer has the connection)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
