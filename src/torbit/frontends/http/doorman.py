"""An HTTP connection refused by the connection limits before uvicorn's protocol is made.

Each connection of a reconnect storm refused by `limits.connection_rate` cost ~80 µs
(attack14, bench/JOURNAL.md): uvicorn's protocol built (its parser, its flow control, the
server's bookkeeping), the request parsed, a JSON error worded and encoded, all to write one
answer and close. An `HttpDoorman` is each connection's first protocol: it asks the limiter
for the socket's address at once, and an admitted connection is handed to the guarded
protocol (guard.py), counted already. A refused one keeps only the last bytes it read, to see
where the request's head ends, and answers then (within REFUSED_TIMEOUT) with the guard's
error, encoded once per reason: an answer written before the request is lost in the client's
reset. Counted in `torbit_connections_refused` and in a log summary (tally.py), never a log
line each. A peer in `http.trusted_proxies` is the guard's to count, per client it names.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from torbit.core.limits import ConnectionLimiter
from torbit.frontends.admission import Refusals
from torbit.frontends.handshake import Handshakes
from torbit.frontends.http.guard import (
    MAX_HEAD_BYTES,
    REFUSED_TIMEOUT,
    DoorLimits,
    GuardedHttpTools,
    error_answer,
)
from torbit.frontends.tally import Tally
from torbit.metrics import Metrics

log = logging.getLogger("torbit.http")

HEAD_ENDS = (b"\r\n\r\n", b"\n\n")  # (httptools takes a bare LF too)


class HttpDoor:
    """What the doormen of one HTTP door share: the limits, how to make the guarded
    protocol, the refusals' words and counts, and the refused connections still open (cut
    at a stop, as TLS handshakes are)."""

    def __init__(
        self,
        limits: DoorLimits,
        protocol: type[GuardedHttpTools],
        refusals: Refusals,
        pending: Handshakes,
        odd: Tally,
    ) -> None:
        self.limits = limits
        self.protocol = protocol
        self.refusals = refusals
        self.pending = pending
        self.odd = odd  # odd requests' log summary (guard.py), as `refusals.tally` refusals'

    def __call__(self, **kwargs: Any) -> asyncio.Protocol:
        """uvicorn's `http_protocol_class`: called with its arguments for each connection."""
        return HttpDoorman(self, kwargs)

    def arrived(self, kwargs: dict[str, Any], counted: str, refused: str) -> asyncio.Protocol:
        """An HTTPS connection past its handshake (frontends/handshake.py): counted against
        `counted` by its gate, its token of the connection rate taken, or to be refused for
        `refused` (counted there); neither: a trusted proxy's, counted per client as here."""
        return HttpDoorman(self, kwargs, counted, refused)


def refusals(connections: ConnectionLimiter, metrics: Metrics) -> Refusals:
    """The HTTP door's refusals: the guard's error answers, 429 for the rate, else 503."""

    def encode(reason: str) -> bytes:
        if connections.kind(reason) == "rate":
            return error_answer(429, "rate_limited", reason)
        return error_answer(503, "unavailable", reason)

    return Refusals("http", connections, encode, metrics, log)


class HttpDoorman(asyncio.Protocol):
    """Stands in front of one connection: hands it over, or answers its refusal."""

    __slots__ = (
        "_counted",
        "_door",
        "_kwargs",
        "_read",
        "_reason",
        "_tail",
        "_timer",
        "_transport",
    )

    def __init__(
        self, door: HttpDoor, kwargs: dict[str, Any], counted: str = "", refused: str = ""
    ) -> None:
        self._door = door
        self._kwargs = kwargs
        self._counted = counted  # counted, its token taken, by its TLS handshake gate
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._reason = refused  # why it is refused ("" until it is; its gate's, counted)
        self._tail = b""  # the last bytes read: a head's end may be split across reads
        self._read = 0  # bytes read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        t = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        door = self._door
        peer = t.get_extra_info("peername")
        ip = str(peer[0]) if peer else ""
        limits = door.limits
        if self._counted:
            self._hand_over(t, self._counted)
            return
        early = self._reason
        if not early and limits.proxies and limits.proxies.trusts(ip):
            self._hand_over(t, "")  # counted per client once its head names one (guard.py)
            return
        refused = early or limits.connections.acquire(ip, arriving=True)
        if refused is None:
            self._hand_over(t, ip)
            return
        self._transport = t
        self._reason = refused
        self._timer = asyncio.get_running_loop().call_later(REFUSED_TIMEOUT, self._late)
        door.pending.add(self)
        if not early:
            door.refusals.count(ip, refused)

    def _hand_over(self, transport: asyncio.Transport, counted: str) -> None:
        inner = self._door.protocol(**self._kwargs)
        if counted:
            inner.admitted(counted)
        transport.set_protocol(inner)
        inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return
        self._read += len(data)
        seen = self._tail + data
        if any(end in seen for end in HEAD_ENDS) or self._read > MAX_HEAD_BYTES:
            self._answer()
        else:
            self._tail = seen[-3:]

    def eof_received(self) -> bool | None:
        if self._read:
            self._answer()
        return None

    def _late(self) -> None:
        self._timer = None
        if self._read:
            self._answer()  # a head not finished in time: refused all the same
        else:
            self.abort()  # it sent nothing: there is nothing to answer

    def _answer(self) -> None:
        t = self._transport
        if t is None or t.is_closing():
            return
        self._door.refusals.answer(t, self._reason)

    def abort(self) -> None:
        """Close it now (a stop, or its time is up)."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._door.pending.discard(self)
            self._transport = None
