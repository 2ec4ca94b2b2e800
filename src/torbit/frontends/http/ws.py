"""The live WebSocket at /api/v1/ws: one JSON object per text frame, both ways.

    client: {"type": "auth", "token": ...}         only if no token came with the handshake
            {"type": "subscribe", "room": ...}     recent history first, then live messages
            {"type": "unsubscribe", "room": ...}
            {"type": "leave", "room": ..., "reason": ...}   end the membership ("reason"
                                                   optional); this socket is told "you
                                                   left #room", the user's others "(on
                                                   another connection)"
            {"type": "send", "room": ..., "text": ...}   "kind": "action" makes it a /me
            {"type": "private", "to": ..., "text": ...}
            {"type": "away", "text": ... | null}   mark yourself away (null or "": back)
            {"type": "ping"}
    server: {"type": "message", "message": {...}}  the REST API's message shape
            {"type": "notice", "text": ..., "room": ... | null}   plus "kind", "user",
                                                   "by", "detail" for one that says what
                                                   happened (kick and ban: "detail" is the
                                                   reason; topic: the new topic; "restart":
                                                   the node is leaving, then a 1012 close)
            {"type": "away", "user": ..., "away": ... | null, "text": ...}   someone sharing
                                                   a room, or you from any session, marked
                                                   away (null: back)
            {"type": "error", "code": ..., "message": ...}   (plus "ref" if the frame had one)
            {"type": "sent", "ref": ..., "id": ...}  a send or private frame with a "ref" is
                                                   stored (the page then clears its composer)
            {"type": "pong"} / {"type": "ping"}    a ping after PING_INTERVAL of silence

Flow control, pings and the close of a socket whose credentials are revoked or expire:
ws_session.py.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import asyncio
import contextlib
import json
import logging
import math
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from torbit.core.away import Away
from torbit.core.delivery import Notice, NoticeKind
from torbit.core.limits import NO_BUDGET, ByteBudget
from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.models import Message, MessageKind
from torbit.core.names import check_name
from torbit.core.sessions import Sessions
from torbit.core.subscriptions import Subscriptions
from torbit.errors import AuthenticationFailed, InvalidInput, ServiceUnavailable, TorbitError
from torbit.frontends.flow import FlushQueue, bound_unread, reset, tune_socket
from torbit.frontends.http.auth import Authenticator, Principal, client_address
from torbit.frontends.http.ws_session import (
    DOOR,
    RAW_SEND,
    REVOKED,
    Expiries,
    Pinger,
    WsSession,
    error_frame,
    transport_of,
)
from torbit.metrics import Metrics

log = logging.getLogger("torbit.http.ws")

AUTH_TIMEOUT = 10.0
SERVICE_RESTART = 1012  # close code: the node is leaving, reconnect (to another one)
RESTART = "restart"  # the notice's "kind" before that close: a client that reconnects by itself
FRAME_COST = 1024  # bytes of the input budget a frame costs at least: a ping is work too
CLOSE_GRACE = 5.0  # how long a dropped client gets to take its close frame before we cut it
PONG = json.dumps({"type": "pong"})


class KeepRawSend:
    """Pure ASGI middleware: remember the server's own `send` of a WebSocket connection, so a
    dropped client whose socket will not take even a close frame can be cut (see `_abort`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


def _abort(websocket: WebSocket) -> None:
    """Best effort: abort uvicorn's transport, with a reset, so the kernel lets go of what it
    still queued for the client too (flow.reset). Under another server the connection is left
    to its own timeouts."""
    transport = transport_of(websocket)
    if transport is not None:
        reset(transport)


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


def _wire_size(text: str) -> int:
    """A text frame's UTF-8 bytes, what it took on the wire: counted in characters, a frame of
    4-byte characters cost a quarter of what it was (`isascii` is a flag, no scan)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _json(raw: str | None) -> dict[str, Any] | None:
    """The JSON object in a text frame, or None. Python's parser also takes NaN, Infinity
    and numbers too big for a float (1e999): not JSON, and a "ref" holding one came back
    in the answer as a frame no browser could parse."""
    if raw is None:
        return None
    try:
        frame = json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError):
        return None
    return frame if isinstance(frame, dict) else None


def _not_json(text: str) -> float:
    raise ValueError(f"{text} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


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
        send_buffer: int = 0,
        receive_buffer: int = 0,
        input_budget: ByteBudget = NO_BUDGET,
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
        # SO_SNDBUF and SO_RCVBUF once upgraded (http.ws_send_buffer, ws_receive_buffer)
        self._buffers = (send_buffer, receive_buffer)
        self._budget = input_budget  # limits.input_rate, as the line doors' (`_paced`)
        self._held = metrics.input_held_on(DOOR)
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
        transport = None
        try:
            await websocket.accept()
            transport = transport_of(websocket)
            if transport is not None:
                send, receive = self._buffers
                tune_socket(transport, nodelay=True, send_buffer=send, receive_buffer=receive)
                # live, a client that stops reading is the door's to drop, with its reason
                # (ws_inbound.py); the kernel's bound is back for our close (flow.py)
                bound_unread(transport, 0)
            if self._draining:
                await self._close(websocket, SERVICE_RESTART, self._draining)
                return
            await self._serve(websocket)
        finally:
            self.connected -= 1
            if transport is not None:
                bound_unread(transport)

    def drain(self, text: str) -> None:
        """The node is leaving: every client is closed with 1012 (service restart), after the
        frames already queued for it, and so is any newcomer."""
        self._draining = text
        for session in list(self.live):
            session.close_code = SERVICE_RESTART
            session.close(text, RESTART)

    async def _serve(self, websocket: WebSocket) -> None:
        # a token is read in the store by `_authenticate` (never taken from the node's cache
        # of live tokens): the login does not read it again, it counts the revocations
        # applied here from before that read (core/sessions.py)
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
            self._expiries.add(session, self._auth.expires_in(expires_at))
        if self._draining:
            session.close_code = SERVICE_RESTART
            session.close(self._draining, RESTART)
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
                return await self._auth.authorization(
                    header, client_address(websocket), remembered=False
                )
            token = websocket.query_params.get("token")
            if token:
                return await self._auth.bearer(token, remembered=False)
            async with asyncio.timeout(AUTH_TIMEOUT):
                message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            frame = _json(message.get("text"))
            if frame is None or frame.get("type") != "auth":
                raise InvalidInput('authenticate first: {"type": "auth", "token": "..."}')
            return await self._auth.bearer(_text(frame, "token"), remembered=False)
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
        tat = 0.0  # the input budget's (core/gcra.py), kept here: nothing while idle
        while not session.ended:
            if tat:
                tat = await self._paced(tat)
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                code = message.get("code", 1005)
                if self.shutting_down:
                    log.info("WebSocket client %s closed by shutdown", session.name)
                elif code not in (1000, 1001):  # no goodbye; a stuck reader ends so at a low
                    # message rate: uvicorn's keepalive ping unanswered (ws_keepalive_seconds × 2)
                    log.info(
                        "WebSocket client %s gone without closing (code %s): connection "
                        "lost or keepalive pings unanswered",
                        session.name,
                        code,
                    )
                return
            text = message.get("text")
            if self._budget.rate > 0:
                size = _wire_size(text) if text is not None else len(message.get("bytes") or b"")
                tat = self._budget.spend(tat, time.monotonic(), max(size, FRAME_COST))
            if text is None:
                session.send(error_frame("invalid_input", "send JSON in text frames"))
                continue
            await self._handle(session, text)

    async def _paced(self, tat: float) -> float:
        """Reading waits while the connection is past its input budget (the bytes of the
        frames it sent, each at least FRAME_COST): a client streaming pings was answered
        73,000 times a second, where IRC paces every command and the line doors every byte.
        Frames wait in uvicorn's queue meanwhile, then in the kernel's, and TCP pushes back.
        The TAT again (0.0: the bucket is full, nothing to keep)."""
        now = time.monotonic()
        wait = self._budget.wait(tat, now, 0)
        if wait > 0:
            self._held.inc()
            wait = max(wait, self._budget.pause)  # a few long pauses a second, not a timer a frame
            await asyncio.sleep(wait)
            now = time.monotonic()
        return tat if tat > now else 0.0

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
        elif kind == "leave":  # as by REST, but the socket that asked is known (`by`)
            reason = _text(frame, "reason") if "reason" in frame else ""
            left = await self._membership.leave(
                session.name, _text(frame, "room"), reason, by=session
            )
            where = {"room": left.key, "room_name": left.name, "user": session.name}
            session.notify(Notice(f"you left #{left.name}", NoticeKind.PART, **where), left.key)
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
