"""A new connection refused before anything is built for it.

Refused by the connection limits (core/limits.py: the server full, too many open from the
address, or the address connecting faster than `limits.connection_rate`), a reconnect storm
still cost ~30-80 µs a socket when the refusal was the session's: an IRC session built (its
capabilities, its registration machine, its parser, its writer) only to write one line and
close, and the line worded and encoded again each time (attack14, bench/JOURNAL.md). A
`Doorman` is the one protocol every connection of a plain line door starts with: it asks the
limiter for the socket's address, and only an admitted connection gets a session, which takes
the connection over (`set_protocol`, as the TLS and PROXY gates do). A refused one gets the
door's refusal, encoded once per reason (`Refusals`), and is closed; it is counted in
`torbit_connections_refused` and in a log summary (tally.py), never a log line each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol, cast

from torbit.core.limits import ConnectionLimiter
from torbit.frontends.tally import Tally
from torbit.metrics import Metrics

Peer = tuple[str, int]


class Admitted(Protocol):
    """A door's session, told that its connection is counted already."""

    def admitted(self, refused: str = "") -> None: ...

    def connection_made(self, transport: asyncio.BaseTransport) -> None: ...


class Refusals:
    """How one door refuses a connection: its words for each reason, encoded once (the
    limiter words each reason once: `ConnectionLimiter.full`, `crowded`, `hurried`), written
    once, then the socket closed; counted per limit, and in the log's summary."""

    def __init__(
        self,
        door: str,
        connections: ConnectionLimiter,
        encode: Callable[[str], bytes],
        metrics: Metrics,
        log: logging.Logger,
    ) -> None:
        self._door = door
        self._connections = connections
        self._encode = encode
        self._metrics = metrics
        self._words: dict[str, bytes] = {}
        self.tally = Tally(log, f"{door}: refused")

    def refuse(self, transport: asyncio.BaseTransport, ip: str, reason: str) -> None:
        """Count the refusal and answer it now."""
        self.count(ip, reason)
        self.answer(transport, reason)

    def count(self, ip: str, reason: str) -> None:
        self._metrics.refused_on(self._door, self._connections.kind(reason)).inc()
        self.tally.count(ip, reason)

    def words(self, reason: str) -> bytes:
        """The door's words for `reason`, encoded once."""
        words = self._words.get(reason)
        if words is None:
            if len(self._words) > 8:  # only the limiter's own three, in practice
                self._words.clear()
            words = self._words[reason] = self._encode(reason)
        return words

    def answer(self, transport: asyncio.BaseTransport, reason: str) -> None:
        """The door's words for `reason`, then the connection closed."""
        t = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        t.write(self.words(reason))
        t.close()


class Doorman(asyncio.Protocol):
    """One per listening socket, shared by all its connections (it keeps nothing of any):
    admits a connection into a session made for it, or refuses it (`Refusals`)."""

    __slots__ = ("_connections", "_make", "_refusals")

    def __init__(
        self,
        make: Callable[[Peer | None], Admitted],
        connections: ConnectionLimiter,
        refusals: Refusals,
    ) -> None:
        self._make = make
        self._connections = connections
        self._refusals = refusals

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if peer else "?"
        refused = self._connections.acquire(ip, arriving=True)
        if refused is not None:
            self._refusals.refuse(transport, ip, refused)
            return
        session = self._make((ip, int(peer[1])) if peer else None)
        session.admitted()
        transport.set_protocol(cast(asyncio.BaseProtocol, session))
        session.connection_made(transport)
