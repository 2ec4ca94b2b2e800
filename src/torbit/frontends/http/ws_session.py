"""One WebSocket client as the core sees it (`WsSession`), the frames it is sent, and the
timers shared by all of them: the fast path's pings (`Pinger`) and the close of sockets
whose token expires (`Expiries`). The endpoint that reads them is ws.py.

Flow control: the core hands each message to every session without waiting. Under uvicorn
(whose protocol keeps its asyncio transport) the frames go straight to the transport through
the stream doors' coalescing writer (frontends/flow.py): a message is framed once for all
its clients (a server's frames are unmasked and, here, uncompressed: protocol/wsframe.py),
and a client's frames of one loop turn leave in one write, with no task switch, queue or
ASGI call per frame. Elsewhere a writer task per connection drains a bounded queue of frames
through ASGI. Either way a client that falls `ws_max_queue` frames behind (on the fast path:
`ws_max_queue` × FRAME_BUDGET bytes unsent) is dropped (close code 1008), never waited for,
so one slow reader cannot hold up a room. A ping frame goes out every PING_INTERVAL on the
fast path (one timer and one frame for all its clients; a connection's only task is the one
reading it), after PING_INTERVAL of silence on the other.

Revocation: when the credentials a socket was opened with are revoked (its token logged out,
the password changed, the account deleted, on any node), the client gets a notice and the
socket is closed with code 4001 (REVOKED) and the reason. So is a socket opened with a token
once the token expires (`http.token_ttl_hours`): one timer for every such socket (`Expiries`),
set for the earliest expiry, not one per socket.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
from collections.abc import Set
from typing import Any, cast

from starlette.websockets import WebSocket

from torbit.core.banmasks import Visitor
from torbit.core.delivery import NO_IGNORES, Delivery, Names, Notice, NoticeKind
from torbit.core.names import is_inbox, name_key
from torbit.frontends.flow import FlushQueue, TransportWriter
from torbit.metrics import Metrics
from torbit.protocol.wsframe import text_frame

log = logging.getLogger("torbit.http.ws")

DOOR = "http-ws"
PING_INTERVAL = 20.0
REVOKED = 4001  # close code: the credentials this socket was opened with were revoked
RAW_SEND = "torbit.raw_send"
PING = json.dumps({"type": "ping"})
EXPIRED = "your token expired: log in again"
FRAME_BUDGET = 256  # bytes per frame of `ws_max_queue` on the fast path (a message: ~200)


def _message_frame(delivery: Delivery) -> bytes:
    return text_frame(delivery.json.encode())


def notice_frame(text: str, channel: str | None = None) -> str:
    """A notice as its event: most are {"type": "notice", "text", "room"}, and one that says
    what happened (a core `Notice` of a kind other than plain text) also has "kind" (a
    NoticeKind value: "kick", "ban", "topic", ...), "user" and "by" (display names) and
    "detail" (a kick's or ban's reason, the new topic, ...), each "" when it has none; an
    away change (core/away.py) is {"type": "away", "user", "away" (null: back), "text"}."""
    if isinstance(text, Notice) and text.kind is NoticeKind.AWAY:
        away = text.detail or None
        return json.dumps({"type": "away", "user": text.user, "away": away, "text": str(text)})
    room = None if channel is None or is_inbox(channel) else channel
    if isinstance(text, Notice) and text.kind is not NoticeKind.TEXT:
        return json.dumps(
            {
                "type": "notice",
                "text": str(text),
                "room": room,
                "kind": text.kind.value,
                "user": text.user,
                "by": text.by,
                "detail": text.detail,
            }
        )
    return json.dumps({"type": "notice", "text": text, "room": room})


def error_frame(code: str, message: str, ref: Any = None) -> str:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    return json.dumps(frame)


class WsSession:
    """One WebSocket client as the hub sees it: its frames go to the transport's coalescing
    writer (the fast path), or until `start` finds no transport, to a bounded queue.

    On the fast path the connection's handler task is its only task: it reads the client's
    frames, and the session's end (closed or dropped) interrupts that read (`reader`)."""

    def __init__(
        self,
        name: str,
        max_frames: int,
        metrics: Metrics,
        flushes: FlushQueue | None = None,
        address: str = "",
    ) -> None:
        self.name = name
        # what ban masks match (core/banmasks.py): the client's address as the HTTP door
        # takes it (http.trusted_proxies' forwarded client, else the socket's peer)
        self.visitor = Visitor(name, name.lower(), address)
        self.user_key = name_key(name)
        self.ignores: Set[str] = NO_IGNORES
        self.max_frames = max_frames
        self.dropped = False
        self.ended = False  # the fast path: closed or dropped, nothing more to read
        self.close_reason: str | None = None
        self.close_code = 1000
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(max_frames)
        self._metrics = metrics
        self._writer: asyncio.Task[None] | None = None  # the other path's writer task
        self._flushes = flushes
        self._out: TransportWriter | None = None  # the fast path, once started
        self.reader: asyncio.Task[None] | None = None  # the fast path: the task reading
        self.interrupted = False  # `_end` cancelled `reader`

    # the Session protocol: never blocks

    def deliver(self, delivery: Delivery) -> None:
        out = self._out
        if out is not None:
            out.write(delivery.encoded(_message_frame))
        else:
            self.send(delivery.json)

    def notify(self, text: str, channel: str | None = None, about: Names = ()) -> None:
        self.send(notice_frame(text, channel))

    def close(self, reason: str, kind: str = "") -> None:
        """Tell `reason` (a notice, with "kind" if given), then close after what is queued."""
        if kind:
            self.send(json.dumps({"type": "notice", "text": reason, "room": None, "kind": kind}))
        else:
            self.notify(reason)
        self.close_reason = reason
        self.send(None)

    def revoke(self, reason: str) -> None:
        self.close_code = REVOKED
        self.close(reason)

    def send(self, frame: str | None) -> None:
        if self.dropped:
            return
        out = self._out
        if out is not None:
            if frame is None:
                self._end()
            else:
                out.write(text_frame(frame.encode()))
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._drop()

    @property
    def fast(self) -> bool:
        """On the fast path (straight to the transport)."""
        return self._out is not None

    def write(self, frame: bytes) -> None:
        """A frame made for many (the pinger's) on the fast path."""
        if self._out is not None and not self.dropped:
            self._out.write(frame)

    def flush(self) -> None:
        """Hand what is pending to the transport (before the close frame)."""
        if self._out is not None:
            self._out.flush()

    def _drop(self) -> None:
        self.dropped = True
        log.warning(
            "dropping WebSocket client %s: %d frames queued unread", self.name, self.max_frames
        )
        self._metrics.dropped_clients.labels(door=DOOR).inc()
        if self._out is not None:
            self._end()
        elif self._writer is not None:
            self._writer.cancel()

    def _end(self) -> None:
        """The fast path is over (closed or dropped): stop its handler's read. Only a read
        waiting elsewhere is cancelled (a cancel then lands on the `await` it waits at); the
        handler ending itself, in its own frame's handling, sees `ended` when that returns."""
        if self.ended:
            return
        self.ended = True
        reader = self.reader
        if reader is not None and reader is not asyncio.current_task() and not reader.done():
            self.interrupted = True
            reader.cancel()

    # the writer

    def start(self, websocket: WebSocket) -> asyncio.Task[None] | None:
        """The writer task, or None on the fast path (no task: the caller reads until `ended`
        and the endpoint's `Pinger` keeps the connection alive)."""
        transport = transport_of(websocket)
        if transport is None or self._flushes is None:
            self._writer = asyncio.create_task(self._write(websocket))
            return self._writer
        out = TransportWriter(
            transport, self.max_frames * FRAME_BUDGET, self._flushes, self._drop, abort=False
        )
        self._out = out
        protocol = _protocol_of(websocket)  # ws_inbound's: cut, our stream ends (`write_eof`)
        if getattr(protocol, "cut", False):
            out.lost()
        elif hasattr(protocol, "on_cut"):
            protocol.on_cut = out.lost
        while not self._queue.empty():  # what came before the start, in order
            frame = self._queue.get_nowait()
            if frame is None:
                self._end()
            else:
                out.write(text_frame(frame.encode()))
        return None

    async def _write(self, websocket: WebSocket) -> None:
        queue = self._queue
        while True:
            if queue.empty():
                try:
                    async with asyncio.timeout(PING_INTERVAL):
                        frame = await queue.get()
                except TimeoutError:
                    frame = PING
            else:
                frame = queue.get_nowait()
            if frame is None:
                return
            await websocket.send_text(frame)


class Pinger:
    """The fast path's keep-alive: one timer for all its sessions, which every PING_INTERVAL
    writes one ping frame, framed once, to each (no task or timer per connection). Runs
    while it has sessions."""

    def __init__(self) -> None:
        self.sessions: set[WsSession] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.frame = text_frame(PING.encode())

    def add(self, session: WsSession) -> None:
        self.sessions.add(session)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(PING_INTERVAL, self._ping)

    def discard(self, session: WsSession) -> None:
        self.sessions.discard(session)
        if not self.sessions and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _ping(self) -> None:
        for session in self.sessions:
            session.write(self.frame)
        self._timer = asyncio.get_running_loop().call_later(PING_INTERVAL, self._ping)


class Expiries:
    """Closes each socket opened with a token when the token expires (4001, EXPIRED): one
    timer for them all, set for the earliest expiry; a socket that ends first is forgotten
    (the heap is rebuilt once more than half of it is forgotten sockets')."""

    def __init__(self) -> None:
        self._deadline: dict[WsSession, float] = {}  # loop time the session's token expires
        self._heap: list[tuple[float, int, WsSession]] = []
        self._order = itertools.count()  # ties: no comparing of sessions
        self._timer: asyncio.TimerHandle | None = None

    def add(self, session: WsSession, left: float) -> None:
        """Close the session once its token expires, `left` seconds from now (by the
        store's time: `Authenticator.expires_in`)."""
        at = asyncio.get_running_loop().time() + left
        self._deadline[session] = at
        heapq.heappush(self._heap, (at, next(self._order), session))
        self._arm()

    def discard(self, session: WsSession) -> None:
        if self._deadline.pop(session, None) is None:
            return
        if len(self._heap) > 2 * len(self._deadline) + 16:
            self._heap = [e for e in self._heap if self._deadline.get(e[2]) == e[0]]
            heapq.heapify(self._heap)
        if not self._deadline and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        heap = self._heap
        while heap and self._deadline.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)  # a forgotten socket's
        if self._timer is not None:
            if heap and self._timer.when() <= heap[0][0]:
                return
            self._timer.cancel()
            self._timer = None
        if heap:
            self._timer = asyncio.get_running_loop().call_at(heap[0][0], self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, session = heapq.heappop(heap)
            if self._deadline.get(session) == at:
                del self._deadline[session]
                session.revoke(EXPIRED)
        self._arm()


def transport_of(websocket: WebSocket) -> asyncio.Transport | None:
    """uvicorn's WebSocket protocols keep their asyncio transport; other servers: None.
    Checked by what it does: uvloop's transports are not asyncio.Transport subclasses."""
    transport = getattr(_protocol_of(websocket), "transport", None)
    needed = ("write", "abort", "is_closing", "get_write_buffer_size")
    if transport is None or not all(callable(getattr(transport, m, None)) for m in needed):
        return None
    return cast(asyncio.Transport, transport)


def _protocol_of(websocket: WebSocket) -> Any:
    """uvicorn's protocol of the connection (KeepRawSend kept its `send`), or None."""
    return getattr(websocket.scope.get(RAW_SEND), "__self__", None)
