"""The telnet door's commands about other people: who is here (and away), private
messages, actions and ignore lists."""

from __future__ import annotations

from torbit.core.models import MessageKind
from torbit.core.names import name_key
from torbit.errors import RateLimited
from torbit.frontends.telnet.command_session import CommandSession, current, info


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


async def msg(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.messaging.send_private(session.name, args[0], args[1], holds=session.holds)
    session.count_sent(1)
    if state := session.core.subscriptions.away_of(name_key(args[0])):
        info(session, f"{args[0]} is away: {state}")


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
