"""uvicorn's WebSocket protocol with a bound on the messages a client sent and the app has
not read yet.

uvicorn (sans-I/O implementation) parses every frame of a received chunk at once and queues
each message for the app, pausing the socket only afterwards; with permessage-deflate a
256 KB chunk can hold thousands of messages each inflating to `http.max_body_bytes`, all
held in memory until the handler reads them (its `ws_max_queue` is not used there). Here
the chunk is fed to the parser a slice at a time, and a client whose unread messages pass
the bound is closed (1008), as a client that does not read its output is.

A handshake websockets refuses (a bad Sec-WebSocket-Key or version, a method other than GET)
is answered in the API's one error shape (errors.py), not the library's plain text.

A ping is answered with a pong written straight to the socket, outside the door's bounded
writer, and queues no message, so reading never pauses for it: a client sending pings and
reading nothing had every pong kept (21 MB after 26 MB of pings). A client whose unsent
output passes `unsent_max` is cut off as the pong that passes it is written, or as it sends
more (the door's writer drops a slow reader well before that bound, so only such output
reaches it; checked only as input came, a client that went quiet, its own writes stuck,
kept its pongs until the keepalive's 40 s, 110 s seen): nothing it sends is
parsed any more (it is read and dropped: a socket closed with unread input sends a reset,
which throws away what the client was still to read), a close frame (1008, "not reading
its output") goes behind what is unsent, then our end of the stream (`write_eof`), and the
socket is aborted CUT_GRACE seconds later if the client has not closed it by then. A
client that reads late learns why (it saw 1006 before); one that never reads holds nothing
more than before. A client that fails the keepalive (no pong in `http.ws_keepalive_seconds`)
is aborted so too, once its close frame has waited CUT_GRACE behind unread output.

A text message that is not UTF-8 is closed with 1007 by uvicorn, which also logged an
ERROR with a traceback for each: any client could write one a connection, no account
needed (a socket is accepted before its auth frame; 136 in 8 s from one address). It is
counted in the door's summary of odd requests instead (guard.py, tally.py)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, ClassVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.http11 import Response

from torbit.frontends.http.errors import error_body, status_code
from torbit.frontends.tally import Tally

# Bytes fed to the parser at a time: deflate inflates at most ~1030x, so one slice
# completes at most a few messages of the size bound.
SLICE = 256
TOO_MANY_UNREAD = "too many unread messages"
NOT_READING = "not reading its output"
CUT_GRACE = 5.0  # seconds a cut client's output may still drain, its close frame last
# uvicorn's error for a text message that is not UTF-8 (it closes the socket with 1007)
NOT_UTF8 = "Invalid UTF-8 sequence received from client."


def json_refusal(status: int | HTTPStatus, text: str) -> Response:
    """websockets' `reject` in the API's error shape: its text's first line as the message
    (it was `Failed to open a WebSocket connection: invalid Sec-WebSocket-Key header: ...`
    in plain text). Headers it adds after (Allow, Upgrade) stay."""
    status = HTTPStatus(status)
    message = text.strip().split("\n", 1)[0] or status.phrase
    body = error_body(status_code(status), message)
    headers = Headers(
        [
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "application/json"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


class _ClientsErrorsCounted(logging.LoggerAdapter[logging.Logger]):
    """uvicorn's logger for one WebSocket, without the error its client can cause at will
    (NOT_UTF8: counted in `odd` instead); the app's faults are logged as they were."""

    def __init__(self, logger: logging.Logger, counted: Callable[[str], None]) -> None:
        super().__init__(logger)
        self._counted = counted

    @property
    def level(self) -> int:  # uvicorn reads it before each trace line
        return self.logger.level

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if msg == NOT_UTF8:
            self._counted("a WebSocket text message that is not UTF-8 (closed with 1007)")
        else:
            super().exception(msg, *args, **kwargs)


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    """At most `unread_bound()` bytes of messages waiting for the app (plus what one slice
    completes); past it the socket is closed with 1008 and the rest is dropped. At most
    `unsent_max` bytes unsent (plus one pong) before the client is cut off. A text message
    that is not UTF-8 is counted in `odd`, not logged (module docstring)."""

    unsent_max = 1 << 20  # see `bounded_protocol`
    odd: ClassVar[Tally | None] = None  # the door's odd requests (see `bounded_protocol`)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _ClientsErrorsCounted(self.logger, self._count_odd)  # type: ignore[assignment]
        self._sizes: deque[int] = deque()  # each queued message's size, oldest first
        self.unread_bytes = 0
        self.unread_peak = 0  # the most that waited at once (tests read it)
        self.cut = False  # cut off for not reading its output: its input is dropped
        # set by the door's session (ws_session.py): its writer writes no more once cut
        self.on_cut: Callable[[], None] | None = None
        self.conn.reject = json_refusal  # type: ignore[method-assign]

    def _count_odd(self, why: str) -> None:
        if self.odd is not None:
            self.odd.count(self.client[0] if self.client else "?", why)

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_cut = None  # the session is freed with its door's handler, not held here
        super().connection_lost(exc)

    def unread_bound(self) -> int:
        """Two messages of the largest size: a client sending in bursts is not cut."""
        return 2 * int(self.config.ws_max_size)

    def data_received(self, data: bytes) -> None:
        if self.cut or self._backed_up():
            return  # read and dropped (`_cut_off`)
        if len(data) <= SLICE:
            super().data_received(data)
            return
        view = memoryview(data)
        for start in range(0, len(data), SLICE):
            if self.cut or self.transport.is_closing():
                return
            if self.unread_bytes > self.unread_bound():
                self._refuse()
                return
            super().data_received(bytes(view[start : start + SLICE]))

    def handle_ping(self) -> None:
        """The pong is checked against the bound as it is written: checked only when more
        input came, the last pongs could leave the output past the bound, with nothing
        more read (a client whose own writes are stuck) until the keepalive's 40 s."""
        if self.cut:
            self.conn.data_to_send()  # no pong behind our end of the stream
            return
        super().handle_ping()
        self._backed_up()

    def keepalive_timeout(self) -> None:
        """uvicorn sends its close frame and closes the transport, which waits for the
        unsent output first: a client that reads nothing (its pongs, say, under the cut's
        bound) kept the connection, its session and that output for good, and the handler
        went on waiting. As a cut client, it is aborted CUT_GRACE seconds later unless it
        closes meanwhile (`connection_lost` cancels the timer)."""
        super().keepalive_timeout()
        if self.close_sent and self.close_timer is None:
            self.close_timer = asyncio.get_running_loop().call_later(
                CUT_GRACE, self.transport.abort
            )

    def _backed_up(self) -> bool:
        """The unsent output is past the bound: cut off (`_cut_off`)."""
        if self.transport.get_write_buffer_size() <= self.unsent_max:
            return False
        self._cut_off()
        return True

    def _cut_off(self) -> None:
        """Told why in a close frame behind the unsent output and our end of the stream,
        its input dropped, and aborted if it has not closed within CUT_GRACE (module
        docstring)."""
        self.cut = True
        if self.on_cut is not None:  # a write after `write_eof` raises, in a shared flush
            self.on_cut()
            self.on_cut = None
        if self.close_sent or self.transport.is_closing():
            self.transport.abort()
            return
        self.conn.send_close(1008, NOT_READING)
        self.queue.put_nowait({"type": "websocket.disconnect", "code": 1008, "reason": NOT_READING})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        # uvicorn's own close timer: its handler's end then leaves the socket open (a close
        # would stop reading), and the client's closing, or the timer, ends it
        self.close_timer = asyncio.get_running_loop().call_later(CUT_GRACE, self.transport.abort)

    def send_receive_event_to_app(self) -> None:
        size = sum(len(frame) for frame in self.frames)
        before = self.queue.qsize()
        super().send_receive_event_to_app()
        if self.queue.qsize() > before:
            self._sizes.append(size)
            self.unread_bytes += size
            self.unread_peak = max(self.unread_peak, self.unread_bytes)

    async def receive(self) -> Any:
        message = await super().receive()
        if message["type"] == "websocket.receive" and self._sizes:
            self.unread_bytes -= self._sizes.popleft()
        return message

    def _refuse(self) -> None:
        self._close(1008, TOO_MANY_UNREAD)

    def _close(self, code: int, reason: str) -> None:
        """Close as uvicorn does on a parser error: the app is told by a disconnect."""
        if self.close_sent or self.transport.is_closing():
            return
        self.conn.send_close(code, reason)
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()


def bounded_protocol(unsent_max: int, odd: Tally | None = None) -> type[BoundedWebSocketProtocol]:
    """The protocol with `unsent_max` set: the HTTP door's writer bound (frames x budget),
    times four for a flush's worth past it; `odd`: the door's summary of odd requests
    (`HttpDoor.odd`), where a client's text message that is not UTF-8 is counted."""
    return type(
        "BoundedWebSocketProtocol",
        (BoundedWebSocketProtocol,),
        {"unsent_max": unsent_max, "odd": odd},
    )
