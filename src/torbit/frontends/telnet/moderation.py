"""The telnet door's moderation commands: creating and deleting rooms, invitations, kicks,
bans and their masks, mutes, roles and a room's settings. Who may do what is the core's
(policy.py), checked when the command acts."""

from __future__ import annotations

from datetime import UTC

from torbit.core import roomsettings
from torbit.core.banmasks import EXCEPT, INVEX
from torbit.core.format import counted
from torbit.core.models import BanMask
from torbit.core.numbers import ascii_number
from torbit.errors import InvalidInput
from torbit.frontends.telnet import rooms
from torbit.frontends.telnet.command_session import (
    CommandSession,
    Handler,
    count,
    current,
    info,
    room_arg,
)


async def create(session: CommandSession, args: tuple[str, ...]) -> None:
    if len(args) > 1 and args[1].lower() != "private":
        raise InvalidInput("usage: /create ROOM [private]")
    room = await session.core.moderation.create(
        session.name, room_arg(args[0]), private=len(args) > 1
    )
    info(
        session,
        f"you created #{room.name}" + (" (private: /invite people)" if room.private else ""),
    )
    await rooms.join(session, (room.name,))


async def delroom(session: CommandSession, args: tuple[str, ...]) -> None:
    """The deletion's notice tells this session too, as every session in the room."""
    name = room_arg(args[0]) if args else current(session).name
    room = await session.core.room_deletion.delete(session.name, name)
    if session.room is not None and session.room.key == room.key:
        session.room = None
    info(session, f"you deleted #{room.name}; /join a room to talk")


async def invite(session: CommandSession, args: tuple[str, ...]) -> None:
    room = current(session)
    name = await session.core.moderation.invite(session.name, room.name, args[0])
    info(session, f"you invited {name} to #{room.name}")


async def invites(session: CommandSession, args: tuple[str, ...]) -> None:
    pending = await session.core.moderation.invitations(session.name)
    if not pending:
        info(session, "you have no invitations")
        return
    info(
        session, f"{counted(len(pending), 'invitation')}, newest first (/join ROOM, /decline ROOM):"
    )
    for p in pending:
        info(session, f"  #{p.room}" + (f" from {p.by}" if p.by else ""))


async def decline(session: CommandSession, args: tuple[str, ...]) -> None:
    room = await session.core.moderation.decline(session.name, room_arg(args[0]))
    info(session, f"you declined the invitation to #{room}")


async def kick(session: CommandSession, args: tuple[str, ...]) -> None:
    reason = args[1] if len(args) > 1 else ""  # cleaned and cut to KICKLEN by the core
    await session.core.moderation.kick(session.name, current(session).name, args[0], reason)


async def ban(session: CommandSession, args: tuple[str, ...]) -> None:
    """USER bans an account; a mask (nick!user@host, * and ? wildcards) whoever matches."""
    reason = args[1] if len(args) > 1 else ""
    room = current(session)
    banned = await session.core.moderation.ban(session.name, room.name, args[0], reason)
    if "!" in banned:  # a mask: the room's notice names it; said here as for /unban
        info(session, f"{banned} is on the ban list of #{room.name}")


async def bans(session: CommandSession, args: tuple[str, ...]) -> None:
    room = current(session)
    moderation = session.core.moderation
    names = [b for b in await moderation.bans(session.name, room.name) if "!" not in b]
    masks = await moderation.ban_masks(session.name, room.name)
    if not names and not masks:
        info(session, f"nobody is banned from #{room.name}")
    else:
        info(session, f"banned from #{room.name}:")
    for name in names:
        session.send_line(f"  {name}")
    _masks(session, masks)
    titles = {EXCEPT: f"excepted from the ban masks of #{room.name}:"}
    titles[INVEX] = f"may join #{room.name} uninvited:"
    for kind, title in titles.items():
        listed = await moderation.exception_masks(session.name, room.name, kind)
        if listed:
            info(session, title)
        _masks(session, listed)


def _masks(session: CommandSession, masks: list[BanMask]) -> None:
    for m in masks:
        session.send_line(f"  {m.mask}  (by {m.set_by}, {m.set_at:%Y-%m-%d %H:%M} UTC)")


def _exception(kind: str, listed: str) -> tuple[Handler, Handler]:
    """/except and /unexcept (ban exceptions), /invex and /uninvex (invite exceptions)."""

    async def on(session: CommandSession, args: tuple[str, ...]) -> None:
        room = current(session)
        mask = await session.core.moderation.except_mask(session.name, room.name, args[0], kind)
        info(session, f"{mask} is on the {listed} of #{room.name}")

    async def off(session: CommandSession, args: tuple[str, ...]) -> None:
        room = current(session)
        moderation = session.core.moderation
        mask = await moderation.unexcept_mask(session.name, room.name, args[0], kind)
        info(session, f"{mask} is off the {listed} of #{room.name}")

    return on, off


except_, unexcept = _exception(EXCEPT, "exception list")
invex, uninvex = _exception(INVEX, "invite exception list")


async def unban(session: CommandSession, args: tuple[str, ...]) -> None:
    room = current(session)
    name = await session.core.moderation.unban(session.name, room.name, args[0])
    info(session, f"{name} may join #{room.name} again")


async def mute(session: CommandSession, args: tuple[str, ...]) -> None:
    minutes = ascii_number(args[1], 9)
    if minutes is None:
        raise InvalidInput("usage: /mute USER MINUTES")
    await session.core.moderation.mute(session.name, current(session).name, args[0], minutes)


async def unmute(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.moderation.unmute(session.name, current(session).name, args[0])


async def op(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.moderation.op(session.name, current(session).name, args[0])


async def deop(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.moderation.deop(session.name, current(session).name, args[0])


async def voice(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.moderation.voice(session.name, current(session).name, args[0])


async def devoice(session: CommandSession, args: tuple[str, ...]) -> None:
    await session.core.moderation.devoice(session.name, current(session).name, args[0])


async def private(session: CommandSession, args: tuple[str, ...]) -> None:
    if args[0].lower() not in ("on", "off"):
        raise InvalidInput("usage: /private on|off")
    room = current(session)
    session.room = await session.core.moderation.update(
        session.name, room.name, private=args[0].lower() == "on"
    )


async def set_(session: CommandSession, args: tuple[str, ...]) -> None:
    room = current(session)
    if len(args) == 1:
        raise InvalidInput("usage: /set [SETTING VALUE]: /set alone lists them")
    if args:
        change = roomsettings.parse_change(args[0], args[1])
        room, changed = await session.core.moderation.configure(session.name, room.name, change)
        session.room = room
        if not changed:
            info(session, f"#{room.name} already had that setting")
        return
    room = await session.core.moderation.room_settings(session.name, room.name)
    info(session, f"settings of #{room.name}:")
    for line in roomsettings.show(room):
        session.send_line("  " + line)


async def audit(session: CommandSession, args: tuple[str, ...]) -> None:
    room = current(session)
    n = count(args, "/audit [N]")
    entries = await session.core.moderation.audit(session.name, room.name, n)
    info(session, f"last {counted(len(entries), 'moderation action')} in #{room.name}:")
    tz = session.core.subscriptions.tz or UTC
    for e in reversed(entries):
        at = e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        extra = " ".join(x for x in (e.target or "", f"({e.detail})" if e.detail else "") if x)
        session.send_line(f"  {at} {e.actor} /{e.action} {extra}".rstrip())
