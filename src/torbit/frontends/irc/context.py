"""What the IRC door is given by app.py: the core services it uses and its options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from torbit.core.accounts import Accounts
from torbit.core.away import Away
from torbit.core.guests import Guests
from torbit.core.ignores import Ignores
from torbit.core.limits import NO_BUDGET, ByteBudget
from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.moderation import Moderation
from torbit.core.operators import Operators
from torbit.core.sessions import Sessions
from torbit.core.subscriptions import Subscriptions
from torbit.frontends.irc.pacing import Pacing


@dataclass(frozen=True, slots=True)
class IrcCore:
    accounts: Accounts
    guests: Guests
    sessions: Sessions
    membership: Membership
    messaging: Messaging
    ignores: Ignores
    moderation: Moderation
    subscriptions: Subscriptions
    operators: Operators
    away: Away
    # the store's time as this node tells it (StoreClock.now), as messages are dated: a
    # join's start, which tells the history held back from the live messages (rowclock60)
    now: Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class IrcOptions:
    server_name: str = "torbit"
    server_description: str = "torbit chat server"
    motd: str = ""
    guests: bool = False
    registration_timeout: float = 60.0
    max_output_buffer: int = 256 * 1024
    rooms_per_user: int = 100
    version: str = "torbit"
    flush_window: float = 0.0  # seconds (flow.FlushQueue)
    pacing: Pacing = field(default_factory=Pacing)  # command pacing (pacing.py)
    input_budget: ByteBudget = NO_BUDGET  # a connection's input bytes (paced.py)
    login_input_budget: ByteBudget = NO_BUDGET  # the same before registration
    tcp_nodelay: bool = False  # line_session.LineOptions
    send_buffer: int = 128 * 1024  # line_session.LineOptions
    receive_buffer: int = 128 * 1024  # line_session.LineOptions
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
