"""The live WebSocket at /api/v1/ws: one JSON object per text frame, both ways.

    client: {"type": "auth", "token": ...}         only if no token came with the handshake
            {"type": "subscribe", "room": ...}     recent history first, then live messages
            {"type": "unsubscribe", "room": ...}
            {"type": "send", "room": ..., "text": ...}   "kind": "action" makes it a /me
            {"type": "private", "to": ..., "text": ...}
            {"type": "away", "text": ... | null}   mark yourself away (null or "": back)
            {"type": "ping"}
    server: {"type": "message", "message": {...}}  the REST API's message shape
            {"type": "notice", "text": ..., "room": ... | null}   plus "kind", "user",
                                                   "by", "detail" for one that says what
                                                   happened (kick and ban: "detail" is the
                                                   reason; topic: the new topic)
            {"type": "away", "user": ..., "away": ... | null, "text": ...}   someone sharing
                                                   a room, or you from any session, marked
                                                   away (null: back)
            {"type": "error", "code": ..., "message": ...}   (plus "ref" if the frame had one)
            {"type": "sent", "ref": ..., "id": ...}  a send or private frame with a "ref" is
                                                   stored (the page then clears its composer)
            {"type": "pong"} / {"type": "ping"}    a ping after PING_INTERVAL of silence

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

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
from collections.abc import Set
from datetime import UTC, datetime
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from torbit.core.away import Away
from torbit.core.banmasks import Visitor
from torbit.core.delivery import NO_IGNORES, Delivery, Names, Notice, NoticeKind
from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.models import Message, MessageKind
from torbit.core.names import check_name, is_inbox, name_key
from torbit.core.sessions import Sessions
from torbit.core.subscriptions import Subscriptions
from torbit.errors import AuthenticationFailed, InvalidInput, ServiceUnavailable, TorbitError
from torbit.frontends.flow import FlushQueue, TransportWriter
from torbit.frontends.http.auth import Authenticator, Principal, client_address
from torbit.metrics import Metrics
from torbit.protocol.wsframe import text_frame

log = logging.getLogger("torbit.http.ws")

DOOR = "http-ws"
PING_INTERVAL = 20.0
AUTH_TIMEOUT = 10.0
SERVICE_RESTART = 1012  # close code: the node is leaving, reconnect (to another one)
REVOKED = 4001  # close code: the credentials this socket was opened with were revoked
CLOSE_GRACE = 5.0  # how long a dropped client gets to take its close frame before we cut it
RAW_SEND = "torbit.raw_send"
PING = json.dumps({"type": "ping"})
PONG = json.dumps({"type": "pong"})
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

    def close(self, reason: str) -> None:
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
        transport = _transport(websocket)
        if transport is None or self._flushes is None:
            self._writer = asyncio.create_task(self._write(websocket))
            return self._writer
        out = TransportWriter(
            transport, self.max_frames * FRAME_BUDGET, self._flushes, self._drop, abort=False
        )
        self._out = out
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

    def add(self, session: WsSession, expires_at: datetime) -> None:
        loop = asyncio.get_running_loop()
        at = loop.time() + (expires_at - datetime.now(UTC)).total_seconds()
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


class KeepRawSend:
    """Pure ASGI middleware: remember the server's own `send` of a WebSocket connection, so a
    dropped client whose socket will not take even a close frame can be cut (see `_abort`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


def _transport(websocket: WebSocket) -> asyncio.Transport | None:
    """uvicorn's WebSocket protocols keep their asyncio transport; other servers: None.
    Checked by what it does: uvloop's transports are not asyncio.Transport subclasses."""
    protocol = getattr(websocket.scope.get(RAW_SEND), "__self__", None)
    transport = getattr(protocol, "transport", None)
    needed = ("write", "abort", "is_closing", "get_write_buffer_size")
    if transport is None or not all(callable(getattr(transport, m, None)) for m in needed):
        return None
    return cast(asyncio.Transport, transport)


def _abort(websocket: WebSocket) -> None:
    """Best effort: abort uvicorn's transport. Under another server the connection is left to
    its own timeouts."""
    transport = _transport(websocket)
    if transport is not None:
        transport.abort()


def _message_kind(frame: dict[str, Any]) -> MessageKind:
    """A send frame's "kind": "text" (the default) or "action" (a /me)."""
    kind = frame.get("kind", "text")
    if kind not in (MessageKind.TEXT, MessageKind.ACTION):
        raise InvalidInput('frame field \'kind\' must be "text" or "action"')
    return MessageKind(kind)


def _text(frame: dict[str, Any], key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise InvalidInput(f"frame field {key!r} must be a string")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidInput(f"frame field {key!r} must be valid Unicode") from None
    return value


def _json(raw: str | None) -> dict[str, Any] | None:
    """The JSON object in a text frame, or None."""
    if raw is None:
        return None
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return frame if isinstance(frame, dict) else None


class LiveEndpoint:
    """Authenticates a WebSocket, connects it to the chat core and shuttles frames."""

    def __init__(
        self,
        sessions: Sessions,
        membership: Membership,
        messaging: Messaging,
        subscriptions: Subscriptions,
        away: Away,
        auth: Authenticator,
        metrics: Metrics,
        max_frames: int,
        flush_window: float = 0.0,
    ) -> None:
        self.shutting_down = False  # set by the server's own shutdown: closes are ours
        self._sessions = sessions
        self._membership = membership
        self._messaging = messaging
        self._subs = subscriptions
        self._away = away
        self._auth = auth
        self._metrics = metrics
        self._max_frames = max_frames
        self._sent = metrics.messages_in.labels(door=DOOR)
        # the fast path's writers with output this loop turn (or held: flow.FlushQueue)
        self._flushes = FlushQueue(flush_window)
        self._pinger = Pinger()  # the fast path's keep-alive
        self._expiries = Expiries()  # sockets opened with a token: closed when it expires
        self.live: set[WsSession] = set()
        self.connected = 0  # WebSockets open (logged in or not), until their close is sent
        self._draining = ""

    async def __call__(self, websocket: WebSocket) -> None:
        # Counted per address by the connection guard (guard.py), from the TCP connection
        # until it closes; its handshake's Origin was checked by origins.py.
        self.connected += 1
        try:
            await websocket.accept()
            if self._draining:
                await self._close(websocket, SERVICE_RESTART, self._draining)
                return
            await self._serve(websocket)
        finally:
            self.connected -= 1

    def drain(self, text: str) -> None:
        """The node is leaving: every client is closed with 1012 (service restart), after the
        frames already queued for it, and so is any newcomer."""
        self._draining = text
        for session in list(self.live):
            session.close_code = SERVICE_RESTART
            session.close(text)

    async def _serve(self, websocket: WebSocket) -> None:
        # a token is read in the store by `_authenticate`: the login does not read it again,
        # it counts the revocations applied here from before that read (core/sessions.py)
        revocations = self._sessions.revocations
        principal = await self._authenticate(websocket)
        if principal is None:
            return
        session = WsSession(
            principal.name,
            self._max_frames,
            self._metrics,
            self._flushes,
            client_address(websocket),
        )
        try:
            token = principal.token
            expires_at = await self._auth.token_expiry(token) if token else None
            peer = websocket.client
            origin = f"websocket {peer.host}:{peer.port}" if peer else "websocket"
            await self._sessions.login(
                session, principal.name, principal.proof, origin, checked_after=revocations
            )
        except ServiceUnavailable as e:  # told, and let go: a client retries after a 1013
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await websocket.send_text(error_frame(e.code, e.message))
            await self._close(websocket, 1013, "try again later")
            return
        except AuthenticationFailed as e:  # revoked while logging in
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await websocket.send_text(error_frame(e.code, e.message))
            await self._close(websocket, REVOKED, e.message)
            return
        gauge = self._metrics.connected.labels(door=DOOR)
        gauge.inc()
        tasks: list[asyncio.Task[None]] = []
        self.live.add(session)
        if expires_at is not None:
            self._expiries.add(session, expires_at)
        if self._draining:
            session.close_code = SERVICE_RESTART
            session.close(self._draining)
        failure: Exception | None = None
        try:
            session.notify(f"logged in as {principal.name}")
            writer = session.start(websocket)
            if writer is None:  # the fast path: this task reads, until the client or `ended`
                self._pinger.add(session)
                try:
                    await self._read_until_ended(websocket, session)
                except WebSocketDisconnect:
                    pass
                except Exception as e:
                    failure = e
            else:
                tasks = [writer, asyncio.create_task(self._read(websocket, session))]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._pinger.discard(session)
            self._expiries.discard(session)
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            self.live.discard(session)
            gauge.dec()
            await self._sessions.logout(session)
            session.flush()
        failures = [
            e
            for e in (failure, *outcomes)
            if isinstance(e, Exception) and not isinstance(e, WebSocketDisconnect)
        ]
        if failures:
            log.error("WebSocket of %s failed", session.name, exc_info=failures[0])
            await self._close(websocket, 1011, "internal error")
        elif session.dropped:
            await self._close(websocket, 1008, "too slow: output queue full")
            # the close frame may sit behind unread bytes, where the server's own close
            # waits for them forever: cut the connection once the client had its grace
            asyncio.get_running_loop().call_later(CLOSE_GRACE, _abort, websocket)
        else:
            await self._close(websocket, session.close_code, session.close_reason or "")

    async def _close(self, websocket: WebSocket, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(CLOSE_GRACE):
                await websocket.close(code, reason)
        except TimeoutError:
            _abort(websocket)
        except (RuntimeError, OSError, WebSocketDisconnect):
            pass  # already closed by the client

    async def _authenticate(self, websocket: WebSocket) -> Principal | None:
        try:
            header = websocket.headers.get("authorization")
            if header:
                return await self._auth.authorization(header, client_address(websocket))
            token = websocket.query_params.get("token")
            if token:
                return await self._auth.bearer(token)
            async with asyncio.timeout(AUTH_TIMEOUT):
                message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            frame = _json(message.get("text"))
            if frame is None or frame.get("type") != "auth":
                raise InvalidInput('authenticate first: {"type": "auth", "token": "..."}')
            return await self._auth.bearer(_text(frame, "token"))
        except WebSocketDisconnect:
            return None
        except (TorbitError, TimeoutError) as e:
            code, why = (
                (e.code, e.message)
                if isinstance(e, TorbitError)
                else ("unauthenticated", "authentication timed out")
            )
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await websocket.send_text(error_frame(code, why))
            await self._close(websocket, 1008, "authentication failed")
            return None

    async def _read_until_ended(self, websocket: WebSocket, session: WsSession) -> None:
        """`_read` in the connection's own task, until the session's end interrupts it."""
        task = asyncio.current_task()
        session.reader = task
        try:
            if not session.ended:
                await self._read(websocket, session)
        except asyncio.CancelledError:
            # ours (the session ended) unless someone else cancelled the task as well
            if not session.interrupted or task is None or task.uncancel() > 0:
                raise
        finally:
            session.reader = None

    async def _read(self, websocket: WebSocket, session: WsSession) -> None:
        while not session.ended:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                code = message.get("code", 1005)
                if self.shutting_down:
                    log.info("WebSocket client %s closed by shutdown", session.name)
                elif code not in (1000, 1001):  # no goodbye; a stuck reader ends so at a low
                    # message rate: uvicorn's keepalive pings go unanswered (20 s + 20 s)
                    log.info(
                        "WebSocket client %s gone without closing (code %s): connection "
                        "lost or keepalive pings unanswered",
                        session.name,
                        code,
                    )
                return
            text = message.get("text")
            if text is None:
                session.send(error_frame("invalid_input", "send JSON in text frames"))
                continue
            await self._handle(session, text)

    async def _handle(self, session: WsSession, raw: str) -> None:
        frame = _json(raw)
        if frame is None:
            session.send(error_frame("invalid_input", "a frame must be a JSON object"))
            return
        ref = frame.get("ref")
        try:
            stored = await self._dispatch(session, frame)
        except TorbitError as e:
            session.send(error_frame(e.code, e.message, ref))
            return
        if stored is not None and ref is not None:
            session.send(json.dumps({"type": "sent", "ref": ref, "id": stored.id}))

    def _subscribed(self, session: WsSession, room_key: str) -> bool:
        return self._subs.is_listening(session, room_key)

    async def _dispatch(self, session: WsSession, frame: dict[str, Any]) -> Message | None:
        """The message stored, for a send or private frame."""
        kind = frame.get("type")
        if kind == "ping":
            session.send(PONG)
        elif kind == "subscribe":
            room = _text(frame, "room")
            key = check_name(room, "room name")
            if self._subscribed(session, key):
                session.notify(f"already subscribed to #{room}", key)
            else:  # "key": the room's join key, if it has one
                join_key = frame.get("key")
                join_key = join_key[:64] if isinstance(join_key, str) else ""
                await self._membership.join(session, room, join_key)
        elif kind == "unsubscribe":
            key = check_name(_text(frame, "room"), "room name")
            if not self._subscribed(session, key):
                raise InvalidInput(f"not subscribed to #{key}")
            await self._membership.stop_listening(session, key)
        elif kind == "send":
            m = await self._messaging.send(
                session.name,
                _text(frame, "room"),
                _text(frame, "text"),
                _message_kind(frame),
                visitor=session.visitor,
            )
            self._sent.inc()
            return m
        elif kind == "private":
            m = await self._messaging.send_private(
                session.name, _text(frame, "to"), _text(frame, "text")
            )
            self._sent.inc()
            return m
        elif kind == "away":  # the answer is the away frame every own session gets
            text = None if frame.get("text") is None else _text(frame, "text")
            await self._away.set(session.user_key, text)
        elif kind == "auth":
            raise InvalidInput("already authenticated")
        else:
            raise InvalidInput(f"unknown frame type {str(kind)[:40]!r}")
        return None
