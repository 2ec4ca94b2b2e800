"""Each front door built from the settings with exactly the services it uses (never the
whole `Core`): what app.py hands the telnet, HTTP and IRC doors before it binds them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING

from torbit import __version__
from torbit.config import Settings
from torbit.core.limits import ConnectionLimiter, RateLimiter
from torbit.core.ports import MessageLog, Store
from torbit.core.tokens import Tokens
from torbit.frontends.http.context import HttpCore, HttpOptions
from torbit.frontends.http.server import HttpServer
from torbit.frontends.irc.context import IrcCore, IrcOptions
from torbit.frontends.irc.pacing import Pacing
from torbit.frontends.telnet.context import TelnetCore, TelnetOptions
from torbit.metrics import Metrics
from torbit.services import Core, input_budgets

if TYPE_CHECKING:
    from torbit.frontends.irc.server import IrcServer
    from torbit.frontends.telnet.server import TelnetServer


def telnet_server(
    s: Settings, core: Core, connections: ConnectionLimiter, metrics: Metrics, tz: tzinfo
) -> TelnetServer:
    from torbit.frontends.telnet.server import TelnetServer

    return TelnetServer(
        TelnetCore(
            core.accounts,
            core.sessions,
            core.membership,
            core.messaging,
            core.ignores,
            core.moderation,
            core.subscriptions,
            core.away,
            core.room_deletion,
            core.comeback,
        ),
        TelnetOptions(
            s.telnet.max_output_buffer,
            s.chat.max_message_bytes,
            s.telnet.login_timeout,
            s.chat.default_room,
            tz,
            s.telnet.flush_window_ms / 1000,
            *input_budgets(s),
            s.telnet.tcp_nodelay,
            s.telnet.send_buffer,
            s.telnet.receive_buffer,
        ),
        connections,
        metrics,
    )


def http_server(
    s: Settings,
    core: Core,
    store: Store,
    message_log: MessageLog,
    connections: ConnectionLimiter,
    metrics: Metrics,
    *,
    not_draining: Callable[[], Awaitable[None]],
    drain: Callable[[], float],
    troubles: Callable[[], list[str]],
) -> HttpServer:
    """`not_draining`, `drain` and `troubles`: the node's readiness, POST /admin/drain and
    what /readyz reports besides the engines (app.py's)."""
    tokens = Tokens(
        store,
        timedelta(hours=s.http.token_ttl_hours),
        limiter=RateLimiter(s.limits.token_rate, s.limits.token_burst),
        per_user=s.limits.tokens_per_user,
        now=core.clock.now,  # not this node's wall clock (clock59)
    )
    http_core = HttpCore(
        core.accounts,
        tokens,
        core.revocations,
        core.sessions,
        core.membership,
        core.messaging,
        core.ignores,
        core.moderation,
        core.room_deletion,
        core.subscriptions,
        core.away,
        core.comeback,
        connections,
        metrics,
        readiness={
            "node": not_draining,
            "store": lambda: store.ping(),
            "message log": lambda: message_log.ping(),
        },
        drain=drain,
        troubles=troubles,
    )
    options = HttpOptions(
        s.http.max_body_bytes,
        max(s.http.ws_max_queue, s.chat.history_on_join + 16),  # history never drops
        s.chat.default_room,
        body_timeout=s.http.body_timeout,
        send_timeout=s.http.send_timeout,
        ws_flush_window=s.http.ws_flush_window_ms / 1000,
        ws_send_buffer=s.http.ws_send_buffer,
        ws_receive_buffer=s.http.ws_receive_buffer,
        ws_keepalive=s.http.ws_keepalive_seconds,
        ws_input_budget=input_budgets(s)[0],
        trusted_proxies=s.http.trusted_proxies,
        allowed_origins=s.http.allowed_origins,
        metrics_token=s.http.metrics_token,
        opentelemetry=s.http.opentelemetry,
        max_long_polls=s.limits.max_long_polls,
        long_polls_per_user=s.limits.long_polls_per_user,
        long_polls_per_ip=s.limits.long_polls_per_ip,
    )
    return HttpServer(http_core, options, s.http.tls_cert, s.http.tls_key)


def irc_server(
    s: Settings, core: Core, connections: ConnectionLimiter, metrics: Metrics
) -> IrcServer:
    from torbit.frontends.irc.server import IrcServer

    return IrcServer(
        IrcCore(
            core.accounts,
            core.guests,
            core.sessions,
            core.membership,
            core.messaging,
            core.ignores,
            core.moderation,
            core.subscriptions,
            core.operators,
            core.away,
            core.clock.now,
        ),
        IrcOptions(
            server_name=s.irc.server_name,
            server_description=s.irc.server_description,
            motd=s.irc.motd,
            guests=s.irc.guests,
            registration_timeout=s.irc.registration_timeout,
            max_output_buffer=s.irc.max_output_buffer,
            rooms_per_user=s.limits.rooms_per_user,
            version=f"torbit-{__version__}",
            flush_window=s.irc.flush_window_ms / 1000,
            pacing=Pacing(
                s.limits.irc_command_rate, s.limits.irc_command_burst, s.limits.irc_flood_lines
            ),
            input_budget=input_budgets(s)[0],
            login_input_budget=input_budgets(s)[1],
            tcp_nodelay=s.irc.tcp_nodelay,
            send_buffer=s.irc.send_buffer,
            receive_buffer=s.irc.receive_buffer,
        ),
        connections,
        metrics,
    )
