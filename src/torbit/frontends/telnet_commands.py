"""What each slash command does for a telnet session. Parsing, arity and help come from the one
command table in torbit.protocol.commands; the rules themselves, including the role each
moderation command needs, live in the core (Chat, Moderation)."""

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


def _refresh(session: CommandSession, services: Services) -> None:
    """Forget the current room if the session no longer listens to it: a kick or ban ends
    that at once, from any node, without the session being told otherwise."""
    if session.room is not None and not services.hub.is_listening(session, session.room.key):
        session.room = None


def _current(session: CommandSession, services: Services | None = None) -> Room:
    """The room the session talks in (with `services`: still listened to)."""
    if services is not None:
        _refresh(session, services)
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
    _refresh(session, services)
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
    name = args[0] if args else _current(session, services).name
    room = await services.chat.leave(session.name, name)
    if session.room is not None and session.room.key == room.key:
        session.room = None
    _info(session, f"you left #{room.name}; /join a room to talk")


@handler("rooms")
async def _rooms(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    infos = await services.chat.rooms(session.name)
    if not infos:
        _info(session, "no rooms yet: /join ROOM creates one")
        return
    _info(session, f"{len(infos)} room(s):")
    for i in infos:
        topic = f" - {i.room.topic}" if i.room.topic else ""
        session.send_line(f"  #{i.room.name}  {i.members} member(s), {i.online} online{topic}")


@handler("who")
async def _who(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    room = _current(session, services)
    online = services.chat.online(room.key)
    members = await services.chat.members(room.name, viewer=session.name)
    _info(session, f"online in #{room.name} ({len(online)}): {', '.join(online)}")
    _info(session, f"members of #{room.name} ({len(members)}): {', '.join(members)}")


@handler("msg")
async def _msg(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    await services.chat.send_private(session.name, args[0], args[1])
    services.metrics.messages_in.labels("telnet").inc()


@handler("me")
async def _me(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    room = _current(session, services)
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


def _count(args: tuple[str, ...], usage: str) -> int:
    if not args:
        return DEFAULT_HISTORY
    n = int(args[0]) if args[0].isdigit() and len(args[0]) < 10 else 0
    if not 1 <= n <= MAX_HISTORY:
        raise InvalidInput(f"usage: {usage} with N from 1 to {MAX_HISTORY}")
    return n


@handler("history")
async def _history(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    room = _current(session, services)
    n = _count(args, "/history [N]")
    messages = await services.chat.history(session.name, room.name, limit=n)
    _info(session, f"last {len(messages)} message(s) of #{room.name}:")
    for m in messages:
        session.send_line(format_message(m, services.hub.tz))


# room moderation: each acts on the current room; Moderation checks the role


@handler("create")
async def _create(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    if len(args) > 1 and args[1].lower() != "private":
        raise InvalidInput("usage: /create ROOM [private]")
    room = await services.moderation.create(session.name, args[0], private=len(args) > 1)
    _info(session, f"you created #{room.name}" + (" (private: /invite people)"
                                                   if room.private else ""))
    await _join(session, services, (room.name,))


@handler("invite")
async def _invite(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    room = _current(session, services)
    name = await services.moderation.invite(session.name, room.name, args[0])
    _info(session, f"you invited {name} to #{room.name}")


@handler("kick")
async def _kick(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    await services.moderation.kick(session.name, _current(session, services).name, args[0])


@handler("ban")
async def _ban(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    await services.moderation.ban(session.name, _current(session, services).name, args[0])


@handler("unban")
async def _unban(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    room = _current(session, services)
    name = await services.moderation.unban(session.name, room.name, args[0])
    _info(session, f"{name} may join #{room.name} again")


@handler("mute")
async def _mute(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    if not args[1].isdigit():
        raise InvalidInput("usage: /mute USER MINUTES")
    await services.moderation.mute(
        session.name, _current(session, services).name, args[0], int(args[1][:9])
    )


@handler("unmute")
async def _unmute(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    await services.moderation.unmute(session.name, _current(session, services).name, args[0])


@handler("op")
async def _op(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    await services.moderation.op(session.name, _current(session, services).name, args[0])


@handler("deop")
async def _deop(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    await services.moderation.deop(session.name, _current(session, services).name, args[0])


@handler("topic")
async def _topic(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    room = _current(session, services)
    session.room = await services.moderation.update(
        session.name, room.name, topic=args[0] if args else ""
    )


@handler("private")
async def _private(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    if args[0].lower() not in ("on", "off"):
        raise InvalidInput("usage: /private on|off")
    room = _current(session, services)
    session.room = await services.moderation.update(
        session.name, room.name, private=args[0].lower() == "on"
    )


@handler("audit")
async def _audit(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    room = _current(session, services)
    n = _count(args, "/audit [N]")
    entries = await services.moderation.audit(session.name, room.name, n)
    _info(session, f"last {len(entries)} moderation action(s) in #{room.name}:")
    for e in reversed(entries):
        at = e.at.astimezone(services.hub.tz).strftime("%Y-%m-%d %H:%M:%S")
        extra = " ".join(x for x in (e.target or "", f"({e.detail})" if e.detail else "") if x)
        session.send_line(f"  {at} {e.actor} /{e.action} {extra}".rstrip())


@handler("quit")
async def _quit(session: CommandSession, services: Services, args: tuple[str, ...]) -> None:
    _info(session, "bye")
    session.close("quit")
