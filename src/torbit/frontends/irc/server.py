"""The IRC door's listeners: plain and TLS sockets sharing one set of sessions, the registry of
registered clients by nick, and what happens when one leaves (logged out; a guest deleted)."""

from __future__ import annotations

import logging
import socket
import ssl
from collections import deque
from collections.abc import Awaitable

from torbit.core.delivery import Delivery, Run
from torbit.core.events import Wallops
from torbit.core.limits import ConnectionLimiter
from torbit.core.names import name_key
from torbit.frontends.doors import LineDoor
from torbit.frontends.handshake import PlainAnswer
from torbit.frontends.irc.commands import dispatch
from torbit.frontends.irc.context import IrcCore, IrcOptions
from torbit.frontends.irc.fanout import Groupings, fan, fan_run
from torbit.frontends.irc.liveness import SERVER_QUITS, Pinger
from torbit.frontends.irc.monitor import clear as clear_monitor
from torbit.frontends.irc.oper import deliver_wallops
from torbit.frontends.irc.queries import details_elsewhere
from torbit.frontends.irc.render import LineCache
from torbit.frontends.irc.roster import Roster
from torbit.frontends.irc.session import HOST, OTHER_DOORS_HOST, IrcSession, UserInfo
from torbit.frontends.proxied import TrustedNetworks
from torbit.metrics import Metrics
from torbit.protocol.irc import Message

log = logging.getLogger("torbit.irc")

WHOWAS_KEPT = 1000


def tls_only(plain_port: int | None) -> PlainAnswer:
    """The TLS port's ERROR to a client speaking plain IRC (its first line: CAP, NICK, PASS)."""
    where = f"use port {plain_port} for plain text" if plain_port else "connect with TLS"
    return PlainAnswer(IrcSession.refusal(f"This port speaks TLS: {where}"), (b"\n", b"\r"), 512)


class IrcServer(LineDoor[IrcSession]):
    """Implements session.IrcHost."""

    def __init__(
        self, core: IrcCore, options: IrcOptions, connections: ConnectionLimiter, metrics: Metrics
    ) -> None:
        super().__init__(log, connections, metrics, options.flush_window, IrcSession.refusal)
        self.core = core
        self.options = options
        self.pacing = options.pacing
        self.lines = LineCache()
        self.groupings = Groupings()
        self._clients: dict[str, list[IrcSession]] = {}  # registered, by nick key
        self._guests: set[str] = set()  # keys of the guests registered here
        # masks of clients gone from `_clients` whose logout (their QUIT) is being told
        self._leaving: dict[str, str] = {}
        # connections not registered yet (LUSERS' unknown ones): a few at a time, not walked
        # among thousands registered at every login
        self._unregistered: set[IrcSession] = set()
        self.roster = Roster(self.shown_as, self._clients.__contains__)
        self.peak_users = 0
        self.pinger = Pinger(self.sessions)  # one keep-alive timer for all, none per client
        # WHOWAS: who left, newest last; bounded, kept in memory only
        self.departed: deque[UserInfo] = deque(maxlen=WHOWAS_KEPT)
        core.operators.on_wallops(self._wallops)
        core.away.on_details(lambda event: details_elsewhere(event, self.mask_of, core))

    def _wallops(self, event: Wallops) -> None:
        deliver_wallops(list(self.sessions), event, self.mask_of(event.sender))

    async def listen(
        self,
        sock: socket.socket,
        tls: ssl.SSLContext | None = None,
        proxies: TrustedNetworks | None = None,
        plain_port: int | None = None,
    ) -> None:
        """Serve clients on a bound socket; with `proxies`, behind PROXY protocol balancers.
        On a TLS socket, a client speaking plain IRC gets an ERROR naming `plain_port`."""
        door = "irc-tls" if tls else "irc"

        def session(peer: tuple[str, int] | None) -> IrcSession:
            return IrcSession(self, door, peer)

        await self._listen(sock, tls, proxies, door, session, tls_only(plain_port))

    # IrcHost

    def dispatch(self, session: IrcSession, message: Message) -> Awaitable[None] | None:
        return dispatch(session, message)

    def fan(self, sessions: tuple[IrcSession, ...], delivery: Delivery) -> None:
        fan(self.lines, self.flushes, self.groupings, sessions, delivery)

    def fan_run(self, sessions: tuple[IrcSession, ...], run: Run) -> None:
        fan_run(self.lines, self.flushes, self.groupings, sessions, run)

    def regroup(self) -> None:
        self.groupings.clear()

    def opened(self, session: IrcSession) -> None:
        self.sessions.add(session)
        self._unregistered.add(session)

    def registered(self, session: IrcSession) -> None:
        self._unregistered.discard(session)
        self.pinger.watch()
        self._clients.setdefault(session.user_key, []).append(session)
        self.roster.forget(session.user_key)
        if session.account is None:
            self._guests.add(session.user_key)

    def renamed(self, session: IrcSession, name: str) -> None:
        self._forget(session, name_key(session.nick))  # its user_key is the new name's
        session.renamed(name)
        self.registered(session)

    def closed(self, session: IrcSession) -> None:
        """A session's connection is gone: forgotten soon, a slice at a time (`_log_out`);
        online nowhere from now on."""
        clear_monitor(session)
        self.core.subscriptions.depart(session)
        self.depart(session)

    def _forget(self, session: IrcSession, key: str = "") -> None:
        key = key or session.user_key
        clients = self._clients.get(key)
        if clients is not None and session in clients:
            clients.remove(session)
            self.roster.forget(key)
            if not clients:
                del self._clients[key]
                self._guests.discard(key)

    async def _log_out(self, session: IrcSession, log_out: bool) -> None:
        """A vanished client's departure (`LineDoor.depart`), batched with others leaving:
        the door's registries, WHOWAS, the user's logout, a guest's nick let go."""
        self.sessions.discard(session)
        self._unregistered.discard(session)
        self.metrics.connected_on(session.door).dec()
        self.core.operators.drop(session)
        if not session.registered or not session.user_key:
            return
        self._forget(session)
        self.departed.append(self.info_of(session))
        if session.account is None:
            self.core.guests.leaving(session.nick)
        key = session.user_key
        self._leaving[key] = session.mask  # the QUIT shows the host the user had
        try:
            reason = session.quit_reason
            await self.core.sessions.logout(session, reason, said=reason not in SERVER_QUITS)
        finally:
            if self._leaving.get(key) == session.mask:
                del self._leaving[key]
        if session.account is None:
            await self.core.guests.release(session.nick)

    async def nick_free(self, user_key: str) -> None:
        await self.gone(lambda s: s.user_key == user_key)

    async def settled(self, room_key: str) -> None:
        """Wait until clients that were in the room and are leaving have left it: a JOIN
        after a QUIT sees the room as the QUIT left it (on IRC, a channel goes with its last
        user)."""
        await self.gone(lambda s: room_key in s.rooms)

    def clients_of(self, user_key: str) -> list[IrcSession]:
        return self._clients.get(user_key, [])

    def is_guest(self, user_key: str) -> bool:
        return user_key in self._guests

    def unregistered(self) -> int:
        return sum(1 for s in self._unregistered if not s.leaving)

    def nick_of(self, name: str) -> str:
        """How a user's name is shown: a guest's nick may differ from it in case."""
        clients = self._clients.get(name_key(name))
        return clients[0].nick if clients else name

    def shown_as(self, name: str, full: bool) -> str:
        """A user as NAMES shows them: the mask to a client with userhost-in-names."""
        return self.mask_of(name) if full else self.nick_of(name)

    def mask_of(self, name: str) -> str:
        """`nick!user@host` as every line shows a user: one host per door, on every node (an
        IRC client's `ident@irc.torbit`, as WHOIS says, also when it is on another node; a
        user of the other doors `name@torbit`)."""
        key = name_key(name)
        clients = self._clients.get(key)
        if clients:
            return clients[0].mask
        leaving = self._leaving.get(key)
        if leaving is not None:  # its QUIT being told
            return leaving
        d = self.core.subscriptions.details_elsewhere(key)
        if d is not None and d.ident:  # an IRC client on another node
            return f"{name}!{d.ident}@{HOST}"
        return f"{name}!{name.lower()}@{OTHER_DOORS_HOST}"

    def user_info(self, name: str) -> UserInfo:
        key = name_key(name)
        clients = self._clients.get(key)
        away = self.core.subscriptions.away_of(key)  # set on any door
        if clients:
            operator = any(self.core.operators.of(c) is not None for c in clients)
            return self.info_of(clients[0], away, operator)
        d = self.core.subscriptions.details_elsewhere(key)  # on another node
        if d is not None and d.ident:  # an IRC client there
            return UserInfo(
                name, d.ident, HOST, d.realname or name, away, name, None, False, d.invisible
            )
        return UserInfo(name, name.lower(), OTHER_DOORS_HOST, name, away, name, None)

    def away_of(self, name: str) -> str | None:
        return self.user_info(name).away

    def join_details(self, name: str) -> tuple[str, str]:
        info = self.user_info(name)
        return info.account or "*", info.realname

    def info_of(self, s: IrcSession, away: str | None = None, operator: bool = False) -> UserInfo:
        return UserInfo(s.nick, s.ident, HOST, s.realname, away or s.away, s.account, s, operator)

    async def shutdown(self, grace: float) -> None:
        self.pinger.stop()
        await super().shutdown(grace)

    def _close_for_shutdown(self, session: IrcSession) -> None:
        session.quit_reason = session.quit_reason or "Server shutting down"
        session.close("Server shutting down")
