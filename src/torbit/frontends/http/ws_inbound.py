"""uvicorn's WebSocket protocol with a bound on the messages a client sent and the app has
not read yet.

uvicorn (sans-I/O implementation) parses every frame of a received chunk at once and queues
each message for the app, pausing the socket only afterwards; with permessage-deflate a
256 KB chunk can hold thousands of messages each inflating to `http.max_body_bytes`, all
held in memory until the handler reads them (its `ws_max_queue` is not used there). Here
the chunk is fed to the parser a slice at a time, and a client whose unread messages pass
the bound is closed (1008), as a client that does not read its output is.

A ping is answered with a pong written straight to the socket, outside the door's bounded
writer, and queues no message, so reading never pauses for it: a client sending pings and
reading nothing had every pong kept (21 MB after 26 MB of pings). A client whose unsent
output passes `unsent_max` while it keeps sending is cut off (the door's writer drops a
slow reader well before that bound, so only such output reaches it)."""

from __future__ import annotations

from collections import deque
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

# Bytes fed to the parser at a time: deflate inflates at most ~1030x, so one slice
# completes at most a few messages of the size bound.
SLICE = 256
TOO_MANY_UNREAD = "too many unread messages"


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    """At most `unread_bound()` bytes of messages waiting for the app (plus what one slice
    completes); past it the socket is closed with 1008 and the rest is dropped. At most
    `unsent_max` bytes unsent to a client that keeps sending (plus one slice's pongs)."""

    unsent_max = 1 << 20  # see `bounded_protocol`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sizes: deque[int] = deque()  # each queued message's size, oldest first
        self.unread_bytes = 0
        self.unread_peak = 0  # the most that waited at once (tests read it)

    def unread_bound(self) -> int:
        """Two messages of the largest size: a client sending in bursts is not cut."""
        return 2 * int(self.config.ws_max_size)

    def data_received(self, data: bytes) -> None:
        if len(data) <= SLICE:
            if not self._backed_up():
                super().data_received(data)
            return
        view = memoryview(data)
        for start in range(0, len(data), SLICE):
            if self.transport.is_closing() or self._backed_up():
                return
            if self.unread_bytes > self.unread_bound():
                self._refuse()
                return
            super().data_received(bytes(view[start : start + SLICE]))

    def _backed_up(self) -> bool:
        """The client sends while its unsent output is past the bound: it is cut off (no
        close frame: it would wait behind what the client does not read)."""
        if self.transport.get_write_buffer_size() <= self.unsent_max:
            return False
        self.transport.abort()  # connection_lost tells the app (1006)
        return True

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
        """Close as uvicorn does on a parser error: the app is told by a disconnect."""
        if self.close_sent or self.transport.is_closing():
            return
        self.conn.send_close(1008, TOO_MANY_UNREAD)
        self.queue.put_nowait(
            {"type": "websocket.disconnect", "code": 1008, "reason": TOO_MANY_UNREAD}
        )
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()


def bounded_protocol(unsent_max: int) -> type[BoundedWebSocketProtocol]:
    """The protocol with `unsent_max` set: the HTTP door's writer bound (frames x budget),
    times four for a flush's worth past it."""
    return type("BoundedWebSocketProtocol", (BoundedWebSocketProtocol,), {"unsent_max": unsent_max})
