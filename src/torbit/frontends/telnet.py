"""Telnet front door: an asyncio Protocol that shuttles bytes between the socket, the sans-IO
telnet codec and the core. Reading pauses while a client's earlier lines are still being
handled; writing is bounded: a client that stops reading is dropped, never waited for."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from torbit.core.format import format_error, format_system
from torbit.core.hub import Delivery
from torbit.core.models import Room
from torbit.core.names import is_valid_name
from torbit.errors import (
    AuthenticationFailed,
    Conflict,
    RateLimited,
    ServiceUnavailable,
    TorbitError,
)
from torbit.frontends.telnet_commands import run_command
from torbit.protocol.telnet import Interrupt, LineReceived, LineTooLong, TelnetConnection

if TYPE_CHECKING:
    import socket
    import ssl

    from torbit.app import Services

log = logging.getLogger("torbit.telnet")

GREETING = "torbit chat server. Log in with your name, or pick a new one to register.\r\n"
MAX_LOGIN_ATTEMPTS = 3
MAX_PENDING_LINES = 64  # lines queued while earlier ones are handled; reading pauses beyond
MAX_BATCH = 256  # consecutive chat lines published as one batch


class State(enum.Enum):
    NAME = 1
    PASSWORD = 2
    NEW_PASSWORD = 3
    REPEAT_PASSWORD = 4
    CHAT = 5
    CLOSED = 6


class TelnetServer:
    """Plain and TLS telnet listeners sharing one set of sessions."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.sessions: set[TelnetSession] = set()
        self._servers: list[asyncio.Server] = []

    async def listen(
        self, sock: socket.socket, tls: ssl.SSLContext | None = None, refuse_login: str = ""
    ) -> None:
        """Serve clients on a bound socket. With `refuse_login` set, clients are only told that
        (e.g. "use TLS") and disconnected: plaintext logins are off."""
        door = "telnet-tls" if tls else "telnet"
        loop = asyncio.get_running_loop()
        self._servers.append(
            await loop.create_server(
                lambda: TelnetSession(self, door, refuse_login), sock=sock, ssl=tls,
                ssl_handshake_timeout=10.0 if tls else None,
            )
        )

    async def shutdown(self, grace: float) -> None:
        """Stop accepting, let queued output drain for up to `grace` seconds, then close."""
        for server in self._servers:
            server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        # transports offer no "drained" event, so poll them briefly
        while loop.time() < deadline and any(s.output_pending() for s in self.sessions):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        for s in list(self.sessions):
            s.close("server shutdown")
        for server in self._servers:
            await server.wait_closed()


class TelnetSession(asyncio.Protocol):
    """One telnet client. Implements torbit.core.hub.Session. Slotted and lean: an idle
    logged-in connection should cost a few KB, so 10,000 of them fit in tens of MB."""

    __slots__ = (
        "_busy", "_codec", "_counted", "_door", "_failures", "_ip", "_limit", "_name",
        "_new_password", "_paused", "_peer", "_pending", "_refuse", "_server", "_services",
        "_state", "_timer", "_transport", "ignores", "room", "user_key",
    )

    def __init__(self, server: TelnetServer, door: str, refuse_login: str = "") -> None:
        self._server = server
        self._door = door
        self._refuse = refuse_login
        self._services = server.services
        self._limit = self._services.settings.telnet.max_output_buffer
        self._codec = TelnetConnection(self._services.settings.chat.max_message_bytes)
        self._transport: asyncio.Transport | None = None
        self._state = State.NAME
        self._pending: deque[LineReceived | LineTooLong | Interrupt] | None = None
        self._busy = False
        self._paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._name = ""
        self._new_password = ""
        self._failures = 0
        self._peer = "?"
        self._ip = "?"
        self._counted = False
        self.user_key = ""
        self.ignores: set[str] = set()
        self.room: Room | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self._ip = str(peer[0]) if peer else "?"
        self._peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        refused = self._services.connections.acquire(self._ip)
        if refused:
            self._write(format_error(refused).encode() + b"\r\n")
            self._transport.close()
            self._state = State.CLOSED
            return
        self._counted = True
        self._server.sessions.add(self)
        self._services.metrics.connected.labels(self._door).inc()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(
            self._services.settings.telnet.login_timeout, self._login_timeout
        )
        if self._refuse:
            self._error(self._refuse)
            self.close("plaintext login refused")
            return
        self._write((GREETING + "Name: ").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None  # a closed transport raises on write; deliver() checks this
        if not self._counted:
            return
        self._services.connections.release(self._ip)
        self._server.sessions.discard(self)
        self._services.metrics.connected.labels(self._door).dec()
        if self._timer is not None:
            self._timer.cancel()
        was_chatting = self._state is State.CHAT
        self._state = State.CLOSED
        self._pending = None
        if was_chatting:
            self._spawn(self._services.chat.disconnect(self))

    def data_received(self, data: bytes) -> None:
        if self._state is State.CLOSED:
            return
        events = self._codec.receive_data(data)
        reply = self._codec.data_to_send()
        if reply:
            self._write(reply)
        if events:
            if self._pending is None:
                self._pending = deque(events)
            else:
                self._pending.extend(events)
            if len(self._pending) > MAX_PENDING_LINES and not self._paused:
                assert self._transport is not None
                self._transport.pause_reading()
                self._paused = True
            self._pump()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    # Session (called by the hub and the core)

    def deliver(self, delivery: Delivery) -> None:
        # _write inlined: this runs once per recipient of every message
        t = self._transport
        if t is None:
            return
        t.write(delivery.line)
        if t.get_write_buffer_size() > self._limit:
            self._drop_slow(t)

    def notify(self, text: str, channel: str | None = None) -> None:
        self.send_line(format_system(text))

    def close(self, reason: str) -> None:
        if self._transport is not None and not self._transport.is_closing():
            log.debug("closing %s (%s): %s", self._peer, self._name, reason)
            self._transport.close()

    # output

    def send_line(self, text: str) -> None:
        self._write(TelnetConnection.encode_text(text + "\r\n"))

    def output_pending(self) -> bool:
        t = self._transport
        return t is not None and not t.is_closing() and t.get_write_buffer_size() > 0

    def _write(self, data: bytes) -> None:
        t = self._transport
        if t is None or t.is_closing():
            return
        t.write(data)
        if t.get_write_buffer_size() > self._limit:
            self._drop_slow(t)

    def _drop_slow(self, t: asyncio.Transport) -> None:
        if t.is_closing():
            return
        log.warning("dropping slow telnet client %s (%s): output buffer over %d bytes",
                    self._peer, self._name or "not logged in", self._limit)
        self._services.metrics.dropped_clients.labels(self._door).inc()
        t.abort()

    def _error(self, text: str) -> None:
        self.send_line(format_error(text))

    # input: one handler at a time, so a client's lines are handled in order

    def _pump(self) -> None:
        pending = self._pending
        if pending is None:
            return
        while pending and not self._busy and self._state is not State.CLOSED:
            event = pending.popleft()
            if isinstance(event, LineTooLong):
                self._error(f"line too long: at most {event.limit} bytes; it was dropped")
                continue
            if isinstance(event, Interrupt):
                self.send_line(format_system("bye"))
                self.close("interrupt")
                return
            chatting = self._state is State.CHAT and self.room is not None
            if chatting and not event.text.startswith("/"):
                self._run(self._say([event.text, *self._more_chat_lines()]))
            else:
                self._run(self._handle(event.text))
        if not pending:
            self._pending = None  # an idle connection keeps no queue
        if self._paused and len(pending) < MAX_PENDING_LINES // 2:
            assert self._transport is not None
            self._paused = False
            self._transport.resume_reading()

    def _more_chat_lines(self) -> list[str]:
        """Consecutive plain lines queued behind the first are sent in the same batch."""
        out: list[str] = []
        p = self._pending
        while p is not None and p and len(out) < MAX_BATCH:
            e = p[0]
            if not isinstance(e, LineReceived) or e.text.startswith("/"):
                break
            out.append(e.text)
            p.popleft()
        return out

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        self._busy = True
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._busy = False
        if not task.cancelled() and (exc := task.exception()) is not None:
            if isinstance(exc, TorbitError):
                self._error(exc.message)
            else:
                log.error("telnet handler failed for %s", self._peer, exc_info=exc)
                self._error("internal error; please try again")
        self._pump()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(_log_failure)

    async def _say(self, lines: list[str]) -> None:
        room = self.room
        assert room is not None
        if not self._services.hub.is_listening(self, room.key):
            self.room = None
            self._error("you are no longer in a room: /join one")
            return
        texts: list[str] = []
        chat = self._services.chat
        for line in lines:
            if not line.strip():
                continue
            try:
                texts.append(chat.prepare_text(line))
            except TorbitError as e:
                self._error(e.message)
        if texts:
            sent, dropped = await self._services.chat.say(self._name, room, texts)
            self._services.metrics.messages_in.labels(self._door).inc(len(sent))
            if dropped:
                self._error(f"slow down: {dropped} message(s) over the rate limit were dropped")

    async def _handle(self, line: str) -> None:
        state = self._state
        if state is State.NAME:
            await self._on_name(line.strip())
        elif state is State.PASSWORD:
            await self._on_password(line)
        elif state is State.NEW_PASSWORD:
            self._on_new_password(line)
        elif state is State.REPEAT_PASSWORD:
            await self._on_repeat_password(line)
        elif state is State.CHAT:
            if line.startswith("/"):
                await run_command(self, self._services, line)
            elif line.strip():
                self._error("you are not in a room: /join ROOM")

    # login

    async def _on_name(self, name: str) -> None:
        if not name:
            self._write(b"Name: ")
            return
        if not is_valid_name(name):
            self._error("names are 1-32 letters, digits, '-', '_' or '.'")
            self._write(b"Name: ")
            return
        self._name = name
        accounts = self._services.accounts
        if await accounts.exists(name):
            self._state = State.PASSWORD
            self._write(b"Password: " + self._codec.start_password_mode())
        elif accounts.registration_open:
            self._state = State.NEW_PASSWORD
            self._write(
                f"New user {name}. Choose a password: ".encode() + self._codec.start_password_mode()
            )
        else:  # ask anyway: a failed login must not tell whether the name exists
            self._state = State.PASSWORD
            self._write(b"Password: " + self._codec.start_password_mode())

    def _end_password_echo(self) -> None:
        self._write(self._codec.end_password_mode() + b"\r\n")

    async def _on_password(self, password: str) -> None:
        self._end_password_echo()
        try:
            user = await self._services.accounts.authenticate(self._name, password, self._ip)
        except RateLimited as e:
            self._error(e.message)
            self.close("login throttled")
            return
        except AuthenticationFailed as e:
            self._failures += 1
            if self._failures >= MAX_LOGIN_ATTEMPTS:
                self._error("too many failed attempts, bye")
                log.info("login failed %d times from %s as %s", self._failures, self._peer,
                         self._name)
                self.close("login failures")
                return
            self._error(e.message)
            self._write(b"Password: " + self._codec.start_password_mode())
            return
        await self._logged_in(user.name)

    def _on_new_password(self, password: str) -> None:
        self._end_password_echo()
        try:
            self._services.accounts.check_password_rules(password)
        except TorbitError as e:
            self._error(e.message)
            self._write(b"Choose a password: " + self._codec.start_password_mode())
            return
        self._new_password = password
        self._state = State.REPEAT_PASSWORD
        self._write(b"Repeat the password: " + self._codec.start_password_mode())

    async def _on_repeat_password(self, password: str) -> None:
        self._end_password_echo()
        if password != self._new_password:
            self._new_password = ""
            self._state = State.NEW_PASSWORD
            self._error("the passwords do not match")
            self._write(b"Choose a password: " + self._codec.start_password_mode())
            return
        self._new_password = ""
        try:
            user = await self._services.accounts.register(self._name, password)
        except Conflict:
            self._state = State.NAME
            self._error("that name was just taken; pick another")
            self._write(b"Name: ")
            return
        log.info("registered %s from %s", user.name, self._peer)
        await self._logged_in(user.name)

    async def _logged_in(self, name: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._name = name
        self.user_key = name.lower()
        self._state = State.CHAT
        try:
            await self._services.chat.connect(self, name)
        except ServiceUnavailable as e:  # not half logged in: told, and let go
            self._error(f"{e.message}; please try again later")
            self.close("unavailable at login")
            return
        self.send_line(f"Welcome, {name}! Type /help for the commands, /quit to leave.")
        try:
            self.room = await self._services.chat.join(
                self, self._services.chat.rules.default_room
            )
        except ServiceUnavailable as e:
            self._error(f"{e.message}; try /join later")

    def _login_timeout(self) -> None:
        self._timer = None
        if self._state is not State.CHAT:
            self._error("login timed out, bye")
            self.close("login timeout")

    # used by the command handlers

    @property
    def name(self) -> str:
        return self._name


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("telnet background task failed: %s", exc)
