"""A TLS connection counts from the moment it is accepted, not from the end of its handshake.

asyncio tells a protocol served with `ssl=` of its connection only once the TLS handshake is
done, so the per-address and total connection limits (core/limits.py) did not see a client
that opens sockets and never finishes a handshake: each held its socket for the handshake
timeout, as many as it cared to open (250 from one address, where the limit was 100; on
the TLS telnet, IRC and HTTPS ports alike). A `HandshakeGate` is the first protocol of such
a connection: it counts the connection at once (or closes it past a limit), runs the
handshake (asyncio's TLS layer, HANDSHAKE_TIMEOUT), then hands the connection to the door's
own protocol with its count; the gate's count is returned when the handshake fails. A gate
whose handshake is not done is in its door's `Handshakes`, which a stop cuts at once (`cut`):
a client that never finishes its handshake does not hold the stop for the handshake timeout.

The gate also takes the connection's token of its address's `limits.connection_rate` at the
accept, as a plain port's doorman does (admission.py), whatever its first bytes turn out to
be: the door's session took it after the handshake, so a hello the handshake refused and a
plain answer took none, and a reconnect storm at a TLS port was bounded by the per-address
and total limits only (attack56). With no token left, a TLS client's connection is refused
by its session in the door's words once the handshake is done, a plain client's gets the
plain port's refusal for its answer (`Refusals`), counted here once.

A client that speaks plain text to a TLS port (http:// typed for https://, telnet or an IRC
client pointed at the TLS port) met silence, then a close: "empty reply", "connection
reset". A gate given its door's `PlainAnswer` waits for the client's first bytes (a TLS
client's hello comes at once; a plain one's words too, or after a line typed): a first
byte that is plain text (`plain_text`) gets the door's answer once the client's first words
are in (or the handshake's time is up), then the close (a lingering one: `_answer`);
anything else goes to the TLS layer with the bytes read, within what is left of the
handshake's time.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from torbit.core.limits import ConnectionLimiter
from torbit.frontends.admission import Refusals

HANDSHAKE_TIMEOUT = 10.0  # seconds for a TLS handshake, else the connection is closed
# a plain client answered: what it still sends is dropped at least this long (`_answer`),
# and at most this much in all (past it, the connection is cut: 20 clients streaming after
# their answer had the loop read 27 GB in the handshake's 10 s, 7.9 s of CPU)
LINGER_MIN = 1.0
LINGER_BYTES = 1 << 20
TCP_TRANSPORT = "torbit_tcp_transport"  # `get_extra_info` key: the TCP transport under it


# A TLS client's first byte is 0x16 (a handshake record; an SSLv2-style hello: 0x80 and up).
# Plain text starts with a printable ASCII byte, a tab or a line end (an HTTP method, an IRC
# command, a line typed), or telnet's IAC (0xff: a client negotiating options at once).
_PLAIN_FIRST = frozenset([*range(0x20, 0x7F), 0x09, 0x0A, 0x0D, 0xFF])


def plain_text(first: int) -> bool:
    """Whether a connection's first byte says plain text, not a TLS client's hello."""
    return first in _PLAIN_FIRST


@dataclass(frozen=True, slots=True)
class PlainAnswer:
    """What a door's TLS port answers a client speaking plain text to it, once the client's
    first words are in: when what it sent holds one of `ends` (a line's end, a request
    head's), passes `most` bytes, or the handshake's time is up. Then it is closed: answered
    before its words are read, the client's side could be reset and lose the answer."""

    text: bytes
    ends: tuple[bytes, ...]
    most: int = 4096


def held_under(transport: asyncio.BaseTransport) -> int:
    """Bytes the TCP transport under a TLS transport of ours holds unsent, which the TLS
    one's write buffer does not count (it counts what its layer holds); 0 for any other."""
    under = transport.get_extra_info(TCP_TRANSPORT)
    return under.get_write_buffer_size() if under is not None else 0


class Pending(Protocol):
    """A connection a stop cuts at once: nobody's session yet."""

    def abort(self) -> None: ...


class Handshakes:
    """The gates of one door whose handshakes are not done yet (and the HTTP door's refused
    connections waiting to be answered: http/doorman.py; and a line door's PROXY gates
    waiting for their header: proxied.py)."""

    def __init__(self) -> None:
        self._gates: set[Pending] = set()

    def __len__(self) -> int:
        return len(self._gates)

    def add(self, gate: Pending) -> None:
        self._gates.add(gate)

    def discard(self, gate: Pending) -> None:
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
        make: Callable[[str, str], asyncio.Protocol],
        tls: ssl.SSLContext,
        connections: ConnectionLimiter,
        exempt: Callable[[str], bool] = lambda ip: False,
        pending: Handshakes | None = None,
        plain: PlainAnswer | None = None,
        refusals: Refusals | None = None,
    ) -> None:
        # the door's protocol, told the address the connection is counted under and its
        # token taken ("": neither, an exempt peer) or the refusal it must answer (`hand_over`)
        self._make = make
        self._refusals = refusals  # the door's, counting a refusal for the rate (and wording it)
        self._hurried = ""  # no token of the connection rate was left: this refusal
        self._tls = tls
        self._connections = connections
        self._exempt = exempt  # peers not counted (HTTP: trusted proxies, counted per client)
        self._ip: str | None = None  # counted in `connections` under this address
        self._pending = pending  # where it is while its handshake is not done
        self._transport: asyncio.Transport | None = None
        self._plain = plain  # the door's answer to plain text (None: no first-bytes check)
        self._timer: asyncio.TimerHandle | None = None  # until the first bytes (or the end)
        self._deadline = 0.0  # the loop's time the handshake must be done by
        self._words = False  # plain text came: its first words are being read
        self._read = 0  # bytes of them read
        self._tail = b""  # their last bytes: an end may be split across reads
        self._answered = False  # our answer sent: the rest is dropped until the client ends

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)  # uvloop's is not asyncio's class
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if peer else ""
        if not self._exempt(ip):
            if self._connections.acquire(ip) is not None:
                transport.abort()  # over a limit: the session would refuse it too, in words
                return
            self._ip = ip
            hurried = self._connections.arrive(ip)  # counted meanwhile, as any handshake
            if hurried is not None:
                self._hurried = hurried
                if self._refusals is not None:
                    self._refusals.count(ip, hurried)
        self._transport = transport
        if self._pending is not None:
            self._pending.add(self)
        if self._plain is not None:  # its first bytes say which: `data_received`
            loop = asyncio.get_running_loop()
            self._deadline = loop.time() + HANDSHAKE_TIMEOUT
            self._timer = loop.call_at(self._deadline, self._late)
            return
        self._start_tls(transport, HANDSHAKE_TIMEOUT)

    def _start_tls(self, transport: asyncio.Transport, timeout: float) -> _TLSLayer:
        # The TLS layer takes the connection here, before this callback returns, so the
        # client's hello, which may already be on its way, is the TLS layer's to read. Not
        # `loop.start_tls` in a task: uvloop 0.23 starts reading when `connection_made`
        # returns (a `pause_reading` here does nothing yet), so the hello reached this gate,
        # was dropped, and the handshake waited for its timeout: 0 of 8 TLS connections to
        # a `torbit serve` (uvloop) got through, 8 of 8 so. This is the layer `start_tls`
        # itself puts in place (asyncio's SSLProtocol, on either loop; `_TLSLayer`).
        loop = asyncio.get_running_loop()
        handshake: asyncio.Future[None] = loop.create_future()
        handshake.add_done_callback(self._ended)
        tls = _TLSLayer(
            loop,
            _Handoff(self),
            self._tls,
            handshake,
            server_side=True,
            # seconds as a float, as start_tls takes them (typeshed says int)
            ssl_handshake_timeout=timeout,  # type: ignore[arg-type]
        )
        transport.set_protocol(tls)
        tls.connection_made(transport)
        return tls

    # before the TLS layer (a door with a `PlainAnswer` only)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._answered:  # what the client still sends is dropped (`_answer`), up to a bound
            self._read += len(data)
            if self._read > LINGER_BYTES:
                self.abort()
            return
        if not self._words and not plain_text(data[0]):  # a TLS client: its hello, so far
            self._stop_timer()
            left = self._deadline - asyncio.get_running_loop().time()
            tls = self._start_tls(transport, max(left, 0.001))
            while data:  # the TLS layer reads into its own buffer (a BufferedProtocol)
                buffer = tls.get_buffer(len(data))
                n = min(len(buffer), len(data))
                buffer[:n] = data[:n]
                tls.buffer_updated(n)
                data = data[n:]
            return
        plain = self._plain
        assert plain is not None
        self._words = True
        self._read += len(data)
        seen = self._tail + data
        if self._read > plain.most or any(end in seen for end in plain.ends):
            self._answer()
        else:
            self._tail = seen[-max(len(end) for end in plain.ends) :]

    def eof_received(self) -> bool | None:
        if self._words and not self._answered:
            self._answer(linger=False)  # the client said all it will
        return None  # closed (after the answer, if any)

    def _late(self) -> None:
        """The handshake's time is up before a TLS client's hello came: plain words are
        answered as they are, silence is cut (as the TLS layer cuts a handshake not done)."""
        self._timer = None
        if self._words:
            self._answer()
        else:
            self.abort()

    def _answer(self, linger: bool = True) -> None:
        """The door's answer, then our end. Closed with the client's input unread (a
        request's body, lines pasted after the first), the kernel resets the connection
        and the client loses the answer (attack56: 9 of 10 plain POSTs of 1 MB to the
        HTTPS port): so, as nginx's lingering close, our side ends after the answer and what
        the client still sends is read and dropped until its end, the handshake's time is up
        (at least LINGER_MIN s from now), or LINGER_BYTES in all were read (then cut); the
        connection still counts meanwhile."""
        transport = self._transport
        if transport is None or transport.is_closing() or self._answered:
            return
        assert self._plain is not None
        self._stop_timer()
        self._answered = True
        text = self._plain.text  # or, no token left, the plain port's refusal
        if self._hurried and self._refusals is not None:
            text = self._refusals.words(self._hurried)
        transport.write(text)
        if not linger or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(max(self._deadline, loop.time() + LINGER_MIN), self.abort)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone before the TLS layer took it (after, the layer is told instead)."""
        self._stop_timer()
        self._release()
        if self._pending is not None:
            self._pending.discard(self)
        self._transport = None

    def _ended(self, handshake: asyncio.Future[None]) -> None:
        """The handshake is over, done or failed (timed out, refused, reset; the TLS layer
        closed the connection then): the count is returned, if the session has not taken it."""
        if not handshake.cancelled() and (exc := handshake.exception()) is not None:
            # nobody to tell; and its traceback let go: asyncio's TLS layer raises the error
            # in a frame holding it, a cycle that kept the layer (its 256 KiB buffer, the
            # OpenSSL connection) until a collection (`_TLSLayer`)
            exc.__traceback__ = None
        self._release()
        if self._pending is not None:
            self._pending.discard(self)
        self._transport = None

    def hand_over(self, tls_transport: asyncio.Transport) -> None:
        """The handshake is done: the door's own protocol takes the connection, with the
        gate's count and its token; or, none left, uncounted, to refuse it."""
        counted, self._ip = self._ip, None
        if self._hurried and counted is not None:
            self._connections.release(counted)
            counted = None
        if self._pending is not None:
            self._pending.discard(self)
        inner = self._make(counted or "", self._hurried)
        tls_transport.set_protocol(inner)
        inner.connection_made(tls_transport)

    def abort(self) -> None:
        """Cut the connection now, its handshake unfinished (the door stops)."""
        if self._transport is not None:
            self._transport.abort()
        self._release()

    def _release(self) -> None:
        if self._ip is not None:
            self._connections.release(self._ip)
            self._ip = None


class _Handoff(asyncio.Protocol):
    """The TLS layer's first application protocol: told of the connection once the handshake
    is done, it hands it to the door's own protocol."""

    def __init__(self, gate: HandshakeGate) -> None:
        self._gate = gate

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._gate.hand_over(cast(asyncio.Transport, transport))


class _TLSLayer(sslproto.SSLProtocol):
    """asyncio's TLS layer, but a refused handshake's alert reaches the client: asyncio cuts
    the connection with the alert OpenSSL wrote still unsent, so a TLS 1.1 client saw a
    reset, not `protocol version`, and could not tell why. It reads 32 KiB at a time, not
    asyncio's 256 KiB: each connection keeps its read buffer from its first byte to its
    close, zeroed, so resident (attack56: 1,000 handshakes held with a record header took
    309 MB, 57 MB on uvloop's own TLS; and every TLS session paid as much)."""

    max_size = 32 * 1024

    def _get_extra_info(self, name: str, default: Any = None) -> Any:
        """Its transport's `get_extra_info`; with TCP_TRANSPORT, the TCP transport under it
        (`held_under`)."""
        if name == TCP_TRANSPORT:
            return self._transport
        return super()._get_extra_info(name, default)

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        # `_process_outgoing` is asyncio's own (3.11+), not public: without it, no alert
        flush = getattr(self, "_process_outgoing", None)
        if handshake_exc is not None and self._transport is not None and flush is not None:
            flush()  # the alert, if any
        super()._on_handshake_complete(handshake_exc)
