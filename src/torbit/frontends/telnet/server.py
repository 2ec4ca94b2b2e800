"""The telnet door's listeners: plain and TLS sockets sharing one set of sessions."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Coroutine
from typing import Any

from torbit.core.delivery import Session
from torbit.core.limits import ConnectionLimiter
from torbit.frontends.flow import FlushQueue
from torbit.frontends.telnet.context import TelnetCore, TelnetOptions
from torbit.frontends.telnet.session import TelnetSession
from torbit.metrics import Metrics

log = logging.getLogger("torbit.telnet")


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

    async def listen(
        self, sock: socket.socket, tls: ssl.SSLContext | None = None, refuse_login: str = ""
    ) -> None:
        """Serve clients on a bound socket. With `refuse_login` set, clients are only told that
        (e.g. "use TLS") and disconnected: plaintext logins are off."""
        door = "telnet-tls" if tls else "telnet"
        loop = asyncio.get_running_loop()
        self._servers.append(
            await loop.create_server(
                lambda: TelnetSession(self, door, refuse_login),
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

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("telnet background task failed: %s", exc)

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
