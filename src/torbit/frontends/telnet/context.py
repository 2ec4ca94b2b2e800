"""What the telnet door is given by app.py: the core services it uses and its options."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Protocol, TypeVar

from torbit.core.accounts import Accounts
from torbit.core.away import Away
from torbit.core.comeback import Comeback
from torbit.core.delivery import Session
from torbit.core.ignores import Ignores
from torbit.core.limits import NO_BUDGET, ByteBudget
from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.moderation import Moderation
from torbit.core.roomdeletion import RoomDeletion
from torbit.core.sessions import Sessions
from torbit.core.subscriptions import Subscriptions
from torbit.frontends.line_session import LineHost

# the door's own session type (TelnetSession), which this module cannot import: the session
# module imports this one
S_contra = TypeVar("S_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class TelnetCore:
    accounts: Accounts
    sessions: Sessions
    membership: Membership
    messaging: Messaging
    ignores: Ignores
    moderation: Moderation
    subscriptions: Subscriptions
    away: Away
    room_deletion: RoomDeletion
    comeback: Comeback


@dataclass(frozen=True, slots=True)
class TelnetOptions:
    max_output_buffer: int = 256 * 1024
    max_line_bytes: int = 4096
    login_timeout: float = 60.0
    default_room: str = "lobby"
    tz: tzinfo | None = None
    flush_window: float = 0.0  # seconds (flow.FlushQueue)
    input_budget: ByteBudget = NO_BUDGET  # a connection's input bytes (paced.py)
    login_input_budget: ByteBudget = NO_BUDGET  # the same before login
    tcp_nodelay: bool = False  # line_session.LineOptions
    send_buffer: int = 128 * 1024  # line_session.LineOptions
    receive_buffer: int = 128 * 1024  # line_session.LineOptions


class SessionHost(LineHost, Protocol[S_contra]):
    """What a telnet session needs of the server that accepted it."""

    core: TelnetCore
    options: TelnetOptions

    def opened(self, session: Session) -> None: ...

    def depart(self, session: S_contra, log_out: bool = True) -> None:
        """A session's connection is gone: forget it soon, with `log_out` logging the user
        out, batched with others leaving (doors.LineDoor)."""
