"""Composition root: picks backends by URL, builds the services and starts the front doors.
Nothing else constructs services; everything receives what it needs in its constructor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher

from torbit.backends.registry import open_log, open_store
from torbit.config import Settings
from torbit.core.accounts import Accounts
from torbit.core.events import NodeEvents
from torbit.core.guests import Guests
from torbit.core.ignores import Ignores
from torbit.core.limits import ConnectionLimiter, LoginThrottle, RateLimiter
from torbit.core.membership import Membership, RoomRules
from torbit.core.messaging import Messaging
from torbit.core.moderation import Moderation
from torbit.core.mutes import Mutes
from torbit.core.names import check_name
from torbit.core.ports import MessageLog, Store
from torbit.core.retention import Retention
from torbit.core.sessions import Sessions
from torbit.core.subscriptions import Subscriptions
from torbit.core.tokens import Tokens
from torbit.errors import ConfigError
from torbit.frontends.http.context import HttpCore, HttpOptions
from torbit.frontends.irc.context import IrcCore, IrcOptions
from torbit.frontends.telnet.context import TelnetCore, TelnetOptions
from torbit.logs import Logs
from torbit.metrics import Metrics

if TYPE_CHECKING:
    from torbit.frontends.irc.server import IrcServer
    from torbit.frontends.telnet.server import TelnetServer

log = logging.getLogger("torbit")

SHUTDOWN_GRACE = 3.0


@dataclass(frozen=True, slots=True)
class Core:
    """Every service built for this node, for the CLI and tests: each door is given only the
    services it uses, never this."""

    store: Store
    message_log: MessageLog
    subscriptions: Subscriptions
    sessions: Sessions
    accounts: Accounts
    membership: Membership
    messaging: Messaging
    ignores: Ignores
    moderation: Moderation
    mutes: Mutes
    retention: Retention
    guests: Guests


def timezone_of(settings: Settings) -> tzinfo:
    try:
        return ZoneInfo(settings.chat.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"config key chat.timezone: unknown time zone {settings.chat.timezone!r}"
        ) from None


def bind(host: str, port: int, what: str) -> socket.socket:
    """Bind a listening socket now, so a port in use stops start-up with a clear line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, addr = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(4096)
        sock.setblocking(False)
    except OSError as e:
        raise ConfigError(
            f"config key {what}.port: cannot listen on {host}:{port}: {e.strerror}"
        ) from None
    return sock


def tls_context(cert: str, key: str, section: str) -> ssl.SSLContext:
    """A server context with TLS 1.2 as the floor; a bad file names its config key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(
            f"config keys {section}.tls_cert/{section}.tls_key: cannot load {cert}, {key}: {e}"
        ) from None
    return ctx


def profanity_filter(settings: Settings) -> Callable[[str], str] | None:
    if settings.moderation.profanity == "off":
        return None
    from torbit.filters import ProfanityFilter

    return ProfanityFilter(
        settings.moderation.profanity, settings.moderation.extra_words_file
    ).apply


def raise_open_file_limit() -> None:
    """Thousands of clients need thousands of descriptors: take what the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _embedded_uvicorn() -> type[Any]:
    import uvicorn

    class EmbeddedUvicorn(uvicorn.Server):
        """uvicorn inside our loop: signals are the App's to handle, not uvicorn's."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return EmbeddedUvicorn


class App:
    """One torbit node: `await start()`, then `await stop()` (or `run()` until a signal)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.core: Core | None = None
        self.telnet: TelnetServer | None = None
        self.irc: IrcServer | None = None
        self._http: Any = None  # uvicorn.Server
        self._http_task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._logs: Logs | None = None
        self.telnet_port: int | None = None
        self.telnet_tls_port: int | None = None
        self.http_port: int | None = None
        self.irc_port: int | None = None
        self.irc_tls_port: int | None = None
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        s = self.settings
        tz = timezone_of(s)
        raise_open_file_limit()
        self._logs = Logs(s.log)
        telnet_tls = None
        if s.telnet.enabled and s.telnet.tls_cert and s.telnet.tls_key:
            telnet_tls = tls_context(s.telnet.tls_cert, s.telnet.tls_key, "telnet")
        irc_tls = None
        if s.irc.enabled and s.irc.tls_cert and s.irc.tls_key:
            irc_tls = tls_context(s.irc.tls_cert, s.irc.tls_key, "irc")
        http_tls = s.http.enabled and bool(s.http.tls_cert and s.http.tls_key)
        if http_tls:
            tls_context(s.http.tls_cert, s.http.tls_key, "http")  # fail early and clearly
        bound: list[socket.socket] = []
        try:
            if s.telnet.enabled:
                bound.append(telnet_sock := bind(s.telnet.host, s.telnet.port, "telnet"))
            if telnet_tls is not None:
                bound.append(tls_sock := bind(s.telnet.host, s.telnet.tls_port, "telnet.tls"))
            if s.http.enabled:
                bound.append(http_sock := bind(s.http.host, s.http.port, "http"))
            if s.irc.enabled:
                bound.append(irc_sock := bind(s.irc.host, s.irc.port, "irc"))
            if irc_tls is not None:
                bound.append(irc_tls_sock := bind(s.irc.host, s.irc.tls_port, "irc.tls"))
        except ConfigError:
            for sock in bound:
                sock.close()
            raise
        check_name(s.chat.default_room, "chat.default_room")

        # engines
        store = open_store(s.storage.url, s.storage.synchronous)
        await store.open()
        message_log = open_log(
            s.message_log.url,
            store,
            topic_prefix=s.message_log.topic_prefix,
            replication_factor=s.message_log.replication_factor,
            retention_hours=s.chat.retention_hours,
            fetch_wait_ms=s.message_log.fetch_wait_ms,
        )

        # the core
        events = NodeEvents(message_log)
        transcript = self._logs.transcript
        latency = self.metrics.delivery_latency
        subscriptions = Subscriptions(
            message_log,
            tz,
            on_event=events.receive,
            transcript=transcript.write,
            on_delivered=lambda _message, lag: latency.observe(lag),
        )
        self.metrics.count_deliveries(lambda: subscriptions.delivered)
        accounts = Accounts(
            store,
            registration_open=s.chat.registration == "open",
            min_password_length=s.accounts.min_password_length,
            hasher=PasswordHasher(
                time_cost=s.accounts.argon2_time_cost,
                memory_cost=s.accounts.argon2_memory_kib,
                parallelism=s.accounts.argon2_parallelism,
            ),
            throttle=LoginThrottle(
                free=s.limits.login_free_attempts, cap=s.limits.login_backoff_max
            ),
        )
        sessions = Sessions(store, subscriptions, s.chat.presence_notices_max)
        membership = Membership(
            store,
            message_log,
            subscriptions,
            sessions,
            RoomRules(s.chat.default_room, s.chat.history_on_join, s.limits.rooms_per_user),
        )
        ignores = Ignores(store, subscriptions, events)
        mutes = Mutes()
        messaging = Messaging(
            store,
            message_log,
            membership,
            ignores,
            mutes,
            max_message_bytes=s.chat.max_message_bytes,
            rate=RateLimiter(s.limits.message_rate, s.limits.message_burst),
            room_rate=RateLimiter(s.limits.room_message_rate, s.limits.room_message_burst),
            text_filter=profanity_filter(s),
        )
        moderation = Moderation(store, membership, subscriptions, events, mutes)
        await moderation.start()
        guests = Guests(
            store, subscriptions, sessions, membership, mutes, reserved=[s.irc.server_name]
        )
        if s.message_log.url == "local":  # one node: any guest left in the store is stale
            await guests.sweep()
        await message_log.start(subscriptions.route)
        await events.start()
        connections = ConnectionLimiter(s.limits.connections_per_ip, s.limits.max_connections)

        # the doors
        if s.telnet.enabled:
            from torbit.frontends.telnet.server import TelnetServer

            self.telnet = TelnetServer(
                TelnetCore(
                    accounts, sessions, membership, messaging, ignores, moderation, subscriptions
                ),
                TelnetOptions(
                    s.telnet.max_output_buffer,
                    s.chat.max_message_bytes,
                    s.telnet.login_timeout,
                    s.chat.default_room,
                    tz,
                ),
                connections,
                self.metrics,
            )
            refuse = ""
            if not s.telnet.allow_plaintext_login:
                refuse = "plaintext logins are disabled here: connect with TLS"
                if telnet_tls is not None:
                    refuse += f" to port {tls_sock.getsockname()[1]}"
            await self.telnet.listen(telnet_sock, refuse_login=refuse)
            self.telnet_port = telnet_sock.getsockname()[1]
            if telnet_tls is not None:
                await self.telnet.listen(tls_sock, telnet_tls)
                self.telnet_tls_port = tls_sock.getsockname()[1]
        if s.http.enabled:
            tokens = Tokens(store, timedelta(hours=s.http.token_ttl_hours))
            core = HttpCore(
                accounts,
                tokens,
                sessions,
                membership,
                messaging,
                ignores,
                moderation,
                subscriptions,
                connections,
                self.metrics,
                readiness={
                    "store": lambda: store.ping(),
                    "message log": lambda: message_log.ping(),
                },
            )
            options = HttpOptions(
                s.http.max_body_bytes,
                max(s.http.ws_max_queue, s.chat.history_on_join + 16),  # history never drops
                s.chat.default_room,
            )
            await self._start_http(core, options, http_sock)
            self.http_port = http_sock.getsockname()[1]
        if s.irc.enabled:
            await self._start_irc(
                IrcCore(
                    accounts,
                    guests,
                    sessions,
                    membership,
                    messaging,
                    ignores,
                    moderation,
                    subscriptions,
                ),
                connections,
                irc_sock,
                irc_tls_sock if irc_tls is not None else None,
                irc_tls,
            )
        retention = Retention(store, message_log, timedelta(hours=s.chat.retention_hours))
        self.core = Core(
            store,
            message_log,
            subscriptions,
            sessions,
            accounts,
            membership,
            messaging,
            ignores,
            moderation,
            mutes,
            retention,
            guests,
        )
        self._purge_task = asyncio.create_task(retention.run())
        log.info(
            "torbit serving: telnet %s, telnet-tls %s, http%s %s, irc %s, irc-tls %s, "
            "storage %s, message log %s",
            self.telnet_port,
            self.telnet_tls_port,
            "s" if http_tls else "",
            self.http_port,
            self.irc_port,
            self.irc_tls_port,
            s.storage.url,
            s.message_log.url,
        )

    async def _start_irc(
        self,
        core: IrcCore,
        connections: ConnectionLimiter,
        sock: socket.socket,
        tls_sock: socket.socket | None,
        tls: ssl.SSLContext | None,
    ) -> None:
        from torbit import __version__
        from torbit.frontends.irc.server import IrcServer

        s = self.settings
        self.irc = IrcServer(
            core,
            IrcOptions(
                server_name=s.irc.server_name,
                motd=s.irc.motd,
                guests=s.irc.guests,
                registration_timeout=s.irc.registration_timeout,
                max_output_buffer=s.irc.max_output_buffer,
                rooms_per_user=s.limits.rooms_per_user,
                version=f"torbit-{__version__}",
            ),
            connections,
            self.metrics,
        )
        await self.irc.listen(sock)
        self.irc_port = sock.getsockname()[1]
        if tls_sock is not None and tls is not None:
            await self.irc.listen(tls_sock, tls)
            self.irc_tls_port = tls_sock.getsockname()[1]

    async def _start_http(self, core: HttpCore, options: HttpOptions, sock: socket.socket) -> None:
        import uvicorn

        from torbit.frontends.http import create_http_app
        from torbit.frontends.http.guard import GuardedHttpTools

        config = uvicorn.Config(
            create_http_app(core, options),
            http=GuardedHttpTools,  # bounded request heads: no slowloris, no endless headers
            log_config=None,
            access_log=False,
            lifespan="off",
            ws_max_size=options.max_body_bytes,
            timeout_graceful_shutdown=1,
            ssl_certfile=self.settings.http.tls_cert or None,
            ssl_keyfile=self.settings.http.tls_key or None,
        )
        config.load()
        if config.ssl is not None:
            config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        server = _embedded_uvicorn()(config)
        self._http = server
        self._http_task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._http_task.done():
                self._http_task.result()
                raise ConfigError("http server failed to start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop accepting, tell everyone, let output drain, then close the engines in order.
        Every step runs even if an earlier one fails or times out."""
        if self.core is None:
            return
        core, self.core = self.core, None
        try:
            if self._purge_task is not None:
                self._purge_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._purge_task
            if self._http is not None:
                from torbit.frontends.http import shutdown_http_app

                shutdown_http_app(self._http.config.app)
                self._http.should_exit = True
            core.sessions.shutdown_notice("server is shutting down, bye")
            if self.telnet is not None:
                await self.telnet.shutdown(SHUTDOWN_GRACE)
            if self.irc is not None:
                await self.irc.shutdown(SHUTDOWN_GRACE)
            if self._http_task is not None:
                try:
                    await asyncio.wait_for(self._http_task, SHUTDOWN_GRACE + 2)
                except (TimeoutError, asyncio.CancelledError):
                    log.warning("http server did not stop within %s s", SHUTDOWN_GRACE + 2)
            await core.subscriptions.close()
        finally:
            try:
                await core.message_log.close()
            finally:
                await core.store.close()
                log.info("torbit stopped")
                if self._logs is not None:
                    self._logs.close()
                self._stopped.set()

    async def run(self) -> None:
        """Serve until SIGINT or SIGTERM, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await self.stop()
