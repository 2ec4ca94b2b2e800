"""One IRC client: an asyncio Protocol that moves bytes between the socket, the sans-IO IRC
codec, the registration machine, the command table and the core. A client's commands are
handled one at a time, in order; reading pauses while too many wait. What it sends is
output.py's, through the bounded, coalescing writer (flow.py): a client that stops reading is
dropped, never waited for. An idle client is PINGed, and dropped if it stays silent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Set
from dataclasses import dataclass
from typing import Protocol, TypeVar

from torbit.core.banmasks import Visitor
from torbit.core.delivery import NO_IGNORES, Delivery, Fan, Run
from torbit.core.models import Room
from torbit.core.names import inbox_channel, name_key
from torbit.core.sessions import Fresh, Proof
from torbit.frontends.irc import labels, liveness, pacing
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc import render as fmt
from torbit.frontends.irc.caps import Caps, offered_caps
from torbit.frontends.irc.context import IrcCore, IrcOptions
from torbit.frontends.irc.fanout import JoinedRooms
from torbit.frontends.irc.output import OutputHost, SessionOutput
from torbit.frontends.irc.pacing import PacedHost
from torbit.frontends.irc.registration import Registration
from torbit.frontends.irc.roster import Roster
from torbit.frontends.line_session import LineHost, LineSession
from torbit.protocol.irc import Event, InvalidLine, IRCParser, LineTooLong, Message, MessageReceived

log = logging.getLogger("torbit.irc")

T = TypeVar("T")

HOST = "irc.torbit"  # the host part of every IRC client's mask: addresses are not shown
OTHER_DOORS_HOST = "torbit"  # the host of users of telnet, HTTP and the web page, on IRC


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
    operator: bool = False  # an IRC operator (oper.py)
    invisible: bool = False  # user mode +i, of a user on another node (here: client's)


class IrcHost(OutputHost, LineHost, PacedHost, Protocol):
    """What an IRC session needs of the server that accepted it (server.py)."""

    core: IrcCore
    options: IrcOptions
    lines: fmt.LineCache
    roster: Roster

    def dispatch(self, session: IrcSession, message: Message) -> Awaitable[None] | None:
        """Run a client's command: None when done at once, else the work to await."""

    def fan(self, sessions: tuple[IrcSession, ...], delivery: Delivery) -> None:
        """Session.fan's call: a room message to many of this door's sessions (fanout.py)."""

    def fan_run(self, sessions: tuple[IrcSession, ...], run: Run) -> None: ...

    def regroup(self) -> None:
        """Something the fan-out groups sessions by changed (fanout.Groupings)."""

    def opened(self, session: IrcSession) -> None: ...

    def registered(self, session: IrcSession) -> None: ...

    def closed(self, session: IrcSession) -> None: ...

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


class IrcSession(SessionOutput, LineSession[Event]):
    """Implements torbit.core.delivery.Session (delivery and notices: output.py)."""

    # slotted: an idle registered client should cost a few KB (no per-instance dict)
    __slots__ = (
        "_echo",
        "_errors",
        "_joining",
        "_label",
        "_labeled",
        "_let_go",
        "_paid_until",
        "_parser",
        "_quiet",
        "_seen",
        "account",
        "caps",
        "connected_at",
        "fresh",
        "ignores",
        "invisible",
        "last_spoke",
        "monitoring",
        "nick",
        "proof",
        "quit_reason",
        "realname",
        "registration",
        "rooms",
        "user_key",
        "username",
        "wallops",
    )

    _log = log
    kind = "IRC"

    server: IrcHost

    def __init__(self, server: IrcHost, door: str, peer: tuple[str, int] | None = None) -> None:
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
            hold=server.pacing.rate > 0,
        )
        self.nick = ""
        self.user_key = ""
        self.ignores: Set[str] = NO_IGNORES
        self.username = ""
        self.realname = ""
        self.account: str | None = None  # None: a guest (or not registered yet)
        self.proof: Proof | None = None  # what it logged in with (revocations close it)
        self.fresh: Fresh | None = None  # the account as registered, for the login (no read)
        self.invisible = False
        self.wallops = False  # user mode +w: sent WALLOPS without being an operator
        self.rooms: dict[str, Room] = JoinedRooms(server)  # joined here, by key
        self.monitoring: dict[str, str] | None = None  # MONITOR: user key -> nick as given
        self.ip = peer[0] if peer else ""  # a PROXY header's client address, else the socket's
        self.connected_at = self.last_spoke = time.time()  # one float until it speaks
        self.closed = False
        self.quit_reason = ""
        self._parser = IRCParser()
        self._writer = None
        self._init_input(options.login_input_budget)
        self._counted = False
        self._refused = ""
        self._departed = False
        self._timer: asyncio.TimerHandle | None = None  # registration's; then none of its own
        self._quiet = 0  # keep-alive rounds since it last sent anything (liveness.py)
        self._echo: dict[str, list[str]] | None = None  # channel -> texts whose echo is due
        self._joining: dict[str, list[Delivery]] | None = None  # room -> held while JOINing
        self._seen: set[tuple[str, str]] | None = None  # QUIT/NICK lines sent this loop turn
        self._label: labels.Reply | None = None  # labeled-response (labels.py)
        self._labeled: list[labels.Reply] | None = None
        # command pacing (pacing.py): when its spending is paid off; the hold's timer; the
        # error numerics of the command being handled (-1: none runs)
        self._paid_until = 0.0
        self._let_go: asyncio.TimerHandle | None = None
        self._errors = -1

    @property
    def registered(self) -> bool:
        return self.registration is None

    @property
    def fan(self) -> tuple[Fan, IrcSession] | None:
        """Session.fan: the door takes a room message for many sessions in one call (asked
        when the hub rebuilds a room's fan-out, not per message: no slot, no memory)."""
        w = self._writer
        if w is None or w.transport is None:
            return None
        return (self.server, self)

    @property
    def mask(self) -> str:
        return f"{self.nick}!{self.ident}@{HOST}"

    @property
    def visitor(self) -> Visitor:
        """What ban masks are matched against: the nick, the ident shown and the address."""
        return Visitor(self.nick, self.ident, self.ip)

    @property
    def ident(self) -> str:
        return self.nick.lower() if self.account else "~" + self.username[:10]

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._accept(transport):
            return
        self.server.opened(self)
        self._timer = asyncio.get_running_loop().call_later(
            self.server.options.registration_timeout, self._registration_timed_out
        )

    @staticmethod
    def refusal(reason: str) -> bytes:
        return Message("ERROR", (f"Closing link: {reason}",)).encode()

    def _sent_this_turn(self) -> set[tuple[str, str]]:
        sent = self._seen
        if sent is None:  # made when needed: an empty set is 216 bytes per idle client
            sent = self._seen = set()
            asyncio.get_running_loop().call_soon(self._turn_over)
        return sent

    def _echoes(self) -> dict[str, list[str]]:
        if self._echo is None:
            self._echo = {}
        return self._echo

    def _held(self) -> dict[str, list[Delivery]]:
        if self._joining is None:
            self._joining = {}
            self.server.regroup()  # a joining session takes `deliver` (fanout.py)
        return self._joining

    def _tidy(self) -> None:
        if not self._echo:
            self._echo = None
        if self._joining is not None and not self._joining:
            self._joining = None
            self.server.regroup()

    def _turn_over(self) -> None:
        self._seen = None

    def _gone(self) -> None:
        pacing.stop(self)
        self.server.regroup()
        if self._disconnected():
            self.server.closed(self)  # the rest is worked off a slice at a time

    def _input(self, data: bytes) -> None:
        self._quiet = 0
        pending = self._pending
        if pacing.flooding_ahead(self, data, len(pending) if pending else 0):
            return
        events = self._parser.receive_data(data)
        for event in events:  # a QUIT's reason counts even if the socket closes before it is run
            if isinstance(event, MessageReceived) and event.message.command.upper() == "QUIT":
                params = event.message.params
                self.quit_reason = params[0][:200] if params and params[0] else "Client Quit"
        if events:
            pending = self._pending
            if not pacing.flooding(self, len(events) + (len(pending) if pending else 0)):
                self._queue(events)

    def eof_received(self) -> bool | None:
        self.quit_reason = self.quit_reason or "Connection closed"
        return super().eof_received()

    # Session (called by the core; deliver and notify are output.py's)

    def revoke(self, reason: str) -> None:
        """The credentials of this login were revoked: a notice saying why, then close."""
        self.server_notice(reason)
        self.close("login revoked")

    def monitored(self, name: str, online: bool) -> None:
        """A user this client MONITORs came online or went offline (core/monitor.py)."""
        if self.closed or self.monitoring is None:
            return
        if online:  # another's coming or going: no command's reply (labels.py)
            self.reply_out(n.RPL_MONONLINE, self.server.mask_of(name))
        else:
            self.reply_out(n.RPL_MONOFFLINE, name)

    def monitored_notice(self, user_key: str, text: str) -> None:
        """A notice about a user this client MONITORs: sent with extended-monitor, unless the
        client ignores the user or is that user."""
        if (
            "extended-monitor" in self.caps
            and user_key != self.user_key
            and self.ignores.isdisjoint((user_key,))
        ):
            self.notify(text, None, (user_key,))

    def drain(self, text: str) -> None:
        """The node is leaving: a NOTICE saying so, then ERROR and close, after the command
        being handled (if any) has been answered; nothing more is read."""
        self.server_notice(text)
        self.quit_reason = self.quit_reason or "Server restarting"
        if self._stop_reading(text):
            self.close(text)

    @property
    def away(self) -> str | None:
        """The user's away message, shared by every door (core: Subscriptions.set_away)."""
        return self.core.subscriptions.away_of(self.user_key) if self.user_key else None

    @property
    def leaving(self) -> bool:
        """Closed, or closing after its ERROR: a client that has seen its link close may
        ask LUSERS before the door has worked off the departure (`LineDoor.depart`)."""
        w = self._writer
        return self.closed or w is None or w.transport is None or w.transport.is_closing()

    def _closing(self, reason: str) -> None:
        error = self._encoded(Message("ERROR", (f"Closing link: {HOST} ({reason})",)))
        if self._labeled is None or not labels.close(self, error):
            self.write_out(error)  # after every reply still open (labels.py)
        self.core.subscriptions.depart(self)  # online nowhere from now on
        log.debug("closing %s (%s): %s", self.ip, self.nick, reason)

    def _dropped_slow(self) -> None:
        super()._dropped_slow()
        self.quit_reason = "Excess output: client too slow"

    # input: one command at a time, in order

    def _handle(self, event: Event) -> bool:
        if not isinstance(event, MessageReceived) and self.too_early(""):
            return True
        if isinstance(event, LineTooLong):
            pacing.charge(self, 1)
            self.reply(n.ERR_INPUTTOOLONG, "Input line was too long")
        elif isinstance(event, InvalidLine):
            pacing.charge(self, 1)
            self.server_notice(f"line dropped: {event.problem.value}")
        else:
            assert isinstance(event, MessageReceived)
            message = event.message
            if message.tags:
                labels.begin(self, message)
            try:
                work = self.server.dispatch(self, message)  # charged there (commands.py)
            except BaseException:
                self._handled()  # a labeled reply ends, whatever the handler did
                raise
            if work is not None:
                self._run(work)
            else:
                pacing.ended(self)
                self._handled()
        return True

    def _done(self, task: asyncio.Future[None]) -> None:
        pacing.ended(self)
        super()._done(task)

    def _handled(self) -> None:
        if self._label is not None:  # its reply ends (labels.py)
            labels.end(self)

    # pacing (pacing.py)

    def charge(self, units: float) -> None:
        """The client spends `units` more on the command being handled (targets, lookups)."""
        pacing.charge(self, units)

    def error_shown(self) -> bool:
        return pacing.error_shown(self)

    def exempt(self) -> bool:
        """IRC operators are neither paced nor closed for a backlog."""
        return self.core.operators.of(self) is not None

    def _held_back(self) -> bool:
        return pacing.held_back(self)

    def _reads_while_held(self) -> bool:
        """Registered: reading goes on (Excess Flood bounds it); before, a held client's
        queue stops at `max_pending` and TCP pushes back (it may hold no more than that)."""
        return self.registration is None

    def take_queued(self, take: Callable[[Message], T | None], limit: int) -> list[T]:
        """Commands queued right behind the one being handled, taken off the queue while
        `take` makes something of them (None: stop there, it stays queued): a pipelining
        client's messages to one room are published as one batch, in order, as on telnet."""
        out: list[T] = []
        pending = self._pending
        while pending and len(out) < limit:
            event = pending[0]
            if not isinstance(event, MessageReceived):
                break
            item = take(event.message)
            if item is None:
                break
            out.append(item)
            pending.popleft()
        if out:
            pacing.charge(self, len(out))  # each taken is a command, as if handled alone
        return out

    def _tell(self, text: str) -> None:
        self.server_notice(text)

    def _who(self) -> str:
        return f"{self.ip} ({self.nick or 'unregistered'})"

    # registration and liveness

    def became(self, nick: str, account: str | None, username: str, realname: str) -> None:
        """Registration is complete: the session is `nick` from now on. Names equal to
        another kept are that one object (most clients give one name four times)."""
        if self._timer is not None:  # the registration's; the door's rounds from now on
            self._timer.cancel()
            self._timer = None
        if self.registration is not None and self.registration.held:
            self._paid_until = 0.0  # its hold was for the unregistered: paced as others now
        self.registration = None
        self._admit(self.server.options.input_budget)
        self.renamed(nick)
        self.account = self.nick if account == self.nick else account
        key = self.user_key
        self.username = key if not username or username == key else username  # USER gave none
        self.realname = self.nick if not realname or realname == nick else realname
        self.server.registered(self)

    def renamed(self, nick: str) -> None:
        key = name_key(nick)  # interned: the hub and the door hold the same key
        if key != self.user_key:
            self.server.regroup()  # fanout.py keeps who sent what by user key
        self.user_key = key
        self.nick = key if nick == key else nick

    def listens(self, room_key: str) -> bool:
        """Still open and listening to the room: asked by a send that waited on the store."""
        return self.is_open() and self.core.subscriptions.is_listening(self, room_key)

    def inbox(self) -> str:
        return inbox_channel(self.user_key)

    def too_early(self, command: str) -> bool:
        """A command before registration, counted (registration.py's bounds): True when the
        connection is closed for it, saying why."""
        machine = self.registration
        if machine is None:
            return False
        if self.leaving:  # closed for it already: what was read behind is not handled
            return True
        why = machine.counted(command)
        if why is not None and machine.hold:  # held, not closed: no reconnect storm
            machine.held = True
            why = None
        if machine.held:
            pacing.hold(self)
        if why is None:
            return False
        self.server.cuts.count(self.ip, why)  # summed up: a storm of these is an attack's
        self.close(why)
        return True

    def _registration_timed_out(self) -> None:
        self._timer = None
        if not self.closed and not self.registered:
            self.close("Registration timed out")

    def keep_alive(self) -> None:
        """A keep-alive round has passed (liveness.Pinger): a client silent through a whole
        round is PINGed, and dropped if it is silent through the next one too."""
        if self.closed or not self.registered:
            return
        quiet = self._quiet + 1
        self._quiet = quiet
        if quiet == 2:
            self.write_out(Message("PING", (self.server.options.server_name,)).encode())
        elif quiet > 2:
            self.quit_reason = liveness.PING_TIMEOUT
            self.close(self.quit_reason)
