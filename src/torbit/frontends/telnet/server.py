"""The telnet door's listeners: plain and TLS sockets sharing one set of sessions."""

from __future__ import annotations

import logging
import socket
import ssl

from torbit.core.delivery import Session
from torbit.core.limits import ConnectionLimiter
from torbit.frontends.doors import LineDoor
from torbit.frontends.handshake import PlainAnswer
from torbit.frontends.proxied import TrustedNetworks
from torbit.frontends.telnet.context import TelnetCore, TelnetOptions
from torbit.frontends.telnet.session import TelnetSession
from torbit.metrics import Metrics

log = logging.getLogger("torbit.telnet")


def tls_only(plain_port: int | None) -> PlainAnswer:
    """The TLS port's words to a plain telnet client, once it sends a line (or negotiates
    options: IAC; a telnet client that sends nothing until typed to waits for its line)."""
    where = (
        f"use port {plain_port} for plain text"
        if plain_port
        else "connect with a TLS client (openssl s_client -connect HOST:PORT)"
    )
    return PlainAnswer(f"This port speaks TLS: {where}.\r\n".encode(), (b"\n", b"\r", b"\xff"))


class TelnetServer(LineDoor[TelnetSession]):
    def __init__(
        self,
        core: TelnetCore,
        options: TelnetOptions,
        connections: ConnectionLimiter,
        metrics: Metrics,
    ) -> None:
        super().__init__(log, connections, metrics, options.flush_window, TelnetSession.refusal)
        self.core = core
        self.options = options

    async def listen(
        self,
        sock: socket.socket,
        tls: ssl.SSLContext | None = None,
        refuse_login: str = "",
        proxies: TrustedNetworks | None = None,
        plain_port: int | None = None,
    ) -> None:
        """Serve clients on a bound socket. With `refuse_login` set, clients are only told that
        (e.g. "use TLS") and disconnected: plaintext logins are off. With `proxies`, clients
        may come through PROXY protocol balancers (proxied.py). On a TLS socket, a plain
        telnet client is told so (and of `plain_port`, the plain port that takes logins)."""
        door = "telnet-tls" if tls else "telnet"

        def session(peer: tuple[str, int] | None) -> TelnetSession:
            return TelnetSession(self, door, refuse_login, peer)

        await self._listen(sock, tls, proxies, door, session, tls_only(plain_port))

    def opened(self, session: Session) -> None:
        assert isinstance(session, TelnetSession)
        self.sessions.add(session)

    def depart(self, session: TelnetSession, log_out: bool = True) -> None:
        """Online nowhere from now on; forgotten soon (`_log_out`). The room it talked in
        is where the user's next login goes, and is marked read up to now if its join passed
        over nothing unread (core/comeback.py); a session our side closed, or whose client's
        EOF came first, made that move then (`TelnetSession._deaf`)."""
        if log_out:
            room = session.room
            if room is not None and self.core.subscriptions.is_listening(session, room.key):
                read = session.shown_all
                self.core.comeback.left(session.user_key, room.key, read=read, last=True)
            session.inbox_left()
            self.core.subscriptions.depart(session)
        super().depart(session, log_out)

    async def _log_out(self, session: TelnetSession, log_out: bool) -> None:
        """A vanished session's departure (`LineDoor.depart`), batched with others leaving."""
        self.sessions.discard(session)
        self.metrics.connected_on(session.door).dec()
        if log_out:
            await self.core.sessions.logout(session)
