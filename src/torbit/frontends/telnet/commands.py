"""The telnet door's command table: each row holds a command's name, syntax, help and
handler, and `/help` is generated from the rows. The role a command needs is the core
policy's (shown in help); the core checks it when the command acts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Protocol

from torbit.core import policy, roomsettings
from torbit.core.banmasks import EXCEPT, INVEX
from torbit.core.delivery import Session
from torbit.core.format import format_message, format_system, topic_credit
from torbit.core.models import BanMask, MessageKind, Role, Room, RoomInfo
from torbit.core.names import check_name, name_key
from torbit.errors import InvalidInput, NotFound, RateLimited
from torbit.frontends.telnet.context import TelnetCore
from torbit.protocol.commands import (
    HELP_WIDTH,
    BadArguments,
    Syntax,
    help_rows,
    parse_args,
    split_command,
    split_words,
)

DEFAULT_HISTORY = 20
ROOMS_PAGE = 50
LIST_PAGES = 50  # pages of rooms one /list walks at most, as IRC's LIST
MAX_HISTORY = 500


class CommandSession(Session, Protocol):
    room: Room | None

    @property
    def name(self) -> str: ...

    @property
    def core(self) -> TelnetCore: ...

    def send_line(self, text: str) -> None: ...

    def count_sent(self, n: int) -> None:
        """Count messages this client sent (metrics)."""

    def listens(self, room_key: str) -> bool:
        """Still open and listening to the room (a send asks it after waiting)."""

    async def holds(self) -> None:
        """`core.messaging.Holds`: refused once the session is closing."""


Handler = Callable[[CommandSession, tuple[str, ...]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    syntax: Syntax
    help: str
    handler: Handler

    @property
    def role(self) -> Role:
        return policy.needed(self.name)

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.syntax.usage}".rstrip()


def parse_command(line: str) -> tuple[Command, tuple[str, ...]]:
    """The command and its arguments; InvalidInput saying what would be right."""
    name, tail = split_command(line)
    command = COMMANDS.get(name)
    if command is None:
        raise InvalidInput(f"unknown command /{name[:32]}: type /help for the list")
    try:
        return command, parse_args(command.syntax, tail)
    except BadArguments:
        # `/join my room now` meant one room: the usage alone does not say why not
        spaces = "ROOM" in command.usage and len(split_words(tail)) > command.syntax.max_args
        hint = ": a room name has no spaces" if spaces else ""
        raise InvalidInput(f"usage: {command.usage}{hint}") from None


async def run_command(session: CommandSession, line: str) -> None:
    command, args = parse_command(line)
    await command.handler(session, args)


def help_lines() -> list[str]:
    """The rows of /help, shown indented by two: at most 100 columns with the indent."""
    width = max(len(c.usage) for c in TABLE)
    lines = []
    for c in TABLE:
        who = policy.who_may(c.name)
        extra = f" ({who})" if who else ""
        lines += help_rows(f"{c.usage.ljust(width)}  ", c.help + extra, HELP_WIDTH - 2)
    return lines


def _info(session: CommandSession, text: str) -> None:
    session.send_line(format_system(text))


def _room_arg(arg: str) -> str:
    """A room as the user typed it: this door shows rooms as `#name`, so `#name` is accepted
    wherever a room is asked for."""
    return arg[1:] if arg.startswith("#") else arg


def _current(session: CommandSession) -> Room:
    """The room the session talks in. A kick or ban ends the listening at once, from any node,
    without the session being told otherwise, so it is checked here."""
    room = session.room
    if room is not None and not session.core.subscriptions.is_listening(session, room.key):
        session.room = room = None
    if room is None:
        raise InvalidInput("you are not in a room: /join ROOM")
    return room


def _count(args: tuple[str, ...], usage: str) -> int:
    if not args:
        return DEFAULT_HISTORY
    n = int(args[0]) if args[0].isdigit() and len(args[0]) < 10 else 0
    if not 1 <= n <= MAX_HISTORY:
        raise InvalidInput(f"usage: {usage} with N from 1 to {MAX_HISTORY}")
    return n


# handlers


async def _help(session: CommandSession, args: tuple[str, ...]) -> None:
    _info(session, "commands:")
    for line in help_lines():
        session.send_line("  " + line)
    _info(session, "any other line is a message to the current room")


async def _join(session: CommandSession, args: tuple[str, ...]) -> None:
    name = _room_arg(args[0])
    key = check_name(name, "room name")
    old = session.room
    if old is not None and not session.core.subscriptions.is_listening(session, old.key):
        session.room = old = None
    if old is not None and old.key == key:
        _info(session, f"you are already in #{old.name}")
        return
    join_key = args[1] if len(args) > 1 else ""
    if join_key:
        await _room_for_key(session, name, join_key)
    session.room = await session.core.membership.join(session, name, join_key)
    if old is not None:
        await session.core.membership.stop_listening(session, old.key, switch=True)
    if join_key and not session.room.settings.join_key:
        _info(
            session,
            f"#{session.room.name} has no join key, {join_key!r} was not needed (a room name"
            " has no spaces): room admins set one with /set key KEY",
        )


async def _room_for_key(session: CommandSession, name: str, join_key: str) -> None:
    """A KEY is for a room that exists: `/join bad room!` (a room name with a space, a
    person's mistake) created #bad with `room!` taken as its key and ignored, and `/join
    plans s3cret` created #plans open to all. Neither is what was meant, and a stray room
    stays listed and counts against `rooms_per_user`: nothing is created, and the reply says
    both readings. (IRC's `JOIN #a key` is its syntax, and stays.)"""
    try:
        await session.core.membership.room(name)
    except NotFound:
        raise NotFound(
            f"no such room #{name}, so {join_key!r} cannot be its key: /join {name} creates it"
            " (then /set key KEY); a room name has no spaces"
        ) from None


async def _leave(session: CommandSession, args: tuple[str, ...]) -> None:
    name = _room_arg(args[0]) if args else _current(session).name
    room = await session.core.membership.leave(session.name, name)
    if session.room is not None and session.room.key == room.key:
        session.room = None
    _info(session, f"you left #{room.name}; /join a room to talk")


async def _delroom(session: CommandSession, args: tuple[str, ...]) -> None:
    """The deletion's notice tells this session too, as every session in the room."""
    name = _room_arg(args[0]) if args else _current(session).name
    room = await session.core.room_deletion.delete(session.name, name)
    if session.room is not None and session.room.key == room.key:
        session.room = None
    _info(session, f"you deleted #{room.name}; /join a room to talk")


def _room_line(i: RoomInfo) -> str:
    """One room in /rooms and /list alike, in the order every door lists rooms (IRC's LIST,
    the HTTP room list): name, members (and how many are in it now), topic. "online" read as
    "logged in", which the count is not: a member online in another room is not in it."""
    topic = f" - {i.room.topic}" if i.room.topic else ""
    return f"  #{i.room.name}  {i.members} member(s), {i.online} in the room now{topic}"


async def _rooms(session: CommandSession, args: tuple[str, ...]) -> None:
    after = check_name(_room_arg(args[0]), "room name") if args else None
    page = await session.core.membership.rooms(session.name, after=after, limit=ROOMS_PAGE)
    if not page.rooms and after is None:
        _info(session, "no rooms yet: /join ROOM creates one")
        return
    if not page.rooms:
        _info(session, f"no rooms after #{_room_arg(args[0])}")
        return
    _info(
        session, f"{len(page.rooms)} room(s)" + (f" after #{_room_arg(args[0])}:" if args else ":")
    )
    for i in page.rooms:
        session.send_line(_room_line(i))
    if page.next_after is not None:
        _info(session, f"more: /rooms {page.next_after}")


async def _list(session: CommandSession, args: tuple[str, ...]) -> None:
    """Every public room at once (as IRC's LIST), with how many are online and its topic:
    charged to `limits.walk_rate`, the loop let go between pages."""
    session.core.membership.check_walk(session.name)
    after: str | None = None
    shown = 0
    for _ in range(LIST_PAGES):  # bounded work per /list
        page = await session.core.membership.rooms(session.name, after=after, limit=ROOMS_PAGE)
        for i in page.rooms:
            if not i.room.private:
                session.send_line(_room_line(i))
                shown += 1
        after = page.next_after
        if after is None:
            break
        await asyncio.sleep(0)
    _info(session, f"{shown} public room(s)" if shown else "no public rooms yet")


async def _away(session: CommandSession, args: tuple[str, ...]) -> None:
    """The away state every door and node shares (core/away.py): IRC's WHOIS and AWAY replies
    show it, and the rooms the user is in are told (IRC away-notify, the WebSocket)."""
    away = await session.core.away.set(session.user_key, args[0] if args else None, session)
    _info(session, f"you are marked away: {away}" if away else "you are back")


def _with_away(session: CommandSession, name: str) -> str:
    away = session.core.subscriptions.away_of(name_key(name))
    return f"{name} (away: {away})" if away else name


async def _who(session: CommandSession, args: tuple[str, ...]) -> None:
    room = _current(session)
    membership = session.core.membership
    online = [_with_away(session, name) for name in membership.online(room.key)]
    members = await membership.members(room.name, viewer=session.name)
    _info(session, f"online in #{room.name} ({len(online)}): {', '.join(online)}")
    _info(session, f"members of #{room.name} ({len(members)}): {', '.join(members)}")


async def _msg(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.messaging.send_private(session.name, args[0], args[1], holds=session.holds)
    session.count_sent(1)
    if away := session.core.subscriptions.away_of(name_key(args[0])):
        _info(session, f"{args[0]} is away: {away}")


async def _me(session: CommandSession, args: tuple[str, ...]) -> None:
    room = _current(session)
    messaging = session.core.messaging
    text = messaging.prepare_text(args[0])
    _, dropped = await messaging.send_while_listening(
        session.name, room, [text], MessageKind.ACTION, lambda: session.listens(room.key)
    )
    if dropped:
        raise RateLimited("slow down: too many messages")
    session.count_sent(1)


async def _ignore(session: CommandSession, args: tuple[str, ...]) -> None:
    name = await session.core.ignores.ignore(session.name, args[0])
    _info(session, f"you now ignore {name}: their messages will not reach you")


async def _unignore(session: CommandSession, args: tuple[str, ...]) -> None:
    name = await session.core.ignores.unignore(session.name, args[0])
    _info(session, f"you no longer ignore {name}")


async def _ignored(session: CommandSession, args: tuple[str, ...]) -> None:
    names = await session.core.ignores.ignored(session.name)
    _info(session, f"you ignore: {', '.join(names)}" if names else "you ignore nobody")


async def _history(session: CommandSession, args: tuple[str, ...]) -> None:
    room = _current(session)
    n = _count(args, "/history [N]")
    messages = await session.core.messaging.history(session.name, room.name, limit=n)
    if not messages:
        _info(session, f"no messages to show in #{room.name}")
        return
    _info(session, f"last {len(messages)} message(s) of #{room.name}:")
    tz = session.core.subscriptions.tz
    for m in messages:
        session.send_line(format_message(m, tz))


async def _create(session: CommandSession, args: tuple[str, ...]) -> None:
    if len(args) > 1 and args[1].lower() != "private":
        raise InvalidInput("usage: /create ROOM [private]")
    room = await session.core.moderation.create(
        session.name, _room_arg(args[0]), private=len(args) > 1
    )
    _info(
        session,
        f"you created #{room.name}" + (" (private: /invite people)" if room.private else ""),
    )
    await _join(session, (room.name,))


async def _invite(session: CommandSession, args: tuple[str, ...]) -> None:
    room = _current(session)
    name = await session.core.moderation.invite(session.name, room.name, args[0])
    _info(session, f"you invited {name} to #{room.name}")


async def _invites(session: CommandSession, args: tuple[str, ...]) -> None:
    pending = await session.core.moderation.invitations(session.name)
    if not pending:
        _info(session, "you have no invitations")
        return
    _info(session, f"{len(pending)} invitation(s), newest first (/join ROOM, /decline ROOM):")
    for p in pending:
        _info(session, f"  #{p.room}" + (f" from {p.by}" if p.by else ""))


async def _decline(session: CommandSession, args: tuple[str, ...]) -> None:
    room = await session.core.moderation.decline(session.name, _room_arg(args[0]))
    _info(session, f"you declined the invitation to #{room}")


async def _kick(session: CommandSession, args: tuple[str, ...]) -> None:
    reason = args[1] if len(args) > 1 else ""  # cleaned and cut to KICKLEN by the core
    await session.core.moderation.kick(session.name, _current(session).name, args[0], reason)


async def _ban(session: CommandSession, args: tuple[str, ...]) -> None:
    """USER bans an account; a mask (nick!user@host, * and ? wildcards) whoever matches."""
    reason = args[1] if len(args) > 1 else ""
    room = _current(session)
    banned = await session.core.moderation.ban(session.name, room.name, args[0], reason)
    if "!" in banned:  # a mask: the room's notice names it; said here as for /unban
        _info(session, f"{banned} is on the ban list of #{room.name}")


async def _bans(session: CommandSession, args: tuple[str, ...]) -> None:
    room = _current(session)
    moderation = session.core.moderation
    names = [b for b in await moderation.bans(session.name, room.name) if "!" not in b]
    masks = await moderation.ban_masks(session.name, room.name)
    if not names and not masks:
        _info(session, f"nobody is banned from #{room.name}")
    else:
        _info(session, f"banned from #{room.name}:")
    for name in names:
        session.send_line(f"  {name}")
    _masks(session, masks)
    titles = {EXCEPT: f"excepted from the ban masks of #{room.name}:"}
    titles[INVEX] = f"may join #{room.name} uninvited:"
    for kind, title in titles.items():
        listed = await moderation.exception_masks(session.name, room.name, kind)
        if listed:
            _info(session, title)
        _masks(session, listed)


def _masks(session: CommandSession, masks: list[BanMask]) -> None:
    for m in masks:
        session.send_line(f"  {m.mask}  (by {m.set_by}, {m.set_at:%Y-%m-%d %H:%M} UTC)")


def _exception(kind: str, listed: str) -> tuple[Handler, Handler]:
    """/except and /unexcept (ban exceptions), /invex and /uninvex (invite exceptions)."""

    async def on(session: CommandSession, args: tuple[str, ...]) -> None:
        room = _current(session)
        mask = await session.core.moderation.except_mask(session.name, room.name, args[0], kind)
        _info(session, f"{mask} is on the {listed} of #{room.name}")

    async def off(session: CommandSession, args: tuple[str, ...]) -> None:
        room = _current(session)
        moderation = session.core.moderation
        mask = await moderation.unexcept_mask(session.name, room.name, args[0], kind)
        _info(session, f"{mask} is off the {listed} of #{room.name}")

    return on, off


_except, _unexcept = _exception(EXCEPT, "exception list")
_invex, _uninvex = _exception(INVEX, "invite exception list")


async def _unban(session: CommandSession, args: tuple[str, ...]) -> None:
    room = _current(session)
    name = await session.core.moderation.unban(session.name, room.name, args[0])
    _info(session, f"{name} may join #{room.name} again")


async def _mute(session: CommandSession, args: tuple[str, ...]) -> None:
    if not args[1].isdigit():
        raise InvalidInput("usage: /mute USER MINUTES")
    await session.core.moderation.mute(
        session.name, _current(session).name, args[0], int(args[1][:9])
    )


async def _unmute(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.moderation.unmute(session.name, _current(session).name, args[0])


async def _op(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.moderation.op(session.name, _current(session).name, args[0])


async def _deop(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.moderation.deop(session.name, _current(session).name, args[0])


async def _voice(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.moderation.voice(session.name, _current(session).name, args[0])


async def _devoice(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.moderation.devoice(session.name, _current(session).name, args[0])


async def _topic(session: CommandSession, args: tuple[str, ...]) -> None:
    """`/topic` alone shows the topic to anyone in the room, as IRC's TOPIC does; clearing
    it takes `/topic off`."""
    room = _current(session)
    if not args:
        room = await session.core.membership.visible_room(session.name, room.name)
        credit = topic_credit(room, session.core.subscriptions.tz or UTC)
        _info(
            session,
            f"topic of #{room.name}: {room.topic}{credit}"
            if room.topic
            else f"#{room.name} has no topic",
        )
        return
    topic = "" if args[0].lower() == "off" else args[0]
    session.room = await session.core.moderation.update(session.name, room.name, topic=topic)


async def _private(session: CommandSession, args: tuple[str, ...]) -> None:
    if args[0].lower() not in ("on", "off"):
        raise InvalidInput("usage: /private on|off")
    room = _current(session)
    session.room = await session.core.moderation.update(
        session.name, room.name, private=args[0].lower() == "on"
    )


async def _set(session: CommandSession, args: tuple[str, ...]) -> None:
    room = _current(session)
    if len(args) == 1:
        raise InvalidInput("usage: /set [SETTING VALUE]: /set alone lists them")
    if args:
        change = roomsettings.parse_change(args[0], args[1])
        room, changed = await session.core.moderation.configure(session.name, room.name, change)
        session.room = room
        if not changed:
            _info(session, f"#{room.name} already had that setting")
        return
    room = await session.core.moderation.room_settings(session.name, room.name)
    _info(session, f"settings of #{room.name}:")
    for line in roomsettings.show(room):
        session.send_line("  " + line)


async def _audit(session: CommandSession, args: tuple[str, ...]) -> None:
    room = _current(session)
    n = _count(args, "/audit [N]")
    entries = await session.core.moderation.audit(session.name, room.name, n)
    _info(session, f"last {len(entries)} moderation action(s) in #{room.name}:")
    tz = session.core.subscriptions.tz or UTC
    for e in reversed(entries):
        at = e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        extra = " ".join(x for x in (e.target or "", f"({e.detail})" if e.detail else "") if x)
        session.send_line(f"  {at} {e.actor} /{e.action} {extra}".rstrip())


async def _quit(session: CommandSession, args: tuple[str, ...]) -> None:
    _info(session, "bye")
    session.close("quit")


def _row(
    name: str,
    usage: str,
    help: str,
    handler: Handler,
    min_args: int = 0,
    max_args: int = 0,
    rest: bool = False,
) -> Command:
    return Command(name, Syntax(usage, min_args, max_args, rest), help, handler)


TABLE: tuple[Command, ...] = (
    _row("help", "", "list the commands", _help),
    _row(
        "join",
        "ROOM [KEY]",
        "join a room (created on first join) and talk in it; KEY: its join key",
        _join,
        1,
        2,
    ),
    _row("create", "ROOM [private]", "create a room you own; private: invite-only", _create, 1, 2),
    _row("leave", "[ROOM]", "leave a room (default: the current one)", _leave, 0, 1),
    _row("rooms", "[AFTER]", "list the rooms (50 at a time, after AFTER)", _rooms, 0, 1),
    _row("list", "", "list every public room: how many are in it now, its topic", _list),
    _row("who", "", "list the members of the current room (and who is away)", _who),
    _row(
        "away",
        "[MESSAGE]",
        "mark yourself away with MESSAGE; no MESSAGE: back",
        _away,
        0,
        1,
        rest=True,
    ),
    _row("msg", "USER TEXT", "send a private message", _msg, 2, 2, rest=True),
    _row("me", "ACTION", "say what you are doing: /me waves", _me, 1, 1, rest=True),
    _row("ignore", "USER", "never see messages from USER again", _ignore, 1, 1),
    _row("unignore", "USER", "see messages from USER again", _unignore, 1, 1),
    _row("ignored", "", "list the users you ignore", _ignored),
    _row("history", "[N]", "show the last N messages of the room (default 20)", _history, 0, 1),
    _row("invite", "USER", "let USER join this (private) room", _invite, 1, 1),
    _row("invites", "", "list your invitations, newest first", _invites),
    _row("decline", "ROOM", "remove your invitation to ROOM", _decline, 1, 1),
    _row("kick", "USER [REASON]", "remove USER from this room", _kick, 1, 2, rest=True),
    _row(
        "ban",
        "USER|MASK [REASON]",
        "bar USER for good, or whoever matches MASK nick!user@host",
        _ban,
        1,
        2,
        rest=True,
    ),
    _row("unban", "USER|MASK", "let a banned USER, or a MASK, join again", _unban, 1, 1),
    _row("bans", "", "list the users and masks banned from this room, and the exceptions", _bans),
    _row("except", "MASK", "no ban mask bars whoever matches MASK", _except, 1, 1),
    _row("unexcept", "MASK", "lift the exception of MASK", _unexcept, 1, 1),
    _row("invex", "MASK", "whoever matches MASK may join this private room", _invex, 1, 1),
    _row("uninvex", "MASK", "lift the invite exception of MASK", _uninvex, 1, 1),
    _row("mute", "USER MINUTES", "stop USER sending here for MINUTES", _mute, 2, 2),
    _row("unmute", "USER", "let a muted USER send again", _unmute, 1, 1),
    _row(
        "topic",
        "[TEXT|off]",
        "show this room's topic; set it, or clear it with off",
        _topic,
        0,
        1,
        rest=True,
    ),
    _row("audit", "[N]", "show the last N moderation actions in this room", _audit, 0, 1),
    _row("op", "USER", "make a member an admin of this room", _op, 1, 1),
    _row("deop", "USER", "take a room admin's rights away", _deop, 1, 1),
    _row("voice", "USER", "let a member speak here while the room is moderated", _voice, 1, 1),
    _row("devoice", "USER", "take a member's voice away (your own: any member)", _devoice, 1, 1),
    _row("private", "on|off", "make this room invite-only, or public", _private, 1, 1),
    _row(
        "delroom",
        "[ROOM]",
        "delete a room (default: this one) with all its messages",
        _delroom,
        0,
        1,
    ),
    _row(
        "set",
        "[SETTING VALUE]",
        "show settings; admins set key, limit, topic-lock, outsiders, moderated",
        _set,
        0,
        2,
        rest=True,
    ),
    _row("quit", "", "disconnect", _quit),
)

COMMANDS: dict[str, Command] = {c.name: c for c in TABLE}
