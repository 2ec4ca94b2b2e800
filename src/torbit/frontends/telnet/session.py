"""One telnet client: an asyncio Protocol that moves bytes between the socket, the sans-IO
telnet codec, the login dialogue and the core. Reading pauses while a client's earlier lines
are still being handled; writing goes through a bounded, coalescing writer (flow.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Set

from torbit.core.banmasks import Visitor
from torbit.core.delivery import NO_IGNORES, Delivery, Fan, Names, Notice, NoticeKind, Run
from torbit.core.format import format_error, format_system
from torbit.core.models import Room
from torbit.core.names import name_key
from torbit.core.sessions import Fresh, Proof
from torbit.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    Overloaded,
    RateLimited,
    ServiceUnavailable,
    TorbitError,
)
from torbit.frontends.flow import TransportWriter
from torbit.frontends.line_session import LineSession
from torbit.frontends.telnet import login, people, rooms
from torbit.frontends.telnet.commands import run_command
from torbit.frontends.telnet.context import SessionHost, TelnetCore
from torbit.frontends.telnet.ending import Ending, judged, moved
from torbit.protocol.telnet import Interrupt, LineReceived, LineTooLong, TelnetConnection

log = logging.getLogger("torbit.telnet")


CONCEAL = b"\x1b[8m"  # ANSI: what follows is not shown (a raw client's own echo of a password)
REVEAL = b"\x1b[28m"


def _is_command(text: str) -> bool:
    """A slash command; '//' begins a message that begins with '/' (as on the web page)."""
    return text.startswith("/") and not text.startswith("//")


def _chat_text(text: str) -> str:
    return text[1:] if text.startswith("//") else text


def _not_connected(delivery: Delivery) -> None:
    """A session's `deliver` before its transport exists: nothing to write to."""


GREETING = "torbit chat server. Log in with your name, or pick a new one to register.\r\n"
# chat.registration = "closed": a new name is asked its password like any other (telling
# it apart would tell which names exist), so the greeting must not invite one
GREETING_CLOSED = (
    "torbit chat server. Log in with your name (registration is closed: an administrator"
    " adds accounts).\r\n"
)
MAX_BATCH = 256  # consecutive chat lines published as one batch


class TelnetSession(LineSession[LineReceived | LineTooLong | Interrupt]):
    """Implements torbit.core.delivery.Session. Slotted and lean: an idle logged-in connection
    should cost a few KB, so 10,000 of them fit in tens of MB."""

    _log = log
    kind = "telnet"
    __slots__ = (
        "_at_eof",
        "_codec",
        "_dialogue",
        "_fresh",
        "_peer",
        "_proof",
        "_refuse",
        "deliver",
        "ignores",
        "inbox_read",
        "room",
        "shown_all",
        "user_key",
    )

    server: SessionHost[TelnetSession]

    def __init__(
        self,
        server: SessionHost[TelnetSession],
        door: str,
        refuse_login: str = "",
        peer: tuple[str, int] | None = None,
    ) -> None:
        self.server = server
        self.door = door
        self._refuse = refuse_login
        self._codec = TelnetConnection(server.options.max_line_bytes)
        self._writer = None
        # Session.deliver: the writer's own method once connected (no extra call per delivery)
        self.deliver: Callable[[Delivery], None] = _not_connected
        self._dialogue: login.LoginDialogue | None = None  # None once logged in
        self._init_input(server.options.login_input_budget)
        self._timer: asyncio.TimerHandle | None = None
        # the client's address as a PROXY header gave it, else the socket's peer
        self._peer = f"{peer[0]}:{peer[1]}" if peer else ""
        self.ip = peer[0] if peer else ""
        self._counted = False
        self._refused = ""
        self._departed = False
        self._proof: Proof | None = None
        self._fresh: Fresh | None = None  # the user as registered, for the login (no read)
        self.closed = False
        self.user_key = ""
        self.ignores: Set[str] = NO_IGNORES
        self.room: Room | None = None
        self.shown_all = False  # of what the user had unread in `room` (CommandSession's)
        # all it was handed of the user's inbox left (None: its end made its move: `_inbox_left`)
        self.inbox_read: bool | None = True
        self._at_eof: Ending | None = None  # judged at its client's EOF, not moved yet

    def _dropped_slow(self) -> None:
        """What it was not sent was not read: its room's cursor stays (core/comeback.py)."""
        self.shown_all = False
        if self.inbox_read:
            self.inbox_read = False
        super()._dropped_slow()

    def inbox_left(self) -> None:
        """Its end: the user's private messages marked read up to the newest it was handed,
        if all it was given left (core/comeback.py's `missed_private`). Once."""
        read, self.inbox_read = self.inbox_read, None
        if read and self._dialogue is None and self.user_key and not self.unsent():
            self.core.comeback.inbox_left(self.user_key)

    def deliver_all(self, run: Run) -> None:
        """Session.deliver of a run of messages: the lines joined once for every telnet
        session, one write here (see core.hub.Hub.dispatch_run)."""
        if self._writer is not None:
            self._writer.write(run.lines)

    @property
    def fan(self) -> tuple[Fan, TransportWriter] | None:
        """Session.fan: the door's writers take a message in one call (FlushQueue.fan); asked
        when the hub rebuilds a room's fan-out, not per message (so no slot: no memory)."""
        w = self._writer
        if w is None or w.transport is None:
            return None
        return (self.server.flushes, w)

    @property
    def core(self) -> TelnetCore:
        return self.server.core

    @property
    def name(self) -> str:
        p = self.core.subscriptions.presence(self.user_key) if self.user_key else None
        return p.name if p else self.user_key

    @property
    def visitor(self) -> Visitor:
        """What ban masks match (core/banmasks.py): the name, as IRC shows a telnet user
        (user part the lower-cased name), and the client's address."""
        name = self.name
        return Visitor(name, name.lower(), self.ip)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        accepted = self._accept(transport)
        assert self._writer is not None
        self.deliver = self._writer.deliver
        if not accepted:
            return
        self.server.opened(self)
        self._timer = asyncio.get_running_loop().call_later(
            self.server.options.login_timeout, self._login_timeout
        )
        if self._refuse:
            self._error(self._refuse)
            self.close("plaintext login refused")
            return
        accounts = self.core.accounts
        self._dialogue = login.LoginDialogue(accounts.registration_open, accounts.password_problem)
        self._write((GREETING if accounts.registration_open else GREETING_CLOSED).encode())
        self._steps(self._dialogue.start())

    @staticmethod
    def refusal(reason: str) -> bytes:
        return format_error(reason).encode() + b"\r\n"

    def _address(self, peer: tuple[str, int] | None) -> None:
        super()._address(peer)
        self._peer = f"{peer[0]}:{peer[1]}" if peer else "?"

    def _deaf(self) -> None:
        """Our side closes, or the client's EOF dropped what was queued: lines said from now
        on never reach it, though it departs later (its output drained, its linger cut). So
        its room's move is judged now, not then (ending.py)."""
        ending, self._at_eof = self._at_eof, None
        moved(self, ending or judged(self), self._dialogue is None)

    def _deaf_at_eof(self) -> None:
        """Its client's EOF: judged now, moved when it is `_gone` (ending.py)."""
        if self._dialogue is None and self.user_key:
            self._at_eof = judged(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """Lost with an error (a reset: the client closed with our lines unread in its
        socket; a timeout): what it was given is not taken as read (comeback.py)."""
        if exc is not None:
            self.shown_all = False
            if self.inbox_read:
                self.inbox_read = False
        super().connection_lost(exc)

    def _gone(self) -> None:
        ending, self._at_eof = self._at_eof, None
        if ending is not None:  # its client's EOF: the moves judged then
            moved(self, ending, self._dialogue is None)
        self.deliver = _not_connected  # nothing to write to from now on
        if self.unsent():
            self.shown_all = False  # lines of the room never left: not read (comeback.py)
            if self.inbox_read:
                self.inbox_read = False
        was_chatting = not self.closed and self._dialogue is None and bool(self.user_key)
        if self._disconnected():
            self.server.depart(self, was_chatting)  # the rest is worked off a slice at a time

    def _input(self, data: bytes) -> None:
        events = self._codec.receive_data(data)
        reply = self._codec.data_to_send()
        if reply:
            self._write(reply)
        if events:
            self._queue(events)

    # Session (called by the core)

    def notify(self, text: str, channel: str | None = None, about: Names = ()) -> None:
        if (  # the room told of one's own invitation: /invite answers it (IRC: 341 alone)
            isinstance(text, Notice)
            and text.kind is NoticeKind.INVITED
            and name_key(text.by) == self.user_key
        ):
            return
        self.send_line(format_system(text))

    def _closing(self, reason: str) -> None:
        log.debug("closing %s (%s): %s", self._peer, self.user_key, reason)

    def drain(self, text: str) -> None:
        """The node is leaving: one line saying so, then close, after the line being handled
        (if any) has been answered; nothing more is read."""
        self.send_line(format_system(text))
        if self._stop_reading("node draining"):
            self.close("node draining")

    def revoke(self, reason: str) -> None:
        """The credentials of this login were revoked: one line saying why, then close."""
        self.room = None
        self._error(reason)
        self.close("revoked")

    def listens(self, room_key: str) -> bool:
        """Still open and listening to the room: asked by a send that waited on the store."""
        return self.is_open() and self.core.subscriptions.is_listening(self, room_key)

    def count_sent(self, n: int) -> None:
        self.server.metrics.sent_on(self.door).inc(n)

    # output

    def send_line(self, text: str) -> None:
        self._write(TelnetConnection.encode_text(text + "\r\n"))

    def unsent(self) -> bool:
        return self._writer is not None and self._writer.unsent()

    def output_pending(self) -> bool:
        return self._writer is not None and self._writer.pending()

    def _write(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)

    def _error(self, text: str) -> None:
        self.send_line(format_error(text))

    # input: one handler at a time, so a client's lines are handled in order

    def _handle(self, event: LineReceived | LineTooLong | Interrupt) -> bool:
        if isinstance(event, LineTooLong):
            self._error(f"line too long: at most {event.limit} bytes; it was dropped")
        elif isinstance(event, Interrupt):
            self.send_line(format_system("bye"))
            self.close("interrupt")
            return False
        elif self._dialogue is not None:
            self._login_line(event.text, event.lossy)
        elif _is_command(event.text):
            self._run(run_command(self, event.text))
        elif self.room is not None:
            self._run(self._say([_chat_text(event.text), *self._more_chat_lines()]))
        elif event.text.strip():
            self._error("you are not in a room: /join ROOM")
        return True

    def _tell(self, text: str) -> None:
        self._error(text)

    def _who(self) -> str:
        return f"{self._peer} ({self.user_key or 'not logged in'})"

    def _more_chat_lines(self) -> list[str]:
        """Consecutive plain lines queued behind the first are sent in the same batch."""
        out: list[str] = []
        p = self._pending
        while p is not None and p and len(out) < MAX_BATCH:
            e = p[0]
            if not isinstance(e, LineReceived) or _is_command(e.text):
                break
            out.append(_chat_text(e.text))
            p.popleft()
        return out

    async def _say(self, lines: list[str]) -> None:
        room = self.room
        assert room is not None
        key = room.key  # a name_key each time it is asked
        if not self.core.subscriptions.is_listening(self, key):
            self.room = None
            self._error("you are no longer in a room: /join one")
            return
        messaging = self.core.messaging
        texts: list[str] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                texts.append(messaging.prepare_text(line))
            except TorbitError as e:
                self._error(e.message)
        if texts:
            sent, dropped = await messaging.send_while_listening(
                self.name, room, texts, listening=lambda: self.listens(key)
            )
            self.count_sent(len(sent))
            if dropped:
                self._error(  # dropped from the end: say which, and what to do
                    f"slow down: {dropped} message(s) over the rate limit were dropped: the last"
                    f" {dropped} line(s) you sent; send them again in a few seconds"
                )

    # login: the dialogue decides, the session does the I/O

    def _login_line(self, text: str, lossy: bool) -> None:
        dialogue = self._dialogue
        assert dialogue is not None
        if dialogue.secret:
            self._write(REVEAL + b"\r\n")  # echo stays off until no password prompt follows
        steps = dialogue.receive(text, lossy)
        if any(isinstance(s, login.LookUp | login.Verify | login.Register) for s in steps):
            self._run(self._login_steps(steps))
        else:
            self._steps(steps)

    def _secret_prompt(self, text: str) -> bytes:
        """A password prompt that shows no password on a raw TCP client (nc, socat) either:
        the WILL ECHO it never answers comes first and is wiped from its screen (CR, erase
        line), and what its terminal echoes is concealed (SGR 8) until the line is in. A
        telnet client takes the negotiation, and the wipe finds an empty line. BINARY is asked
        for with the first one (protocol/telnet.py): what is typed from then on is 8-bit."""
        self._codec.ask_binary()
        echo_off = self._codec.start_password_mode()
        wipe = b"\r\x1b[K" if echo_off else b""
        return echo_off + wipe + text.encode() + CONCEAL

    def _echo_back(self) -> None:
        """Local echo back to the client once no password prompt is next. Turning it off and
        on between two password prompts would leave the second one echoed by clients that
        never acknowledge the WONT (busybox telnet: RFC 1143 waits for the answer)."""
        if self._codec.password_mode and (self._dialogue is None or not self._dialogue.secret):
            self._write(self._codec.end_password_mode())

    def _steps(self, steps: list[login.Step]) -> None:
        """Show what the dialogue says (the steps that need no I/O)."""
        self._echo_back()
        for step in steps:
            if isinstance(step, login.Prompt):
                if step.secret:
                    self._write(self._secret_prompt(step.text))
                else:
                    self._write(step.text.encode())
            elif isinstance(step, login.Error):
                self._error(step.text)
            elif isinstance(step, login.Hangup):
                self._error(step.text)
                # summed up (tally.py): a client cut for junk reconnects at once, again and again
                self.server.cuts.count(self.ip, f"{step.reason} (as {self._dialogue_name()})")
                self.close(step.reason)

    async def _login_steps(self, steps: list[login.Step]) -> None:
        while steps:
            step, *rest = steps
            steps = rest
            follow = await self._login_step(step)
            if follow is None:
                self._steps([step])
            else:
                steps = follow + steps

    async def _login_step(self, step: login.Step) -> list[login.Step] | None:
        """The dialogue's answer to a step that needs the accounts service, else None."""
        dialogue = self._dialogue
        accounts = self.core.accounts
        if dialogue is None:
            return []
        if isinstance(step, login.LookUp):
            return dialogue.looked_up(*await accounts.look_up(step.name, client=self.ip))
        if isinstance(step, login.Verify):
            try:
                user = await accounts.authenticate(step.name, step.password, self.ip)
            except (RateLimited, Overloaded) as e:
                return dialogue.throttled(e.message)
            except AuthenticationFailed as e:
                return dialogue.wrong_password(e.message)
            self._proof = Proof(user.credential)
            return dialogue.verified(user.name)
        if isinstance(step, login.Register):
            counts = self.core.sessions.counts()
            try:
                user = await accounts.register(
                    step.name, step.password, client=self.ip, looked_up=True
                )
            except Conflict as e:
                return dialogue.name_taken(e.message)
            except (RateLimited, Overloaded, InvalidInput) as e:
                return dialogue.refused(e.message)
            log.info("registered %s from %s", user.name, self._peer)
            self._proof = Proof(user.credential)
            self._fresh = Fresh(user, NO_IGNORES, counts)  # no ignores yet: created just now
            return dialogue.verified(user.name)
        if isinstance(step, login.LoggedIn):
            await self._logged_in(step.name)
            return []
        return None

    def _dialogue_name(self) -> str:
        return self._dialogue.name if self._dialogue is not None else self.user_key

    async def _logged_in(self, name: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._dialogue = None
        self._admit(self.server.options.input_budget)
        self._echo_back()
        self.user_key = name_key(name)
        proof, self._proof = self._proof, None
        fresh, self._fresh = self._fresh, None
        assert proof is not None
        try:
            await self.core.sessions.login(
                self, name, proof, f"{self.door} {self._peer}", fresh=fresh
            )
        except ServiceUnavailable as e:  # not half logged in: told, and let go
            self.user_key = ""
            self._error(f"{e.message}; please try again later")
            self.close("unavailable at login")
            return
        except AuthenticationFailed as e:  # revoked while logging in
            self.user_key = ""
            self._error(e.message)
            self.close("revoked at login")
            return
        self.send_line(f"Welcome, {name}! Type /help for the commands, /quit to leave.")
        try:
            await rooms.land(self, self.server.options.default_room, returning=fresh is None)
            if fresh is None:  # a new account has none
                await people.missed_private(self)
        except ServiceUnavailable as e:
            self._error(f"{e.message}; try /join later")
        if away := self.core.subscriptions.away_of(self.user_key):  # from another session
            self.send_line(format_system(f"you are marked away: {away}"))

    def _login_timeout(self) -> None:
        self._timer = None
        if self._dialogue is not None:
            self._error("login timed out, bye")
            self.close("login timeout")
