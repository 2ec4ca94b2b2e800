"""What every telnet command handler works with: the session as commands see it, and the
few helpers the themes share (a reply line, a room as typed, the room talked in, a count)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from torbit.core.delivery import Session
from torbit.core.format import counted, format_message, format_system
from torbit.core.models import Message, Room
from torbit.core.numbers import ascii_number
from torbit.errors import InvalidInput
from torbit.frontends.telnet.context import TelnetCore

DEFAULT_HISTORY = 20
MAX_HISTORY = 500


class CommandSession(Session, Protocol):
    room: Room | None
    # the join of `room` showed all the user had not read there: leaving it marks it read
    # (core/comeback.py), else a later `/receive` would never give what the join passed over
    shown_all: bool

    @property
    def name(self) -> str: ...

    @property
    def core(self) -> TelnetCore: ...

    def send_line(self, text: str) -> None: ...

    def unsent(self) -> bool:
        """Output it was given that has not left yet: not shown, so not read (comeback.py)."""

    def count_sent(self, n: int) -> None:
        """Count messages this client sent (metrics)."""

    def listens(self, room_key: str) -> bool:
        """Still open and listening to the room (a send asks it after waiting)."""

    async def holds(self) -> None:
        """`core.messaging.Holds`: refused once the session is closing."""


Handler = Callable[[CommandSession, tuple[str, ...]], Awaitable[None]]


def info(session: CommandSession, text: str) -> None:
    session.send_line(format_system(text))


def show_messages(
    session: CommandSession, messages: Sequence[Message], kind: str, where: str
) -> None:
    """A read-back (`/history`, `/msgs`): "last N <kind>s<where>:", then the lines as live."""
    info(session, f"last {counted(len(messages), kind)}{where}:")
    tz = session.core.subscriptions.tz
    for m in messages:
        session.send_line(format_message(m, tz))


def room_arg(arg: str) -> str:
    """A room as the user typed it: this door shows rooms as `#name`, so `#name` is accepted
    wherever a room is asked for."""
    return arg[1:] if arg.startswith("#") else arg


def current(session: CommandSession) -> Room:
    """The room the session talks in. A kick or ban ends the listening at once, from any node,
    without the session being told otherwise, so it is checked here."""
    room = session.room
    if room is not None and not session.core.subscriptions.is_listening(session, room.key):
        session.room = room = None
    if room is None:
        raise InvalidInput("you are not in a room: /join ROOM")
    return room


def count(args: tuple[str, ...], usage: str) -> int:
    if not args:
        return DEFAULT_HISTORY
    n = ascii_number(args[0], 9) or 0
    if not 1 <= n <= MAX_HISTORY:
        raise InvalidInput(f"usage: {usage} with N from 1 to {MAX_HISTORY}")
    return n
