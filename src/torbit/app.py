"""Composition root: picks backends by URL, builds the services and starts the front doors.
Nothing else constructs services; everything receives what it needs in its constructor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from torbit import __version__
from torbit.backends.registry import (
    claim_database,
    consumer_lag,
    fence_log,
    open_store,
    refuse_beside_local_log,
    refuse_beside_shared_log,
)
from torbit.backends.urls import redact
from torbit.banner import banner_lines
from torbit.config import Settings
from torbit.core.limits import ConnectionLimiter
from torbit.core.names import check_name
from torbit.door_wiring import http_server, irc_server, telnet_server
from torbit.errors import ConfigError, NodeStopped, ServiceUnavailable, StartupError
from torbit.frontends.http.server import HttpServer
from torbit.frontends.listeners import bind_all, raise_open_file_limit, tls_context
from torbit.frontends.proxied import TrustedNetworks
from torbit.gc_tuning import settle_garbage_collector
from torbit.logs import Logs, lean_records
from torbit.metrics import Metrics
from torbit.services import Core, message_log_of, start_core, timezone_of
from torbit.startup import new_paths, remove_new, sock_closer, startup_failure

if TYPE_CHECKING:
    from torbit.backends.store.claim import DatabaseClaim
    from torbit.frontends.irc.server import IrcServer
    from torbit.frontends.telnet.server import TelnetServer

log = logging.getLogger("torbit")

SHUTDOWN_GRACE = 3.0
GOODBYE_S = 2.0  # at most, for the store to take this node's goodbye to its feed

# How often the store and the message log are pinged for torbit_backend_up: a failed
# operation sets it to 0 at once, a successful probe back to 1.
PROBE_SECONDS = 2.0


class App:
    """One torbit node: `await start()`, then `await stop()` (or `run()` until a signal)."""

    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        self.settings = settings
        self.config_path = config_path  # for the banner: which file these settings came from
        self.metrics = Metrics()
        self.core: Core | None = None
        self.telnet: TelnetServer | None = None
        self.http: HttpServer | None = None
        self.irc: IrcServer | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._revocation_task: asyncio.Task[None] | None = None
        self._operators_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._claim_task: asyncio.Task[None] | None = None
        self._logs: Logs | None = None
        self.telnet_port: int | None = None
        self.telnet_tls_port: int | None = None
        self.http_port: int | None = None
        self.irc_port: int | None = None
        self.irc_tls_port: int | None = None
        self._stopped = asyncio.Event()
        self._drain_requested = asyncio.Event()
        self.draining = False
        self._opened: list[Callable[[], Awaitable[None]]] = []  # undone if start fails
        self._claim: DatabaseClaim | None = None  # of the database (local message log)
        self._claim_lost = asyncio.Event()
        self.failure: str | None = None  # why the node had to stop (run() raises NodeStopped)

    async def start(self) -> None:
        """Start everything, or fail with one StartupError line having created nothing: the
        data and log directories this start made are removed again."""
        s = self.settings
        made = new_paths(s)
        try:
            await self._start()
        except BaseException as e:
            await self._abandon()
            remove_new(made)
            if isinstance(e, Exception) and not isinstance(e, ConfigError):
                raise StartupError(startup_failure(e)) from e
            raise

    async def _abandon(self) -> None:
        """Undo a half-done start: what is open is closed (errors closing are secondary)."""
        if self.core is not None:  # stop() closes everything, the logs too
            with contextlib.suppress(Exception):
                await self.stop()
            return
        for closer in reversed(self._opened):
            with contextlib.suppress(Exception):
                await closer()
        if self._logs is not None:
            self._logs.close()
            self._logs = None

    async def _start(self) -> None:
        s = self.settings
        tz = timezone_of(s)
        raise_open_file_limit()
        telnet_tls = None
        if s.telnet.enabled and s.telnet.tls_cert and s.telnet.tls_key:
            telnet_tls = tls_context(s.telnet.tls_cert, s.telnet.tls_key, "telnet")
        irc_tls = None
        if s.irc.enabled and s.irc.tls_cert and s.irc.tls_key:
            irc_tls = tls_context(s.irc.tls_cert, s.irc.tls_key, "irc")
        http_tls = s.http.enabled and bool(s.http.tls_cert and s.http.tls_key)
        if http_tls:
            tls_context(s.http.tls_cert, s.http.tls_key, "http")  # fail early and clearly
        store = open_store(
            s.storage.url,
            s.storage.synchronous,
            consistency=s.storage.consistency,
            command_timeout=s.storage.command_timeout,
        )
        # One node per database with the local message log: claimed first, so a second node
        # started with the first one's config hears about the database, not a busy port.
        claim = self._claim = await claim_database(store, s.message_log.url)
        if claim is not None:
            self._opened.append(self._release)
        wanted: dict[str, tuple[str, int] | None] = {
            "telnet.port": (s.telnet.host, s.telnet.port) if s.telnet.enabled else None,
            "telnet.tls_port": (s.telnet.host, s.telnet.tls_port) if telnet_tls else None,
            "http.port": (s.http.host, s.http.port) if s.http.enabled else None,
            "irc.port": (s.irc.host, s.irc.port) if s.irc.enabled else None,
            "irc.tls_port": (s.irc.host, s.irc.tls_port) if irc_tls else None,
        }
        bound = bind_all(wanted)
        self._opened.extend(sock_closer(sock) for sock in bound.values())
        check_name(s.chat.default_room, "chat.default_room")
        # once the ports are ours: a busy port leaves no files
        self._logs = logs = Logs(s.log, on_lost=self.metrics.transcript_lost.inc)

        # engines
        await store.open()
        self._opened.append(store.close)
        if claim is not None:
            expiry = s.message_log.presence_expiry_seconds
            await refuse_beside_shared_log(store, s.storage.url, expiry)
        else:
            await refuse_beside_local_log(store, s.storage.url, s.message_log.url)
        message_log = message_log_of(s, store)
        self.metrics.watch_backend("store", store.health)
        self.metrics.watch_backend("message_log", message_log.health)
        pings: dict[str, Callable[[], Awaitable[None]]] = {
            "store": store.ping,
            "message_log": message_log.ping,
        }
        if (lag := consumer_lag(s.message_log.url, message_log)) is not None:
            self.metrics.watch_lag(lag)
        if claim is not None:  # the local log commits only while the claim is held
            fence_log(message_log, claim)
            self.metrics.watch_backend("claim", claim.health)
            pings["claim"] = claim.ping

        core = await start_core(
            s, store, message_log, self.metrics, logs.transcript.write_all, self._opened
        )
        connections = ConnectionLimiter(
            s.limits.connections_per_ip,
            s.limits.max_connections,
            s.limits.connection_rate,
            s.limits.connection_burst,
        )

        # the doors
        if s.telnet.enabled:
            self.telnet = telnet_server(s, core, connections, self.metrics, tz)
            refuse = ""
            if not s.telnet.allow_plaintext_login:
                refuse = "plaintext logins are disabled here: connect with TLS"
                if telnet_tls is not None:
                    refuse += f" to port {bound['telnet.tls_port'].getsockname()[1]}"
            telnet = self.telnet
            self._opened.append(lambda: telnet.shutdown(0))
            await self.telnet.listen(
                bound["telnet.port"],
                refuse_login=refuse,
                proxies=TrustedNetworks(s.telnet.trusted_proxies)
                if s.telnet.proxy_protocol
                else None,
            )
            self.telnet_port = bound["telnet.port"].getsockname()[1]
            if telnet_tls is not None:
                await self.telnet.listen(
                    bound["telnet.tls_port"],
                    telnet_tls,
                    plain_port=self.telnet_port if s.telnet.allow_plaintext_login else None,
                )
                self.telnet_tls_port = bound["telnet.tls_port"].getsockname()[1]
        if s.http.enabled:
            self.http = http_server(
                s,
                core,
                store,
                message_log,
                connections,
                self.metrics,
                not_draining=self._not_draining,
                drain=self.request_drain,
                troubles=lambda: [
                    f"transcript: {p}" for p in [logs.transcript.problem] if p is not None
                ],
            )
            await self.http.start(bound["http.port"])
            self.http_port = bound["http.port"].getsockname()[1]
        if s.irc.enabled:
            await self._start_irc(
                irc_server(s, core, connections, self.metrics),
                bound["irc.port"],
                bound.get("irc.tls_port"),
                irc_tls,
            )
        self.core = core
        self._purge_task = asyncio.create_task(core.retention.run())
        self._revocation_task = asyncio.create_task(core.revocations.run())
        self._operators_task = asyncio.create_task(core.operators.run())
        if core.heartbeat is not None:
            self._heartbeat_task = asyncio.create_task(core.heartbeat.run())
        self._probe_task = asyncio.create_task(self._probe(pings))
        if claim is not None:
            self._claim_task = asyncio.create_task(self._keep_claim(claim))
        for line in banner_lines(
            version=__version__,
            database=redact(s.storage.url),
            message_log=redact(s.message_log.url),
            config=self.config_path,
            telnet=(s.telnet.host, self.telnet_port) if self.telnet_port else None,
            telnet_tls=(s.telnet.host, self.telnet_tls_port) if self.telnet_tls_port else None,
            http=(s.http.host, self.http_port, http_tls) if self.http_port else None,
            irc=(s.irc.host, self.irc_port) if self.irc_port else None,
            irc_tls=(s.irc.host, self.irc_tls_port) if self.irc_tls_port else None,
            log_dir=str(s.log.dir),
        ):
            log.info("%s", line)

    async def _start_irc(
        self,
        irc: IrcServer,
        sock: socket.socket,
        tls_sock: socket.socket | None,
        tls: ssl.SSLContext | None,
    ) -> None:
        s = self.settings
        self.irc = irc
        await self.irc.listen(
            sock, proxies=TrustedNetworks(s.irc.trusted_proxies) if s.irc.proxy_protocol else None
        )
        self.irc_port = sock.getsockname()[1]
        if tls_sock is not None and tls is not None:
            await self.irc.listen(tls_sock, tls, plain_port=self.irc_port)
            self.irc_tls_port = tls_sock.getsockname()[1]

    async def _probe(self, pings: dict[str, Callable[[], Awaitable[None]]]) -> None:
        """Ping each backend every PROBE_SECONDS, side by side (one may hang until its
        timeout), for torbit_backend_up; failures are counted by the backends' health."""

        async def probe(backend: str, ping: Callable[[], Awaitable[None]]) -> None:
            up = self.metrics.backend_up.labels(backend)
            while True:
                await asyncio.sleep(PROBE_SECONDS)
                try:
                    await ping()
                except ServiceUnavailable:
                    up.set(0)
                except Exception:
                    log.exception("probing the %s failed", backend)
                    up.set(0)
                else:
                    up.set(1)

        await asyncio.gather(*(probe(backend, ping) for backend, ping in pings.items()))

    async def _keep_claim(self, claim: DatabaseClaim) -> None:
        """Keep the claim on the database while serving; once it is lost for good (another
        node took it) say so and have `run()` stop the node, which exits 3. A watch that
        failed (a bug) stops the node too: it could no longer tell it is alone."""
        try:
            line = await claim.keep()
        except Exception:
            log.exception("watching the claim on the database failed")
            line = "the claim on the database is no longer watched: this node stops"
        log.error("%s", line)
        self.failure = line
        self._claim_lost.set()

    async def _release(self) -> None:
        """Give up the claim on the database (local message log), once."""
        claim, self._claim = self._claim, None
        if claim is not None:
            await claim.release()

    async def _not_draining(self) -> None:
        if self.draining:
            raise ServiceUnavailable("draining: reconnect to another node")

    def request_drain(self) -> float:
        """Ask `run()` to drain and exit (POST /admin/drain); returns node.drain_seconds,
        for the answer: `torbit node drain` runs with its own config, maybe not the node's."""
        self._drain_requested.set()
        return self.settings.node.drain_seconds

    def clients(self) -> int:
        """Connections still open on the telnet, IRC and WebSocket doors."""
        return (
            (len(self.telnet.sessions) if self.telnet is not None else 0)
            + (len(self.irc.sessions) if self.irc is not None else 0)
            + (self.http.websockets if self.http is not None else 0)
        )

    async def drain(self, within: float | None = None) -> int:
        """Leave without cutting anyone: stop accepting, report not ready (/readyz 503, so a
        balancer sends newcomers elsewhere), ask every client to reconnect (telnet: a line;
        WebSocket: close 1012; IRC: NOTICE and ERROR), each after the command it is running
        has been answered, then wait until they are gone or `within` (node.drain_seconds)
        has passed. Clients are asked only `node.drain_delay_seconds` after readiness went,
        once the balancer has seen it, so they are not sent straight back here. Returns how
        many were still connected. `stop()` follows."""
        if self.core is None or self.draining:
            return self.clients()
        self.draining = True
        node = self.settings.node
        within = node.drain_seconds if within is None else within
        loop = asyncio.get_running_loop()
        started = loop.time()
        if node.drain_delay_seconds and within:
            log.info(
                "draining: not ready; clients asked to leave in %g s", node.drain_delay_seconds
            )
            await asyncio.sleep(min(node.drain_delay_seconds, within))
        log.info("draining: %d clients asked to reconnect elsewhere", self.clients())
        text = "this server is restarting: please reconnect"
        if self.telnet is not None:
            self.telnet.drain(text)
        if self.irc is not None:
            self.irc.drain(text)
        if self.http is not None:
            self.http.drain(text)
        while self.clients() and loop.time() - started < within:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        left = self.clients()
        log.info(
            "drained in %.1f s: %d clients %s",
            loop.time() - started,
            left,
            "still connected (closed now)" if left else "left",
        )
        return left

    @staticmethod
    async def _goodbye(core: Core) -> None:
        """No longer applying the store's feed: the CLI stops waiting for this node."""
        try:
            async with asyncio.timeout(GOODBYE_S):
                await core.revocations.goodbye()
        except Exception as e:  # the stop goes on whatever the store does (a CLI waits)
            log.warning("could not tell the store this node stops applying its feed: %r", e)

    async def stop(self) -> None:
        """Stop accepting, tell everyone, let output drain, then close the engines in order.
        Every step runs even if an earlier one fails or times out."""
        if self.core is None:
            return
        core, self.core = self.core, None
        try:
            tasks = (
                self._purge_task,
                self._revocation_task,
                self._operators_task,
                self._heartbeat_task,
                self._probe_task,
                self._claim_task,
            )
            for task in tasks:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self._goodbye(core)
            if self.http is not None:
                self.http.begin_shutdown()
            core.sessions.shutdown_notice("server is shutting down, bye")
            if self.telnet is not None:
                await self.telnet.shutdown(SHUTDOWN_GRACE)
            if self.irc is not None:
                await self.irc.shutdown(SHUTDOWN_GRACE)
            if self.http is not None and not await self.http.wait_closed(SHUTDOWN_GRACE + 2):
                log.warning("http server did not stop within %s s", SHUTDOWN_GRACE + 2)
            await core.subscriptions.close()
            await core.comeback.close(SHUTDOWN_GRACE)
            if core.heartbeat is not None:
                await core.heartbeat.stop()
            core.accounts.hashing.close()
        finally:
            try:
                await core.message_log.close()
            finally:
                try:
                    try:
                        await core.end_tasks()  # none holds a store connection past its close
                    finally:
                        await core.store.close()
                finally:
                    await self._release()
                log.info("torbit stopped")
                if self._logs is not None:
                    self._logs.close()
                self._stopped.set()

    async def run(self) -> None:
        """Serve until a signal. SIGTERM (or POST /admin/drain) drains first (`drain()`);
        SIGINT, or a second SIGTERM while draining, stops at once (still gracefully)."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        drain = self._drain_requested

        def terminate() -> None:
            (stop if drain.is_set() else drain).set()

        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, terminate)
        await self.start()
        settle_garbage_collector()
        lean_records()
        try:
            asked = asyncio.ensure_future(drain.wait())
            stopped = asyncio.ensure_future(stop.wait())
            lost = asyncio.ensure_future(self._claim_lost.wait())
            now = (stopped, lost)  # stop without draining
            await asyncio.wait((asked, *now), return_when=asyncio.FIRST_COMPLETED)
            if not any(f.done() for f in now):
                draining = asyncio.ensure_future(self.drain())
                await asyncio.wait((draining, *now), return_when=asyncio.FIRST_COMPLETED)
                draining.cancel()
            for f in (asked, *now):
                f.cancel()
        finally:
            log.info("shutting down")
            await self.stop()
        if self.failure is not None:
            raise NodeStopped(self.failure)
