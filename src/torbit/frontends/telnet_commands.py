"""What each slash command does for a telnet session. Parsing, arity and help come from the one
command table in torbit.protocol.commands; the rules themselves live in the core."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from torbit.core.format import format_message, format_system
from torbit.core.hub import Session
from torbit.core.models import MessageKind, Room
from torbit.core.names import check_name
from torbit.errors import InvalidInput, RateLimited
from torbit.protocol.commands import help_lines, parse_command

if TYPE_CHECKING:
    from torbit.app import Services

DEFAULT_HISTORY = 20
MAX_HISTORY = 500


class CommandSession(Session, Protocol):
    room: Room | None

    @property
    def name(self) -> str: ...

    def send_line(self, text: str) -> None: ...



Handler = Callable[["CommandSession", "Services", tuple[str, ...]], Awaitable[None]]
_HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[name] = fn
        return fn

    return register


async def run_command(session: CommandSession, services: Services, line: str) -> None:
    inv = parse_command(line)
    await _HANDLERS[inv.command.name](session, services, inv.args)


def _info(session: CommandSession, text: str) -> None:
    session.send_line(format_system(text))


def _current(session: CommandSession) -> Room:
    if session.room is None:
        raise InvalidInput("you are not in a room: /join ROOM")
    return session.room


@handler("help")
async def _help(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    _info(session, "commands:")
    for line in help_lines():
        session.send_line("  " + line)
    _info(session, "any other line is a message to the current room")


@handler("join")
async def _join(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    key = check_name(args[0], "room name")
    if session.room is not None and session.room.key == key:
        _info(session, f"you are already in #{session.room.name}")
        return
    old = session.room
    room = await services.chat.join(session, args[0])
    session.room = room
    if old is not None:
        await services.chat.part(session, old.key)


@handler("leave")
async def _leave(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    name = args[0] if args else _current(session).name
    room = await services.chat.leave(session.name, name)
    if session.room is not None and session.room.key == room.key:
        session.room = None
    _info(session, f"you left #{room.name}; /join a room to talk")


@handler("rooms")
async def _rooms(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    infos = await services.chat.rooms()
    if not infos:
        _info(session, "no rooms yet: /join ROOM creates one")
        return
    _info(session, f"{len(infos)} room(s):")
    for i in infos:
        topic = f" - {i.room.topic}" if i.room.topic else ""
        session.send_line(f"  #{i.room.name}  {i.members} member(s), {i.online} online{topic}")


@handler("who")
async def _who(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    room = _current(session)
    online = services.chat.online(room.key)
    members = await services.chat.members(room.name)
    _info(session, f"online in #{room.name} ({len(online)}): {', '.join(online)}")
    _info(session, f"members of #{room.name} ({len(members)}): {', '.join(members)}")


@handler("msg")
async def _msg(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    await services.chat.send_private(session.name, args[0], args[1])
    services.metrics.messages_in.labels("telnet").inc()


@handler("me")
async def _me(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    room = _current(session)
    _, dropped = await services.chat.say(session.name, room, [args[0]], MessageKind.ACTION)
    if dropped:
        raise RateLimited("slow down: too many messages")
    services.metrics.messages_in.labels("telnet").inc()


@handler("ignore")
async def _ignore(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    name = await services.chat.ignore(session.name, args[0])
    _info(session, f"you now ignore {name}: their messages will not reach you")


@handler("unignore")
async def _unignore(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    name = await services.chat.unignore(session.name, args[0])
    _info(session, f"you no longer ignore {name}")


@handler("ignored")
async def _ignored(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    names = await services.chat.ignored(session.name)
    _info(session, f"you ignore: {', '.join(names)}" if names else "you ignore nobody")


@handler("history")
async def _history(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    room = _current(session)
    n = DEFAULT_HISTORY
    if args:
        if not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_HISTORY:
            raise InvalidInput(f"usage: /history [N] with N from 1 to {MAX_HISTORY}")
        n = int(args[0])
    messages = await services.chat.history(session.name, room.name, limit=n)
    _info(session, f"last {len(messages)} message(s) of #{room.name}:")
    for m in messages:
        session.send_line(format_message(m, services.hub.tz))


@handler("quit")
async def _quit(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    _info(session, "bye")
    session.close("quit")
