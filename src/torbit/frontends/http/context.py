"""What the HTTP door is given by app.py: the core services it uses and its options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from torbit.core.accounts import Accounts
from torbit.core.away import Away
from torbit.core.comeback import Comeback
from torbit.core.ignores import Ignores
from torbit.core.limits import NO_BUDGET, ByteBudget, ConnectionLimiter
from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.moderation import Moderation
from torbit.core.revocation import Revocations
from torbit.core.roomdeletion import RoomDeletion
from torbit.core.sessions import Sessions
from torbit.core.subscriptions import Subscriptions
from torbit.core.tokens import Tokens
from torbit.metrics import Metrics


@dataclass(frozen=True, slots=True)
class HttpCore:
    accounts: Accounts
    tokens: Tokens
    revocations: Revocations  # logout closes the token's WebSockets; forget cached Basic logins
    sessions: Sessions
    membership: Membership
    messaging: Messaging
    ignores: Ignores
    moderation: Moderation
    room_deletion: RoomDeletion
    subscriptions: Subscriptions
    away: Away
    comeback: Comeback  # where a returning user lands (GET /me), noted by joins
    connections: ConnectionLimiter  # shared with telnet: one per-address budget
    metrics: Metrics
    # what must answer for the node to be ready: name -> ping (the store, the message log)
    readiness: Mapping[str, Callable[[], Awaitable[None]]]
    # asks the node to drain (POST /admin/drain); returns its node.drain_seconds
    drain: Callable[[], float] | None = None
    # what is wrong without making the node unready (/readyz's detail): the transcript
    troubles: Callable[[], list[str]] = lambda: []


@dataclass(frozen=True, slots=True)
class HttpOptions:
    max_body_bytes: int = 64 * 1024
    ws_max_queue: int = 1000
    default_room: str = "lobby"
    body_timeout: float = 30.0
    send_timeout: float = 30.0
    trusted_proxies: tuple[str, ...] = ()  # see proxies.py
    allowed_origins: tuple[str, ...] = ()  # besides the server's own; see origins.py
    metrics_token: str = ""
    max_long_polls: int = 1000  # waiting GET /receive in total, per user, per address
    long_polls_per_user: int = 8
    long_polls_per_ip: int = 50
    ws_flush_window: float = 0.0  # seconds (flow.FlushQueue), the fast path only
    ws_send_buffer: int = 128 * 1024  # SO_SNDBUF once upgraded (flow.tune_socket)
    ws_receive_buffer: int = 128 * 1024  # SO_RCVBUF, the same
    ws_keepalive: float = 20.0  # seconds: uvicorn's ping interval and its pong's timeout
    ws_input_budget: ByteBudget = NO_BUDGET  # bytes of frames a second (limits.input_rate)
    opentelemetry: bool = False  # FastAPI's native telemetry (config.HttpConfig)
