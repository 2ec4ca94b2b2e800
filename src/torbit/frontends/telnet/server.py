"""The telnet door's listeners: plain and TLS sockets sharing one set of sessions."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import deque
from collections.abc import Coroutine
from typing import Any

from torbit.core.delivery import Session
from torbit.core.limits import ConnectionLimiter
from torbit.frontends.flow import FlushQueue
from torbit.frontends.proxied import ProxyGate, TrustedNetworks
from torbit.frontends.telnet.context import TelnetCore, TelnetOptions
from torbit.frontends.telnet.session import TelnetSession
from torbit.metrics import Metrics

log = logging.getLogger("torbit.telnet")

LOGOUT_SLICE = 0.005  # seconds of logouts per loop turn while many sessions leave at once


class TelnetServer:
    def __init__(
        self,
        core: TelnetCore,
        options: TelnetOptions,
        connections: ConnectionLimiter,
        metrics: Metrics,
    ) -> None:
        self.core = core
        self.options = options
        self.connections = connections
        self.metrics = metrics
        self.sessions: set[TelnetSession] = set()
        self.flushes = FlushQueue()
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
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
        loop = asyncio.get_running_loop()

        def session(peer: tuple[str, int] | None = None) -> asyncio.Protocol:
            return TelnetSession(self, door, refuse_login, peer)

        def gate() -> asyncio.Protocol:
            assert proxies is not None
            return ProxyGate(session, proxies, "telnet")

        self._servers.append(
            await loop.create_server(
                gate if proxies is not None else session,
                sock=sock,
                ssl=tls,
                ssl_handshake_timeout=10.0 if tls else None,
            )
        )

    def opened(self, session: Session) -> None:
        assert isinstance(session, TelnetSession)
        self.sessions.add(session)

    def closed(self, session: Session) -> None:
        assert isinstance(session, TelnetSession)
        self.sessions.discard(session)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a session's background work (logging out), keeping a reference until done."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def logout(self, session: Session) -> None:
        """Log a vanished session out soon. One task works through everyone who left, a few
        milliseconds at a time, so 10,000 clients dropping at once never hold the loop (a task
        each would all run in one turn: seconds before a newcomer is even greeted)."""
        self._leaving.append(session)
        if self._logouts is None:
            self._logouts = asyncio.get_running_loop().create_task(self._log_out_leavers())
            self._tasks.add(self._logouts)
            self._logouts.add_done_callback(self._finished)

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

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("telnet background task failed: %s", exc)

    def drain(self, text: str) -> None:
        """Stop accepting and ask every client to reconnect (to another node)."""
        for server in self._servers:
            server.close()
        for s in list(self.sessions):
            s.drain(text)

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
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
