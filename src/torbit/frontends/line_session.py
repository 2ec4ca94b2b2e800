"""A line door's session as a connection: what the telnet and IRC sessions do alike with
their socket. It takes the connection (unless the address has too many) and counts it until
the connection is lost; it departs once (its client gone, or its EOF with nothing left to
answer); it closes, or cuts at a shutdown, and drops a client too slow to read. Each door says
how a refusal is worded, what it says before closing, and what departing means
(`_disconnected` tells it when)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any, ClassVar, Protocol, TypeVar, cast

from torbit.core.limits import ByteBudget, ConnectionLimiter
from torbit.errors import Forbidden
from torbit.frontends.admission import Refusals
from torbit.frontends.flow import FlushQueue, TransportWriter, bound_unread, tune_socket
from torbit.frontends.paced import PacedInput
from torbit.frontends.tally import Tally
from torbit.metrics import Metrics

E = TypeVar("E")


class LineOptions(Protocol):
    @property
    def max_output_buffer(self) -> int: ...

    @property
    def input_budget(self) -> ByteBudget:
        """Input bytes a logged-in connection may send (limits.input_rate, input_burst)."""

    @property
    def login_input_budget(self) -> ByteBudget:
        """Before login (limits.login_input_rate, login_input_burst)."""

    @property
    def tcp_nodelay(self) -> bool:
        """False: Nagle's algorithm on (`tune_socket`)."""

    @property
    def send_buffer(self) -> int:
        """SO_SNDBUF for each client's socket; 0: the kernel's autotuning (`tune_socket`)."""

    @property
    def receive_buffer(self) -> int:
        """SO_RCVBUF, the same."""


class LineHost(Protocol):
    """What a line session needs of the door that accepted it (doors.LineDoor)."""

    connections: ConnectionLimiter
    metrics: Metrics
    flushes: FlushQueue
    refusals: Refusals  # how it refuses a connection (admission.py)
    cuts: Tally  # clients cut before login or registration, summed up in the log
    input_bytes: int  # read from all its connections (torbit_input_bytes)

    @property
    def options(self) -> LineOptions: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a session's background work, keeping a reference until it is done."""

    def start(self, handler: Awaitable[None]) -> asyncio.Future[None]:
        """A session's handler started on the loop, kept until done: a stop waits for it
        (doors.LineDoor)."""

    def hang_up(self, session: Any, transport: asyncio.Transport) -> bool | None:
        """End the session whose client closed its side and close ours, soon (a batch a
        turn): what `eof_received` returns (None: uvloop closes it)."""

    def linger(self, session: Any, transport: asyncio.Transport) -> None:
        """Our side of a session's connection is closing (`LineSession.close`): the door keeps
        it until it is lost, and cuts it if its output is still unread after a while."""

    def lost(self, session: Any) -> None:
        """A session's connection is lost: the door lets go of it, if it closed it."""


class LineSession(PacedInput[E], asyncio.Protocol):
    __slots__ = (
        "_counted",
        "_departed",
        "_refused",
        "_timer",
        "_writer",
        "closed",
        "door",
        "ip",
        "server",
    )

    kind: ClassVar[str]  # the door's name for its clients, in the log ("IRC", "telnet")
    server: LineHost
    door: str
    ip: str  # a PROXY header's client address, else the socket's
    _counted: bool  # holds one of its address's connections (`_accept` to `connection_lost`)
    _departed: bool  # `_disconnected` said so once: the session departed
    _refused: str  # refused by its TLS port's gate, counted there (`admitted`)
    _timer: asyncio.TimerHandle | None

    # what a door says

    @staticmethod
    def refusal(reason: str) -> bytes:
        """The one line to a client refused at connect (too many from its address), encoded
        once per reason (admission.Refusals)."""
        raise NotImplementedError

    def _closing(self, reason: str) -> None:
        """What is said and done before our side closes (once)."""

    def _address(self, peer: tuple[str, int] | None) -> None:
        """The socket's peer, when no PROXY header gave the client's address."""
        self.ip = str(peer[0]) if peer else "?"

    # the connection

    def admitted(self, refused: str = "") -> None:
        """Its connection is counted for its address already, its token of the connection
        rate taken (admission.Doorman, which refused it otherwise before this session was
        made; a TLS port's handshake gate). `refused`: the gate found no token left, after
        the handshake the session refuses the connection in words (counted there already)."""
        if refused:
            self._refused = refused
        else:
            self._counted = True

    def _accept(self, transport: asyncio.BaseTransport) -> bool:
        """Take the connection and count it for its address (unless `admitted`: a plain
        door's doorman did); False when the address has too many (behind a TLS handshake or
        a PROXY header): the client is told, and the connection closed."""
        t = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        server = self.server
        self._writer = TransportWriter(
            t, server.options.max_output_buffer, server.flushes, self._dropped_slow, direct=True
        )
        if not self.ip:
            self._address(transport.get_extra_info("peername"))
        if not self._counted:
            refused = self._refused or server.connections.acquire(self.ip, arriving=True)
            if refused:
                self._writer.lost()  # never written to: the refusal is its only line
                if self._refused:
                    server.refusals.answer(t, refused)  # counted by the gate
                else:
                    server.refusals.refuse(t, self.ip, refused)
                self.closed = True
                return False
            self._counted = True
        server.metrics.connected_on(self.door).inc()
        options = server.options
        tune_socket(
            t,
            nodelay=options.tcp_nodelay,
            send_buffer=options.send_buffer,
            receive_buffer=options.receive_buffer,
        )
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        """The one place the address's count is returned, once: a session that ended (its
        client hung up) with its output unread holds its socket until now (`LineDoor.lost`)."""
        self._gone()
        if self._counted:
            self._counted = False
            self.server.connections.release(self.ip)
        self.server.lost(self)

    def data_received(self, data: bytes) -> None:
        """Bytes read: counted for the door, and what the connection's budget lets in now
        handed to the door's codec (`_input`); the rest waits for the bucket to refill."""
        if self.closed:
            return
        self.server.input_bytes += len(data)
        self._let_in(data)

    def _over_budget(self) -> None:
        self.server.metrics.input_held_on(self.door).inc()

    def _deaf(self) -> None:
        """Nothing more reaches the client from now on (our side closes once its output is
        out, or its EOF dropped what was queued), though the connection may be kept a while:
        what a door's session judges about what its client got, judged now."""

    def _deaf_at_eof(self) -> None:
        """`_deaf` for its client's EOF, which may judge now and act when it is `_gone`."""
        self._deaf()

    def _gone(self) -> None:
        """The client is gone (its EOF, or the connection lost): nothing more is read or
        written, and the session departs (once)."""
        raise NotImplementedError

    def _disconnected(self) -> bool:
        """Nothing more is read or written; True the first time for a counted connection: the
        caller then departs the session. (Its address's count is returned when the connection
        is lost, which may be later: `connection_lost`.)"""
        if self._writer is not None:
            self._writer.lost()
        self.closed = True
        self._pending = None
        self._release_budget()
        if self._timer is not None:
            self._timer.cancel()
        if not self._counted or self._departed:
            return False
        self._departed = True
        return True

    def eof_received(self) -> bool | None:
        """The client closed its side: what it sent before is still handled and answered,
        then ours is closed (`PacedInput._input_ended`). With nothing left to handle, the
        session is deaf at once (nothing more is written to it), and the door departs it and
        closes ours a batch per loop turn (`LineDoor.hang_up`: not here, where 10,000 EOFs
        read in one poll would all be worked off in one turn); over TLS the session departs
        now and the SSL layer closes."""
        w = self._writer
        t = w.transport if w is not None else None
        if w is None or t is None or w.tls:
            if t is not None:  # the SSL layer closes once this returns: bounded before
                bound_unread(t)
            self._gone()
            return None
        if self._input_ended():
            return True  # half-open until the input is handled
        self._deaf_at_eof()
        w.lost()
        return self.server.hang_up(self, t)

    def hung_up(self) -> None:
        """The door's turn to depart this session after its client's EOF (`hang_up`)."""
        self._gone()

    def _start(self, work: Awaitable[None]) -> asyncio.Future[None]:
        return self.server.start(work)

    def cut(self) -> None:
        """Shutdown: the connection is cut at once (output still queued is dropped)."""
        if self._writer is not None:
            self._writer.cut()

    def is_open(self) -> bool:
        """Not closed nor closing: a revocation closes the session at once, and a send that
        waited on the store meanwhile must not be stored (`Messaging` asks this last)."""
        w = self._writer
        return (
            not self.closed
            and w is not None
            and w.transport is not None
            and not (w.transport.is_closing())
        )

    async def holds(self) -> None:
        """`core.messaging.Holds` for this session's sends: refused once it is closing."""
        if not self.is_open():
            raise Forbidden("not sent: this connection is closing")

    def close(self, reason: str) -> None:
        """Our side closes once the output queued is out; a client that never reads it has
        the connection cut after a while (`LineDoor.linger`). What it sent and is not handled
        yet (queued, or held by its budget) is dropped: a revoked login's lines were still
        acted on, as its user, until the linger was over (tests/security/
        test_revoked_input_dropped.py, test_irc_nothing_after_close.py), as were lines sent
        after a /quit or a QUIT."""
        self._pending = None
        self._release_budget()
        w = self._writer
        t = w.transport if w is not None else None
        if w is not None and t is not None and not t.is_closing():
            self._closing(reason)
            self.server.linger(self, t)  # kept, and the kernel's bound set, before it closes
            w.close()
            self._deaf()

    def _dropped_slow(self) -> None:
        self._log.warning(
            "dropping slow %s client %s: output buffer over %d bytes",
            self.kind,
            self._who(),
            self.server.options.max_output_buffer,
        )
        self.server.metrics.dropped_clients.labels(self.door).inc()
