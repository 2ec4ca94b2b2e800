"""Bounds uvicorn leaves open, enforced where the bytes arrive: on request heads, on request
bodies and on the number of connections per client address. Slowloris clients, endless
headers, dribbled bodies and one address opening thousands of connections would otherwise
hold sockets and memory without limit.

`GuardedHttpTools` is uvicorn's httptools protocol with these added:

- HEAD_TIMEOUT: a head must be complete within this many seconds of the connection opening
  or of its first byte (for later requests on a kept-alive connection); otherwise 408 and
  close (a connection that sent nothing at all is just closed). Idle time between requests is
  uvicorn's own keep-alive timeout.
- MAX_HEAD_BYTES: a head may not grow past this while it comes (plus at most one read),
  nor be longer once whole (its request target and fields as the parser gives them: a head
  that came whole in one read was never counted, attack56); otherwise 431.
  What a chunked body carries beside its data (each chunk's size line, the trailer after
  the last) may not either, with CHUNK_FRAMING bytes a chunk on top; otherwise 431 and
  close. Trailer fields are read and dropped: uvicorn added them to the request's headers,
  without bound (one request of trailer lines took the server from 0.1 to 4.8 GB, stop 47's
  probe), and after the app had read them.
- `http.body_timeout`: once its head is in, a request's body must be complete within this
  many seconds; otherwise 408 and close (or just close, if the answer has begun).
- `http.send_timeout`: once an answer fills the socket (the transport pauses writing), the
  client must read SEND_PROGRESS bytes of it, or all of it, within this many seconds, again
  and again; otherwise the connection is closed at once, with what was unsent. A client
  that never reads would else hold its answer, and the next pipelined one, for ever.
- `limits.connections_per_ip` / `limits.max_connections`: every connection is counted in the
  `ConnectionLimiter` the telnet door shares, against its peer's address, or, for a peer in
  `http.trusted_proxies`, against the client each request names (proxies.py). Past a limit
  the request gets 503 and the connection is closed; it is answered after its head arrives
  (within REFUSED_TIMEOUT), because a response written before the request is lost in the
  client's reset. A WebSocket stays counted until it closes (`_Counted`).
- `limits.connection_rate` / `connection_burst`: a new connection takes a token of its
  address's bucket (the one the line doors take from), or, through a trusted proxy, of the
  client its first request names; past it that request gets 429 and the connection is
  closed. A reconnect storm cost a whole request each (attack14: bench/JOURNAL.md). A
  connection refused at once is the doorman's (doorman.py), before this protocol is made;
  here only those through a trusted proxy, refused for the client their head names.
- uvicorn's warning for each request it cannot parse or whose `Upgrade` it does not serve
  (any client could write one a request, no account needed: 500 lines from one connection
  with `Upgrade: h2c`) is counted instead (`DoorLimits.odd`: the door's log summary).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from torbit.core.limits import ConnectionLimiter
from torbit.frontends.flow import bound_unread, reset, tune_socket
from torbit.frontends.http.errors import error_body
from torbit.frontends.http.proxies import TrustedProxies

HEAD_TIMEOUT = 20.0
MAX_HEAD_BYTES = 64 * 1024
CHUNK_FRAMING = 32  # bytes of a chunk's size line and CR LFs allowed beside its data
REFUSED_TIMEOUT = 2.0  # how long a refused connection may take to send the head we answer
SEND_PROGRESS = 64 * 1024  # bytes of a stalled answer a client must read per send_timeout

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    501: b"Not Implemented",
    503: b"Service Unavailable",
}
# headers a request may carry once: with two, the app took the first and a proxy before it may
# have read the other (two Authorizations answered as either user, by their order; an Origin
# of ours before a foreign one passed the origin check: stop 47's probe)
ONCE = frozenset({b"host", b"authorization", b"origin"})
# uvicorn's warnings that a client writes at will, each counted by the guard instead
_CLIENTS_WARNINGS = frozenset({"Invalid HTTP request received.", "Unsupported upgrade request."})


def error_answer(status: int, code: str, message: str) -> bytes:
    """A complete response in the API's one error shape, closing the connection."""
    body = error_body(code, message)
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"retry-after: 1\r\n" if status in (429, 503) else b"",
            b"connection: close\r\n\r\n",
            body,
        )
    )


@dataclass(frozen=True, slots=True)
class DoorLimits:
    """What the guard enforces beyond heads: shared connection counts, body deadline."""

    connections: ConnectionLimiter = field(default_factory=lambda: ConnectionLimiter(0, 0))
    proxies: TrustedProxies = field(default_factory=TrustedProxies)
    body_timeout: float = 30.0
    send_timeout: float = 30.0
    # a refusal counted (its address, why): the door's metric and log summary (doorman.py)
    refused: Callable[[str, str], None] = lambda address, reason: None
    send_buffer: int = 128 * 1024  # SO_SNDBUF of each connection (flow.tune_socket)
    # a request uvicorn logged a warning for (unparsable, an unserved Upgrade): its address
    # and why, for the door's log summary (tally.py), never a line each
    odd: Callable[[str, str], None] = lambda address, why: None


class _ClientsWarningsCounted(logging.LoggerAdapter[logging.Logger]):
    """uvicorn's logger for the guarded protocol, without the warnings any client can cause
    at will (the guard counts those); its errors, the app's faults, go on as they were."""

    @property
    def level(self) -> int:  # uvicorn reads it before each trace line
        return self.logger.level

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if msg not in _CLIENTS_WARNINGS:
            super().warning(msg, *args, **kwargs)


_UVICORN_LOG = _ClientsWarningsCounted(logging.getLogger("uvicorn.error"))


class _Counted(asyncio.Protocol):
    """Stands between the transport and the protocol a connection was upgraded to (a
    WebSocket), so that its connection slot is given back when it closes."""

    def __init__(self, inner: asyncio.Protocol, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release: Callable[[], None] | None = release

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._release is not None:
            self._release()
            self._release = None
        self._inner.connection_lost(exc)


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded heads, a body deadline and per-address
    connection counts."""

    limits: ClassVar[DoorLimits] = DoorLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _UVICORN_LOG  # type: ignore[assignment]  # a Logger's methods, one less
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._unsent = 0  # bytes buffered when the send timer was armed
        # requests before the newest (`self.cycle`) of a pipeline, being answered or queued:
        # uvicorn tells only the newest of a lost connection, see `_hang_up`
        self._pipelined: list[Any] = []
        self._in_head = False  # between a request's first byte and the end of its headers
        self._head_bytes = 0  # bytes read while in the head, after the read that began it
        self._parsed = 0  # the head's bytes as the parser gave them (its target and fields)
        self._got_bytes = False
        self._body_due = False  # a request's head is in, its body is not: the body deadline
        self._framing = 0  # bytes of the body's reads that were not its data (chunked)
        self._chunks = 0  # chunk size lines parsed in the body so far
        self._body_read = 0  # data bytes of the body in the current read
        self._peer = "?"
        self._counted: str | None = None  # the address this connection is counted against
        self._refused: str | None = None  # why the next request will be refused
        self._refused_status = 503  # and how (429: the address's new connections)
        self._arrived = False  # a token of the connection rate taken (`_count`)
        self._finished = False  # answered by the guard itself: the parser's callbacks are moot

    def admitted(self, address: str) -> None:
        """Counted against `address`, its token of the connection rate taken, by the door's
        doorman (doorman.py), before this protocol was made."""
        self._counted = address
        self._arrived = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client:
            self._peer = self.client[0]
        # bounded in size and in time, what the kernel holds for a client that never reads
        tune_socket(transport, nodelay=True, send_buffer=self.limits.send_buffer, receive_buffer=0)
        bound_unread(transport)  # a WebSocket's is lifted while it lives (ws.py)
        if not self.limits.proxies.trusts(self._peer):
            self._count(self._peer)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_body()
        self._disarm_send()
        self._uncount()
        self._hang_up()
        super().connection_lost(exc)

    def _hang_up(self) -> None:
        """uvicorn tells only the newest request (`self.cycle`) that the connection is gone;
        the one being answered while it waits would write to the closed transport, and
        under uvloop each such write was an error with a traceback in the log: any client
        could write one per connection by pipelining two requests and hanging up."""
        cycles, self._pipelined = self._pipelined, []
        for cycle in cycles:
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._arm_send()

    def resume_writing(self) -> None:
        self._disarm_send()
        super().resume_writing()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing() or self._finished:
            return
        self._got_bytes = True
        was_in_head = self._in_head
        was_in_body = self._body_due
        self._body_read = 0
        super().data_received(data)
        if was_in_body and self._body_due and not self._finished:
            # the whole read was this request's body: data, chunk framing and trailer
            self._framing += len(data) - self._body_read
            if self._framing > MAX_HEAD_BYTES + CHUNK_FRAMING * self._chunks:
                self._cut_request(
                    431,
                    "too_large",
                    f"chunk framing and trailer too large: at most {MAX_HEAD_BYTES} bytes",
                )
                return
        # The deadlines are armed for what this read left incomplete, not for each request:
        # a request whose head and body came in this read never needs a timer.
        if self._in_head:
            if was_in_head:
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                    self._refuse(
                        431,
                        "too_large",
                        f"request line and headers too large: at most {MAX_HEAD_BYTES} bytes",
                    )
                    return
            if self._head_timer is None and not self._finished:
                self._arm()
        if self._body_due and self._body_timer is None and not self._finished:
            self._arm_body()

    # parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = self._parsed = 0
        self._framing = self._chunks = 0

    def on_url(self, url: bytes) -> None:
        self._parsed += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_head:  # a trailer's field (after the last chunk) is dropped
            self._parsed += len(name) + len(value) + 4  # ": " and the line's end
            super().on_header(name, value)

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        if self._parsed > MAX_HEAD_BYTES:
            message = f"request line and headers too large: at most {MAX_HEAD_BYTES} bytes"
            self._refuse(431, "too_large", message)
            return
        if self._malformed():
            return
        proxies = self.limits.proxies
        if proxies and proxies.trusts(self._peer):
            self._count(proxies.client(self._peer, self.headers))
        if self._refused is not None:
            self._refuse_counted()
            return
        earlier = self.cycle
        super().on_headers_complete()
        if earlier is not None and not earlier.response_complete:  # pipelined behind it
            self._pipelined = [c for c in self._pipelined if not c.response_complete]
            self._pipelined.append(earlier)
        self._body_due = not (self.parser.should_upgrade() and self._should_upgrade())

    def _malformed(self) -> bool:
        """Refused (True): a header of ONCE given twice (400), a transfer coding other than
        chunked alone (501: `gzip, chunked` was taken as chunked, the gzip ignored)."""
        seen: set[bytes] = set()
        for name, value in self.headers:
            if name in ONCE:
                if name in seen:
                    self._refuse(400, "bad_request", f"more than one {name.decode()} header")
                    return True
                seen.add(name)
            elif name == b"transfer-encoding" and value.strip().lower() != b"chunked":
                self._refuse(501, "not_implemented", "transfer coding other than chunked")
                return True
        return False

    def on_body(self, body: bytes) -> None:
        self._body_read += len(body)
        if not self._finished:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._finished:
            return
        self._disarm_body()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        if self._finished or self.transport.is_closing():
            return
        self._disarm_body()
        super().handle_websocket_upgrade()
        counted, self._counted = self._counted, None
        if counted is not None:
            upgraded = self.transport.get_protocol()
            assert isinstance(upgraded, asyncio.Protocol)
            release = self.limits.connections.release
            self.transport.set_protocol(_Counted(upgraded, lambda: release(counted)))

    # connection counts

    def _count(self, address: str) -> None:
        """Count this connection against `address` (moving it from the one before); the
        first address it is counted against also takes a token of its connection rate."""
        if address == self._counted:
            return
        self._uncount()
        connections = self.limits.connections
        self._refused = connections.acquire(address, arriving=not self._arrived)
        self._arrived = True
        if self._refused is None:
            self._counted = address
            return
        if connections.kind(self._refused) == "rate":
            self._refused_status = 429
        self.limits.refused(address, self._refused)

    def _refuse_counted(self) -> None:
        assert self._refused is not None
        status = self._refused_status
        self._refuse(status, "rate_limited" if status == 429 else "unavailable", self._refused)

    def _uncount(self) -> None:
        if self._counted is not None:
            self.limits.connections.release(self._counted)
            self._counted = None

    # the deadlines

    def _arm(self) -> None:
        timeout = HEAD_TIMEOUT if self._refused is None else min(HEAD_TIMEOUT, REFUSED_TIMEOUT)
        self._head_timer = self.loop.call_later(timeout, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not self._got_bytes:
            self.transport.close()
        elif self._refused is not None:
            self._refuse_counted()
        else:
            self._refuse(
                408, "timeout", f"request headers not complete within {HEAD_TIMEOUT:g} seconds"
            )

    def _arm_body(self) -> None:
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_late)

    def _disarm_body(self) -> None:
        self._body_due = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_late(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        self._cut_request(
            408,
            "timeout",
            f"request body not complete within {self.limits.body_timeout:g} seconds",
        )

    def _cut_request(self, status: int, code: str, message: str) -> None:
        """End a request whose body is still coming: refused if its answer has not begun,
        else the connection is just closed; the app's reads end as at a disconnect."""
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            self._finished = True
            self.transport.close()  # the answer has begun: nothing more can be said
            return
        if cycle is not None:  # the app's reads end (a disconnect) and its writes go nowhere
            cycle.disconnected = True
            cycle.message_event.set()
        self._refuse(status, code, message)

    def _arm_send(self) -> None:
        self._unsent = self.transport.get_write_buffer_size()
        self._send_timer = self.loop.call_later(self.limits.send_timeout, self._send_late)

    def _disarm_send(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_late(self) -> None:
        self._send_timer = None
        if self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size() <= self._unsent - SEND_PROGRESS:
            self._arm_send()  # it reads, if slowly
            return
        self._finished = True
        self._hang_up()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        reset(self.transport)  # what is unsent goes now, the kernel's too, not when it would read

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request its parser refuses (two Content-Lengths, a bad chunk
        size, bare LF line ends): in the API's one error shape, not uvicorn's plain text."""
        self.limits.odd(self._peer, "malformed HTTP request")
        self._refuse(400, "bad_request", "malformed HTTP request: " + msg.rstrip("."))

    def _unsupported_upgrade_warning(self) -> None:
        """uvicorn's warning for an `Upgrade` other than to a WebSocket (the request is then
        answered as it is): counted, not a log line per request."""
        self.limits.odd(self._peer, "an Upgrade not served (the request answered as it is)")

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._finished = True
        self._disarm()
        self._disarm_body()
        self.transport.write(error_answer(status, code, message))
        self.transport.close()


def guarded_protocol(limits: DoorLimits) -> type[GuardedHttpTools]:
    """The protocol class to give uvicorn (`Config(http=...)`) for these limits."""
    return type("GuardedHttpTools", (GuardedHttpTools,), {"limits": limits})
