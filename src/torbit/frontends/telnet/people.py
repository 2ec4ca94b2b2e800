"""The telnet door's commands about other people: who is here (and away), private
messages, actions and ignore lists."""

from __future__ import annotations

import logging

from torbit.core.format import counted
from torbit.core.models import MessageKind
from torbit.core.names import name_key
from torbit.errors import RateLimited, TorbitError
from torbit.frontends.telnet.command_session import (
    DEFAULT_HISTORY,
    CommandSession,
    current,
    info,
    show_messages,
)

log = logging.getLogger("torbit.telnet")


def _with_away(session: CommandSession, name: str) -> str:
    state = session.core.subscriptions.away_of(name_key(name))
    return f"{name} (away: {state})" if state else name


async def who(session: CommandSession, args: tuple[str, ...]) -> None:
    room = current(session)
    membership = session.core.membership
    online = [_with_away(session, name) for name in membership.online(room.key)]
    members = await membership.members(room.name, viewer=session.name)
    info(session, f"here in #{room.name} ({len(online)}): {', '.join(online)}")
    info(session, f"members of #{room.name} ({len(members)}): {', '.join(members)}")


MISSED_CAP = 100  # counted at most (Receiving.private_unread's cap)


async def msg(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.messaging.send_private(session.name, args[0], args[1], holds=session.holds)
    session.count_sent(1)
    if state := session.core.subscriptions.away_of(name_key(args[0])):
        info(session, f"{args[0]} is away: {state}")


async def msgs(session: CommandSession, args: tuple[str, ...]) -> None:
    """Private messages read back: a telnet user offline when they came had no way to see
    them (the web page, HTTP and IRC's CHATHISTORY had)."""
    messaging = session.core.messaging
    if args:
        messages = await messaging.conversation(session.name, args[0], limit=DEFAULT_HISTORY)
        what = f" with {args[0]}"
    else:
        messages = await messaging.private_history(session.name, limit=DEFAULT_HISTORY)
        what = ""
    if not messages:
        info(session, f"no private messages{what} to show")
        return
    show_messages(session, messages, "private message", what)
    if not args:  # the newest shown: not said to be missed at the next login
        await session.core.comeback.read_private(session.name, messages[-1].id)


async def missed_private(session: CommandSession) -> None:
    """At login: the private messages others sent since the user's last telnet session
    ended (core/comeback.py), said in one line."""
    try:
        missed = await session.core.comeback.missed_private(session.name)
    except TorbitError as e:  # a notice, not the login: it goes on without it
        log.info("private messages of %s not counted at login: %s", session.name, e.message)
        return
    if missed:
        more = "+" if missed >= MISSED_CAP else ""
        info(
            session,
            f"{counted(missed, 'private message')}{more} since your last session here:"
            " /msgs shows them",
        )


async def me(session: CommandSession, args: tuple[str, ...]) -> None:
    room = current(session)
    messaging = session.core.messaging
    text = messaging.prepare_text(args[0])
    _, dropped = await messaging.send_while_listening(
        session.name, room, [text], MessageKind.ACTION, lambda: session.listens(room.key)
    )
    if dropped:
        raise RateLimited("slow down: too many messages")
    session.count_sent(1)


async def ignore(session: CommandSession, args: tuple[str, ...]) -> None:
    name = await session.core.ignores.ignore(session.name, args[0])
    info(session, f"you now ignore {name}: their messages will not reach you")


async def unignore(session: CommandSession, args: tuple[str, ...]) -> None:
    name = await session.core.ignores.unignore(session.name, args[0])
    info(session, f"you no longer ignore {name}")


async def ignored(session: CommandSession, args: tuple[str, ...]) -> None:
    names = await session.core.ignores.ignored(session.name)
    info(session, f"you ignore: {', '.join(names)}" if names else "you ignore nobody")
