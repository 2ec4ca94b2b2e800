"""One IRC client: an asyncio Protocol that moves bytes between the socket, the sans-IO IRC
codec, the registration machine, the command table and the core. A client's commands are
handled one at a time, in order; reading pauses while too many wait. Output goes through the
bounded, coalescing writer (flow.py): a client that stops reading is dropped, never waited
for. An idle client is PINGed, and dropped if it stays silent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from torbit.core.delivery import Delivery, Names
from torbit.core.limits import ConnectionLimiter
from torbit.core.models import Message as ChatMessage
from torbit.core.models import Room
from torbit.core.names import inbox_channel, is_inbox, name_key
from torbit.core.sessions import Proof
from torbit.errors import TorbitError
from torbit.frontends.flow import FlushQueue, TransportWriter
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc import render as fmt
from torbit.frontends.irc.context import IrcCore, IrcOptions
from torbit.frontends.irc.registration import Caps, Registration, offered_caps
from torbit.metrics import Metrics
from torbit.protocol.irc import Event, InvalidLine, IRCParser, LineTooLong, Message, MessageReceived
from torbit.protocol.irc_replies import numeric

log = logging.getLogger("torbit.irc")

MAX_PENDING = 64  # messages queued while earlier ones are handled; reading pauses beyond
PING_INTERVAL = 90.0  # seconds of silence before we PING; as long again for the answer
HOST = "irc.torbit"  # the host part of every IRC client's mask: addresses are not shown


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What WHO and WHOIS show of a user, on whichever door they are."""

    nick: str
    ident: str
    host: str
    realname: str
    away: str | None
    account: str | None  # None: a guest
    client: IrcSession | None  # their IRC session here, if any


class IrcHost(Protocol):
    """What an IRC session needs of the server that accepted it (server.py)."""

    core: IrcCore
    options: IrcOptions
    connections: ConnectionLimiter
    metrics: Metrics
    flushes: FlushQueue
    lines: fmt.LineCache

    def dispatch(self, session: IrcSession, message: Message) -> Awaitable[None] | None:
        """Run a client's command: None when done at once, else the work to await."""

    def opened(self, session: IrcSession) -> None: ...

    def registered(self, session: IrcSession) -> None: ...

    def closed(self, session: IrcSession) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...

    def clients_of(self, user_key: str) -> list[IrcSession]:
        """The registered IRC sessions of a user on this node."""

    def mask_of(self, name: str) -> str:
        """`nick!user@host` of anyone, as IRC clients here see them."""

    def is_guest(self, user_key: str) -> bool: ...

    def user_info(self, name: str) -> UserInfo: ...

    def nick_of(self, name: str) -> str: ...

    async def settled(self, room_key: str) -> None: ...

    peak_users: int
    departed: deque[UserInfo]  # WHOWAS

    def renamed(self, session: IrcSession, name: str) -> None:
        """A guest's session took another name."""

    async def nick_free(self, user_key: str) -> None:
        """Wait until a guest of that name that is leaving has gone."""

    def unregistered(self) -> int:
        """Connections that have not registered yet (LUSERS)."""


class IrcSession(asyncio.Protocol):
    """Implements torbit.core.delivery.Session."""

    def __init__(self, server: IrcHost, door: str) -> None:
        self.server = server
        self.door = door
        options = server.options
        self.caps = Caps(
            options.server_name,
            offered_caps(registration_open=self.core.accounts.registration_open),
        )
        self.registration: Registration | None = Registration(
            options.server_name,
            self.caps,
            guests=options.guests,
            registration_open=self.core.accounts.registration_open,
        )
        self.nick = ""
        self.user_key = ""
        self.ignores: set[str] = set()
        self.username = ""
        self.realname = ""
        self.account: str | None = None  # None: a guest (or not registered yet)
        self.proof: Proof | None = None  # what it logged in with (revocations close it)
        self.away: str | None = None
        self.invisible = False
        self.rooms: dict[str, Room] = {}  # rooms joined through this session, by key
        self.ip = "?"
        self.connected_at = time.time()
        self.last_spoke = time.time()
        self.closed = False
        self.quit_reason = ""
        self._parser = IRCParser()
        self._writer: TransportWriter | None = None
        self._pending: deque[Event] | None = None
        self._busy = False
        self._paused = False
        self._counted = False
        self._timer: asyncio.TimerHandle | None = None
        self._last_input = time.monotonic()
        self._pinged = False
        self._echo: dict[str, int] = {}  # channel -> own messages sent whose echo is due
        self._joining: dict[str, list[Delivery]] = {}  # room -> held while JOIN is answered
        self._seen: set[tuple[str, str]] = set()  # QUIT/NICK lines sent this loop turn

    @property
    def core(self) -> IrcCore:
        return self.server.core

    @property
    def registered(self) -> bool:
        return self.registration is None

    @property
    def mask(self) -> str:
        return f"{self.nick}!{self.ident}@{HOST}"

    @property
    def ident(self) -> str:
        return self.nick.lower() if self.account else "~" + self.username[:10]

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        t = cast(asyncio.Transport, transport)
        server = self.server
        self._writer = TransportWriter(
            t, server.options.max_output_buffer, server.flushes, self._dropped_slow
        )
        peer = transport.get_extra_info("peername")
        self.ip = str(peer[0]) if peer else "?"
        refused = server.connections.acquire(self.ip)
        if refused:
            t.write(Message("ERROR", (f"Closing link: {refused}",)).encode())
            t.close()
            self.closed = True
            return
        self._counted = True
        server.opened(self)
        server.metrics.connected.labels(self.door).inc()
        self._timer = asyncio.get_running_loop().call_later(
            server.options.registration_timeout, self._tick
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self._writer is not None:
            self._writer.lost()
        self.closed = True
        self._pending = None
        if self._timer is not None:
            self._timer.cancel()
        if not self._counted:
            return
        server = self.server
        server.connections.release(self.ip)
        server.metrics.connected.labels(self.door).dec()
        server.closed(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._last_input = time.monotonic()
        self._pinged = False
        events = self._parser.receive_data(data)
        for event in events:  # a QUIT's reason counts even if the socket closes before it is run
            if isinstance(event, MessageReceived) and event.message.command.upper() == "QUIT":
                params = event.message.params
                self.quit_reason = params[0][:200] if params and params[0] else "Client Quit"
        if events:
            if self._pending is None:
                self._pending = deque(events)
            else:
                self._pending.extend(events)
            if len(self._pending) > MAX_PENDING and not self._paused:
                self._pause(True)
            self._pump()

    def eof_received(self) -> bool | None:
        self.quit_reason = self.quit_reason or "Connection closed"
        return None

    # Session (called by the core)

    def deliver(self, delivery: Delivery) -> None:
        message = delivery.message
        held = self._joining.get(message.channel)
        if held is not None:
            held.append(delivery)
            return
        own = message.sender_key == self.user_key and self._own_echo(message.channel)
        if own and "echo-message" not in self.caps:
            return
        self.write(self.render(delivery))

    def notify(self, text: str, channel: str | None = None, about: Names = ()) -> None:
        rendered = fmt.notice_lines(
            text,
            channel,
            me=self.nick,
            server=self.server.options.server_name,
            mask=self.server.mask_of,
            room_display=self.room_display,
            still_online=self._has_other_sessions,
        )
        for line in rendered.lines:
            if line.command in ("QUIT", "NICK"):  # one line per user, not one per room
                seen = (line.command, line.source or "")
                if seen in self._seen:
                    continue
                if not self._seen:
                    asyncio.get_running_loop().call_soon(self._seen.clear)
                self._seen.add(seen)
            nick = (line.source or "").partition("!")[0]
            if (
                "account-tag" in self.caps
                and line.source != nick
                and not self.server.is_guest(name_key(nick))
            ):
                line = Message(line.command, line.params, line.source, {"account": nick})
            self.send(line)
            if line.command == "JOIN" and "away-notify" in self.caps and line.source:
                away = self.server.user_info(line.source.partition("!")[0]).away
                if away:  # away-notify: who joins away is said to be
                    self.send(Message("AWAY", (away,), line.source))
        if rendered.left_room is not None:
            self.rooms.pop(rendered.left_room, None)

    def _has_other_sessions(self, name: str) -> bool:
        """Whether a user logging out (still attached while its rooms are told) keeps
        another session on this node."""
        presence = self.core.subscriptions.presence(name_key(name))
        return presence is not None and len(presence.sessions) > 1

    def revoke(self, reason: str) -> None:
        """The credentials of this login were revoked: a notice saying why, then close."""
        self.server_notice(reason)
        self.close("login revoked")

    def close(self, reason: str) -> None:
        w = self._writer
        if w is not None and w.transport is not None and not w.transport.is_closing():
            self.send(Message("ERROR", (f"Closing link: {HOST} ({reason})",)))
            log.debug("closing %s (%s): %s", self.ip, self.nick, reason)
            w.close()

    # output

    def send(self, message: Message) -> None:
        try:
            self.write(message.encode())
        except ValueError:
            log.warning("not sent to %s, it does not fit a line: %.200r", self.nick, message)

    def reply(self, code: int, *params: str) -> None:
        self.send(numeric(self.server.options.server_name, self.nick or None, code, *params))

    def server_notice(self, text: str) -> None:
        self.send(Message("NOTICE", (self.nick or "*", text), self.server.options.server_name))

    def fail(self, command: str, code: str, *context: str) -> None:
        """An IRCv3 standard reply: FAIL <command> <code> [<context>...] :<description>."""
        self.send(Message("FAIL", (command, code, *context), self.server.options.server_name))

    def write(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)

    def output_pending(self) -> bool:
        return self._writer is not None and self._writer.pending()

    def room_display(self, room_key: str) -> str:
        room = self.rooms.get(room_key)
        return fmt.channel_name(room.name if room is not None else room_key)

    def render(
        self, delivery: Delivery, *, batch: str = "", stamp: bool = False, shared: bool = True
    ) -> bytes:
        """The lines of a message for this client, with the tags it asked for; `shared`: the
        message goes to many clients now, so its lines are kept for the next one."""
        message = delivery.message
        caps = self.caps.enabled
        if is_inbox(message.channel):
            target, _ = fmt.private_target(message, self.user_key)
            target = target or self.nick
        else:
            target = self.room_display(message.channel)
        account = "account-tag" in caps and not self.server.is_guest(message.sender_key)
        variant = fmt.Variant(
            "server-time" in caps,
            "message-tags" in caps,
            account,
            target,
            stamp and "server-time" not in caps,
        )
        if batch or not shared:
            return self._lines(message, variant, batch)
        return self.server.lines.get(delivery, variant, lambda: self._lines(message, variant, ""))

    def _lines(self, message: ChatMessage, variant: fmt.Variant, batch: str) -> bytes:
        tags: dict[str, str] = {}
        if variant.time:
            tags["time"] = fmt.server_time(message.sent_at)
        if variant.msgid:
            tags["msgid"] = fmt.msgid(message)
        if variant.account:
            tags["account"] = message.sender
        if batch:
            tags["batch"] = batch
        stamp = message.sent_at.astimezone(UTC).strftime("%H:%M:%S") if variant.stamp else ""
        return fmt.message_lines(
            message, self.server.mask_of(message.sender), variant.target, tags, stamp
        )

    def _dropped_slow(self) -> None:
        log.warning(
            "dropping slow IRC client %s (%s): output buffer over %d bytes",
            self.ip,
            self.nick or "unregistered",
            self.server.options.max_output_buffer,
        )
        self.server.metrics.dropped_clients.labels(self.door).inc()
        self.quit_reason = "Excess output: client too slow"

    # own messages: without echo-message a client is not shown what it sent itself

    def expect_echo(self, channel: str, count: int) -> None:
        if count > 0:
            self._echo[channel] = self._echo.get(channel, 0) + count

    def cancel_echo(self, channel: str, count: int) -> None:
        left = self._echo.get(channel, 0) - count
        if left > 0:
            self._echo[channel] = left
        else:
            self._echo.pop(channel, None)

    def _own_echo(self, channel: str) -> bool:
        if not self._echo.get(channel):
            return False
        self.cancel_echo(channel, 1)
        return True

    # joining: the JOIN, topic and names go out before the room's history and live messages

    def hold(self, room_key: str) -> None:
        self._joining[room_key] = []

    def unhold(self, room_key: str, started: datetime | None) -> None:
        """Send what was held back: history (sent before `started`) in a chathistory batch,
        or left out for clients that ask for history themselves; then live messages."""
        held = self._joining.pop(room_key, [])
        if started is None:
            return
        history = [d for d in held if d.message.sent_at < started]
        live = held[len(history) :]
        if history and "draft/chathistory" not in self.caps:
            batch = ""
            if "batch" in self.caps:
                batch = f"h{history[0].message.id}"
                self.send(
                    Message(
                        "BATCH",
                        ("+" + batch, "chathistory", self.room_display(room_key)),
                        self.server.options.server_name,
                    )
                )
            for d in history:
                self.write(self.render(d, batch=batch, stamp=True))
            if batch:
                self.send(Message("BATCH", ("-" + batch,), self.server.options.server_name))
        for d in live:
            self.deliver(d)

    # input: one command at a time, in order

    def _pump(self) -> None:
        pending = self._pending
        if pending is None:
            return
        while pending and not self._busy and not self.closed:
            event = pending.popleft()
            if isinstance(event, LineTooLong):
                self.reply(n.ERR_INPUTTOOLONG, "Input line was too long")
                continue
            if isinstance(event, InvalidLine):
                self.server_notice(f"line dropped: {event.problem.value}")
                continue
            assert isinstance(event, MessageReceived)
            work = self.server.dispatch(self, event.message)
            if work is not None:
                self._run(work)
        if not pending:
            self._pending = None
        if self._paused and len(pending) < MAX_PENDING // 2:
            self._pause(False)

    def _run(self, work: Awaitable[None]) -> None:
        self._busy = True
        task = asyncio.ensure_future(work)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[None]) -> None:
        self._busy = False
        if not task.cancelled() and (exc := task.exception()) is not None:
            if isinstance(exc, TorbitError):
                self.server_notice(exc.message)
            else:
                log.error("IRC handler failed for %s (%s)", self.ip, self.nick, exc_info=exc)
                self.server_notice("internal error; please try again")
        self._pump()

    def _pause(self, pause: bool) -> None:
        w = self._writer
        if w is None or w.transport is None:
            return
        self._paused = pause
        if pause:
            w.transport.pause_reading()
        else:
            w.transport.resume_reading()

    # registration and liveness

    def became(self, nick: str, account: str | None, username: str, realname: str) -> None:
        """Registration is complete: the session is `nick` from now on."""
        self.registration = None
        self.nick = nick
        self.user_key = name_key(nick)
        self.account = account
        self.username = username
        self.realname = realname
        self.server.registered(self)
        self._restart_timer()

    def renamed(self, nick: str) -> None:
        self.nick = nick
        self.user_key = name_key(nick)

    def inbox(self) -> str:
        return inbox_channel(self.user_key)

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(PING_INTERVAL, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.closed:
            return
        if not self.registered:
            self.close("Registration timed out")
            return
        silent = time.monotonic() - self._last_input
        if silent >= PING_INTERVAL and self._pinged:
            self.quit_reason = f"Ping timeout: {int(silent)} seconds"
            self.close(self.quit_reason)
            return
        if silent >= PING_INTERVAL:
            self._pinged = True
            self.send(Message("PING", (self.server.options.server_name,)))
        self._restart_timer()
