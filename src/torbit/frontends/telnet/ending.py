"""What a telnet session's end moves (core/comeback.py): the room it ended in, marked read up
to the newest message it was handed there if it was shown all it had unread there and all it
was given has left; the user's private messages likewise (`missed_private`).

Judged when nothing more reaches its client (our close, its EOF: what it is handed after is
not shown) and moved then; after its client's EOF, moved when the door departs the session
(`LineDoor.hang_up`, a batch a loop turn). uvloop reads the EOFs of 10,000 clients leaving at
once in one poll and calls every `eof_received` there, the loop answering nobody meanwhile:
the moves made there cost ~5 µs a session more than the judgment's three lookups."""

from __future__ import annotations

from typing import Protocol

from torbit.core.names import inbox_channel
from torbit.frontends.telnet.command_session import CommandSession


class Ends(CommandSession, Protocol):
    """What of a telnet session its end reads and sets."""

    inbox_read: bool | None  # all it was handed of the user's inbox left (None: moved)


# (unsent, handed, inbox_handed): output it was given had not left; the newest message
# handed to it in its room (0: none); the newest private message handed to it (None: none).
# A plain tuple: a NamedTuple's making cost ~0.3 µs more at each of 10,000 EOFs in one poll
Ending = tuple[bool, int, int | None]


def judged(session: Ends) -> Ending:
    newest = session.core.subscriptions.newest
    room = session.room
    handed = (newest(room.key) or 0) if room is not None else 0
    return (session.unsent(), handed, newest(inbox_channel(session.user_key)))


def moved(session: Ends, ending: Ending, logged_in: bool) -> None:
    """The moves `ending` judged: the session's room and inbox then count as moved (its
    departure has none to make). `logged_in`: past its login dialogue."""
    unsent, handed, inbox_handed = ending
    user = session.user_key if logged_in else ""
    room = session.room
    comeback = session.core.comeback
    if room is not None and user:
        if session.core.subscriptions.is_listening(session, room.key):
            read = session.shown_all and not unsent
            comeback.left(user, room.key, read=read, last=True, handed=handed)
        session.room = None
    session.shown_all = False
    inbox_read, session.inbox_read = session.inbox_read, None
    if inbox_read and user and not unsent and inbox_handed is not None:
        comeback.inbox_left(user, inbox_handed)
