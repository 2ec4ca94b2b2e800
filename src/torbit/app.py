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
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher

from torbit.backends.registry import open_log, open_store
from torbit.config import Settings
from torbit.core.accounts import Accounts
from torbit.core.chat import Chat, ChatRules
from torbit.core.hub import Hub
from torbit.core.limits import ConnectionLimiter, LoginThrottle, RateLimiter
from torbit.core.models import Message
from torbit.core.moderation import Moderation
from torbit.core.names import EVENTS_CHANNEL, check_name, is_inbox
from torbit.core.ports import MessageLog, Store
from torbit.errors import ConfigError, TorbitError
from torbit.logs import Logs
from torbit.metrics import Metrics

if TYPE_CHECKING:
    from torbit.frontends.telnet import TelnetServer

log = logging.getLogger("torbit")

PURGE_INTERVAL = 60.0
SHUTDOWN_GRACE = 3.0


@dataclass(frozen=True)
class Services:
    """Everything a front door needs, built once in App.start."""

    settings: Settings
    store: Store
    log: MessageLog
    hub: Hub
    accounts: Accounts
    chat: Chat
    metrics: Metrics
    connections: ConnectionLimiter  # shared by telnet and WebSocket
    moderation: Moderation  # room owners and admins: kicks, bans, mutes, invitations, ...


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
        self.services: Services | None = None
        self.telnet: TelnetServer | None = None
        self._http: Any = None  # uvicorn.Server
        self._http_task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._logs: Logs | None = None
        self.telnet_port: int | None = None
        self.telnet_tls_port: int | None = None
        self.http_port: int | None = None
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        s = self.settings
        tz = timezone_of(s)
        raise_open_file_limit()
        self._logs = Logs(s.log)
        telnet_tls = None
        if s.telnet.enabled and s.telnet.tls_cert and s.telnet.tls_key:
            telnet_tls = tls_context(s.telnet.tls_cert, s.telnet.tls_key, "telnet")
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
        except ConfigError:
            for sock in bound:
                sock.close()
            raise
        check_name(s.chat.default_room, "chat.default_room")

        store = open_store(s.storage.url, s.storage.synchronous,
                           consistency=s.storage.consistency)
        await store.open()
        hub = Hub(tz)
        message_log = open_log(
            s.message_log.url,
            store,
            topic_prefix=s.message_log.topic_prefix,
            replication_factor=s.message_log.replication_factor,
            retention_hours=s.chat.retention_hours,
            fetch_wait_ms=s.message_log.fetch_wait_ms,
        )
        hasher = PasswordHasher(
            time_cost=s.accounts.argon2_time_cost,
            memory_cost=s.accounts.argon2_memory_kib,
            parallelism=s.accounts.argon2_parallelism,
        )
        accounts = Accounts(
            store,
            registration_open=s.chat.registration == "open",
            min_password_length=s.accounts.min_password_length,
            hasher=hasher,
            throttle=LoginThrottle(
                free=s.limits.login_free_attempts, cap=s.limits.login_backoff_max
            ),
        )
        rules = ChatRules(
            default_room=s.chat.default_room,
            history_on_join=s.chat.history_on_join,
            retention=timedelta(hours=s.chat.retention_hours),
            max_message_bytes=s.chat.max_message_bytes,
            rooms_per_user=s.limits.rooms_per_user,
            presence_notices_max=s.chat.presence_notices_max,
        )
        chat = Chat(
            store, message_log, hub, rules,
            rate=RateLimiter(s.limits.message_rate, s.limits.message_burst),
            room_rate=RateLimiter(s.limits.room_message_rate, s.limits.room_message_burst),
            text_filter=profanity_filter(s),
        )
        moderation = Moderation(store, message_log, chat, hub)  # registers its node event handlers
        await moderation.start()
        await message_log.start(self._on_message(hub, chat))
        await chat.start()
        connections = ConnectionLimiter(s.limits.connections_per_ip, s.limits.max_connections)
        services = Services(
            s, store, message_log, hub, accounts, chat, self.metrics, connections, moderation
        )
        self.services = services

        if s.telnet.enabled:
            from torbit.frontends.telnet import TelnetServer

            self.telnet = TelnetServer(services)
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
            await self._start_http(services, http_sock)
            self.http_port = http_sock.getsockname()[1]
        self._purge_task = asyncio.create_task(self._purge_loop(chat))
        log.info(
            "torbit serving: telnet %s, telnet-tls %s, http%s %s, storage %s, bus %s",
            self.telnet_port, self.telnet_tls_port, "s" if http_tls else "", self.http_port,
            s.storage.url, s.message_log.url,
        )

    def _on_message(self, hub: Hub, chat: Chat) -> Any:
        transcript = self._logs.transcript if self._logs else None
        metrics = self.metrics

        def on_message(message: Message) -> None:
            if message.channel == EVENTS_CHANNEL:
                chat.apply_event(message)
                return
            if transcript is not None and not is_inbox(message.channel):
                transcript.write(message)
            before = hub.delivered
            hub.dispatch(message)
            if hub.delivered > before:
                lag = (datetime.now(UTC) - message.sent_at).total_seconds()
                metrics.delivery_latency.observe(max(0.0, lag))

        metrics.count_deliveries(lambda: hub.delivered)
        return on_message

    async def _start_http(self, services: Services, sock: socket.socket) -> None:
        import uvicorn

        from torbit.frontends.http import create_http_app
        from torbit.frontends.http.guard import GuardedHttpTools

        config = uvicorn.Config(
            create_http_app(services),
            http=GuardedHttpTools,  # bounded request heads: no slowloris, no endless headers
            log_config=None,
            access_log=False,
            lifespan="off",
            ws_max_size=services.settings.http.max_body_bytes,
            timeout_graceful_shutdown=1,
            ssl_certfile=services.settings.http.tls_cert or None,
            ssl_keyfile=services.settings.http.tls_key or None,
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

    async def _purge_loop(self, chat: Chat) -> None:
        while True:
            try:
                n = await chat.purge_expired()
                if n:
                    log.info("retention: purged %d expired messages", n)
            except TorbitError as e:
                log.warning("retention purge failed: %s", e)
            await asyncio.sleep(PURGE_INTERVAL)

    async def stop(self) -> None:
        """Stop accepting, tell everyone, let output drain, then close the engines in order."""
        if self.services is None:
            return
        services, self.services = self.services, None
        if self._purge_task is not None:
            self._purge_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purge_task
        if self._http is not None:
            from torbit.frontends.http import shutdown_http_app

            shutdown_http_app(self._http.config.app)
            self._http.should_exit = True
        services.chat.shutdown_notice("server is shutting down, bye")
        if self.telnet is not None:
            await self.telnet.shutdown(SHUTDOWN_GRACE)
        if self._http_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._http_task, SHUTDOWN_GRACE + 2)
        await services.log.close()
        await services.store.close()
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
