"""The telnet door's listeners: plain and TLS sockets sharing one set of sessions."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import deque

from torbit.core.delivery import Session
from torbit.core.limits import ConnectionLimiter
from torbit.frontends.doors import LineDoor
from torbit.frontends.flow import FlushQueue
from torbit.frontends.proxied import TrustedNetworks
from torbit.frontends.telnet.context import TelnetCore, TelnetOptions
from torbit.frontends.telnet.session import TelnetSession
from torbit.metrics import Metrics

log = logging.getLogger("torbit.telnet")

LOGOUT_SLICE = 0.005  # seconds of logouts per loop turn while many sessions leave at once


class TelnetServer(LineDoor[TelnetSession]):
    def __init__(
        self,
        core: TelnetCore,
        options: TelnetOptions,
        connections: ConnectionLimiter,
        metrics: Metrics,
    ) -> None:
        super().__init__(log)
        self.core = core
        self.options = options
        self.connections = connections
        self.metrics = metrics
        self.flushes = FlushQueue()
        self._leaving: deque[Session] = deque()
        self._logouts: asyncio.Task[None] | None = None

    async def listen(
        self,
        sock: socket.socket,
        tls: ssl.SSLContext | None = None,
        refuse_login: str = "",
        proxies: TrustedNetworks | None = None,
    ) -> None:
        """Serve clients on a bound socket. With `refuse_login` set, clients are only told that
        (e.g. "use TLS") and disconnected: plaintext logins are off. With `proxies`, clients
        may come through PROXY protocol balancers (proxied.py)."""
        door = "telnet-tls" if tls else "telnet"

        def session(peer: tuple[str, int] | None) -> asyncio.Protocol:
            return TelnetSession(self, door, refuse_login, peer)

        await self._listen(sock, tls, proxies, door, session)

    def opened(self, session: Session) -> None:
        assert isinstance(session, TelnetSession)
        self.sessions.add(session)

    def closed(self, session: Session) -> None:
        assert isinstance(session, TelnetSession)
        self.sessions.discard(session)

    def logout(self, session: Session) -> None:
        """Log a vanished session out soon. One task works through everyone who left, a few
        milliseconds at a time, so 10,000 clients dropping at once never hold the loop (a task
        each would all run in one turn: seconds before a newcomer is even greeted)."""
        self._leaving.append(session)
        if self._logouts is None:
            self._logouts = asyncio.get_running_loop().create_task(self._log_out_leavers())
            self._track(self._logouts)

    async def _log_out_leavers(self) -> None:
        loop = asyncio.get_running_loop()
        leaving, sessions = self._leaving, self.core.sessions
        try:
            while leaving:
                until = loop.time() + LOGOUT_SLICE
                while True:  # at least one per slice, then as many as fit
                    session = leaving.popleft()
                    try:
                        await sessions.logout(session)
                    except Exception as e:  # one failed logout must not strand the rest
                        log.warning("telnet logout of %s failed: %s", session.user_key, e)
                    if not leaving or loop.time() >= until:
                        break
                await asyncio.sleep(0)  # let the loop poll sockets between slices
        finally:
            self._logouts = None
