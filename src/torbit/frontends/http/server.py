"""The HTTP door's server: uvicorn inside torbit's own event loop, on a socket bound before
start-up, with bounded request heads and bodies and connections counted per address."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

from torbit.errors import ConfigError
from torbit.frontends.handshake import HandshakeGate, Handshakes, PlainAnswer
from torbit.frontends.http import (
    create_http_app,
    drain_http_app,
    http_protocol,
    open_websockets,
    shutdown_http_app,
)
from torbit.frontends.http.context import HttpCore, HttpOptions
from torbit.frontends.http.doorman import HEAD_ENDS, HttpDoor
from torbit.frontends.http.guard import MAX_HEAD_BYTES, error_answer
from torbit.frontends.http.proxies import TrustedProxies
from torbit.frontends.listeners import LISTEN_BACKLOG

# at a stop, the longest wait for the requests uvicorn cancelled past its graceful bound
CANCELLED_WAIT = 1.0
# a plain HTTP request on the HTTPS port (http:// typed for https://), answered once its head
# is in (handshake.py), as nginx does: 400 and why, in the API's error shape
PLAIN = PlainAnswer(
    error_answer(
        400,
        "bad_request",
        "the plain HTTP request was sent to the HTTPS port: use https:// for this port",
    ),
    HEAD_ENDS,
    MAX_HEAD_BYTES,
)


def _embedded_uvicorn() -> type[Any]:
    import uvicorn

    uvicorn_log = logging.getLogger("uvicorn.error")

    class EmbeddedUvicorn(uvicorn.Server):
        """uvicorn inside our loop: signals are the App's to handle, not uvicorn's."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        async def main_loop(self) -> None:
            """uvicorn's loop of once-a-tenth-of-a-second ticks (the Date header, the exit
            flag), except that `exit_now` ends the wait at once: a stop no longer waits out
            the tick (tests start and stop hundreds of servers)."""
            self.exit_now = asyncio.Event()
            counter = 0
            should_exit = await self.on_tick(counter)
            while not should_exit:
                counter = (counter + 1) % 864000
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.exit_now.wait(), 0.1)
                should_exit = await self.on_tick(counter)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            """uvicorn's shutdown without its fixed 0.1 s sleep once the connections are asked
            to close: one loop turn lets the idle ones go (their `connection_lost`), then
            uvicorn's own wait for the rest and for the requests' tasks, within its bound
            (`timeout_graceful_shutdown`); the tasks it then cancels are awaited too (at most
            CANCELLED_WAIT), their connections cut, so no request runs on into the store's
            close and no connection stays open past the stop. A stop with nothing
            open no longer takes 0.1 s (tests start and stop hundreds of nodes)."""
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            state = self.server_state
            for connection in list(state.connections):
                connection.shutdown()
            await asyncio.sleep(0)
            try:
                async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                    await self._wait_tasks_to_complete()
            except TimeoutError:
                tasks = list(state.tasks)
                uvicorn_log.error(
                    "cancelling %d request task(s) still running at shutdown", len(tasks)
                )
                for task in tasks:
                    task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
                # and the connections still open are cut: a client that reads nothing holds
                # its own forever (a close waits for the output to go out), and a request
                # writing to it (a cancelled one answers 500) waits for it to drain
                _cut(state)
                if tasks:
                    await asyncio.wait(tasks, timeout=CANCELLED_WAIT)
            if not self.force_exit:
                await self.lifespan.shutdown()

    return EmbeddedUvicorn


def _cut(state: Any) -> None:
    """Abort the connections of uvicorn's `state` still open."""
    for connection in list(state.connections):
        connection.transport.abort()


def _handshake_counted(
    config: Any, core: HttpCore, options: HttpOptions, pending: Handshakes
) -> None:
    """HTTPS connections count against the connection limits from their accept, through
    their handshake (frontends/handshake.py): uvicorn listens on plain TCP, and each
    connection's first protocol runs the handshake, then hands it to uvicorn's."""
    tls, protocol = config.ssl, config.http_protocol_class
    proxies = TrustedProxies(options.trusted_proxies)

    def gated(**kwargs: Any) -> asyncio.Protocol:
        return HandshakeGate(
            lambda counted, refused: protocol.arrived(kwargs, counted, refused),
            tls,
            core.connections,
            proxies.trusts,
            pending,
            PLAIN,
            protocol.refusals,
        )

    config.ssl = None
    config.http_protocol_class = gated


class HttpServer:
    """`await start(sock)`, then `begin_shutdown()` (long polls answer at once) and
    `await wait_closed(within)`."""

    def __init__(self, core: HttpCore, options: HttpOptions, tls_cert: str, tls_key: str):
        self._core = core
        self._options = options
        self._tls = (tls_cert, tls_key)
        self._server: Any = None  # uvicorn.Server
        self._task: asyncio.Task[None] | None = None
        self._handshakes = Handshakes()  # HTTPS connections not past their handshake yet
        self._door: HttpDoor | None = None  # each connection's first protocol (doorman.py)

    async def start(self, sock: socket.socket) -> None:
        import uvicorn

        from torbit.frontends.http.ws_inbound import bounded_protocol
        from torbit.frontends.http.ws_session import FRAME_BUDGET

        core, options = self._core, self._options
        door = self._door = http_protocol(core, options, self._handshakes)
        config = uvicorn.Config(
            create_http_app(core, options),
            # bounded heads and bodies, connections counted per address (with telnet's)
            http=door.protocol,
            # forwarding headers are read by the app, from http.trusted_proxies only
            proxy_headers=False,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws_max_size=options.max_body_bytes,
            # unread incoming messages bounded (uvicorn queued a whole chunk's, inflated),
            # and unsent pongs (a ping flood from a client that does not read); a text
            # message that is not UTF-8 counted with the odd requests, not logged each
            ws=bounded_protocol(4 * options.ws_max_queue * FRAME_BUDGET, door.odd),
            ws_ping_interval=options.ws_keepalive,
            ws_ping_timeout=options.ws_keepalive,
            timeout_graceful_shutdown=1,
            backlog=LISTEN_BACKLOG,  # listens again on `sock` (listeners.py)
            ssl_certfile=self._tls[0] or None,
            ssl_keyfile=self._tls[1] or None,
        )
        config.load()
        # each connection's first protocol: a refused one never gets uvicorn's (doorman.py)
        config.http_protocol_class = door  # type: ignore[assignment]
        if config.ssl is not None:
            config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
            _handshake_counted(config, core, options, self._handshakes)
        server = self._server = _embedded_uvicorn()(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._task.done():
                self._task.result()
                raise ConfigError("http server failed to start")
            await asyncio.sleep(0.01)

    def drain(self, text: str) -> None:
        """The node is leaving: WebSockets close with 1012; plain requests are still answered
        (/readyz with 503) until the node stops."""
        if self._server is not None:
            drain_http_app(self._server.config.app, text)

    @property
    def websockets(self) -> int:
        return open_websockets(self._server.config.app) if self._server is not None else 0

    def begin_shutdown(self) -> None:
        """Stop accepting; waiting long polls answer now instead of being cut; TLS
        handshakes not done are cut."""
        self._handshakes.cut()
        if self._door is not None:
            for tally in (self._door.refusals.tally, self._door.odd):
                tally.stop()  # what it counted and had not told yet
        if self._server is not None:
            shutdown_http_app(self._server.config.app)
            self._server.should_exit = True
            exit_now = getattr(self._server, "exit_now", None)
            if exit_now is not None:
                exit_now.set()

    async def wait_closed(self, within: float) -> bool:
        """False if the server did not stop in time."""
        self._handshakes.cut()  # any accepted since `begin_shutdown`
        if self._task is None:
            return True
        try:
            await asyncio.wait_for(self._task, within)
        except (TimeoutError, asyncio.CancelledError):
            _cut(self._server.server_state)  # its shutdown cancelled midway
            return False
        return True
