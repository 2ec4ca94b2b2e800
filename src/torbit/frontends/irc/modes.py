"""MODE: channel modes mapped onto torbit's rooms and their settings, user modes kept per
connection.

    +o/-o nick   make a member a room admin, or not (the owner, or the admins of a room
                 nobody owns)
    +v/-v nick   give a member a voice, or take it (room admins): a voiced member speaks
                 in a moderated room (+m); a voice ends with the membership
    +b/-b mask   ban or unban: nick (that is, nick!*@*) of a registered account bans
                 that account; any other nick!user@host mask, with * and ? wildcards,
                 bars whoever matches it (core/banmasks.py; MAXLIST b:100, else 478);
                 +b alone lists the bans
    +e/-e mask   a ban exception: no ban mask bars whoever matches it (an account's own
                 ban still does); MAXLIST e:100; +e alone lists them (348, 349)
    +I/-I mask   an invite exception: whoever matches it may join the room while it is
                 private (+i) without an invitation; MAXLIST I:100; +I alone lists them
                 (346, 347)
    +i/-i, +s/-s make the room private (invite-only and hidden) or public
    +k key / -k  a join key (core/roomsettings.py: 1-32 printable ASCII, no spaces or
                 commas; shown only to members)
    +l n / -l    a member limit (invitees, the owner and server admins are let in past it)
    +t/-t        only admins set the topic (on by default), or any member
    +n/-n        only members send (on by default), or anyone who may join a public room
    +m/-m        only the room's admins, owner and voiced members speak

The settings are the room's, kept by the core for every door: one MODE changes them in one
write, and the room sees one MODE line for it (the core's settings notice, render.py).
Owners show as ~ (PREFIX=(qov)~@+), admins as @, voiced members as +; ownership never
changes over IRC. Anything
else is ERR_UNKNOWNMODE."""

from __future__ import annotations

import contextlib

from torbit.core.banmasks import account_of, parse_mask
from torbit.core.models import Room
from torbit.core.names import name_key
from torbit.core.roomsettings import SettingsChange, check_key, parse_limit
from torbit.errors import Conflict, Forbidden, InvalidInput, ListFull, NotFound, RateLimited
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc.channels import OP_NEEDED, in_room, no_such_nick_or, visible_room
from torbit.frontends.irc.render import channel_modes, channel_name
from torbit.frontends.irc.session import IrcSession
from torbit.protocol.irc import Message

MAX_CHANGES = 4  # MODES: changes with an argument per MODE
MAX_FLAGS = 16  # changes of any kind per MODE
SETTING_FLAGS = {"t": "topic_lock", "n": "no_external", "m": "moderated"}


def takes_argument(sign: str, char: str) -> bool:
    return char in "bokIeqv" or (char == "l" and sign == "+")


def parse_changes(spec: str, args: list[str]) -> list[tuple[str, str, str | None]]:
    """'+o-b' and its arguments as (sign, mode, argument) changes; a mode with no argument
    left gets None."""
    changes: list[tuple[str, str, str | None]] = []
    sign = "+"
    for char in spec:
        if char in "+-":
            sign = char
            continue
        arg = args.pop(0) if takes_argument(sign, char) and args else None
        changes.append((sign, char, arg))
    return changes


async def mode(session: IrcSession, msg: Message) -> None:
    target = msg.params[0]
    if not target.startswith("#"):
        user_mode(session, msg)
        return
    room = await visible_room(session, target)
    if room is None:
        return
    channel = channel_name(room.name)
    if len(msg.params) == 1:
        show_key = await _reads_key(session, room)
        session.reply(n.RPL_CHANNELMODEIS, channel, *channel_modes(room, show_key=show_key))
        session.reply(n.RPL_CREATIONTIME, channel, str(int(room.created_at.timestamp())))
        return
    settings: dict[str, object] = {}
    with_argument = 0
    for sign, char, arg in parse_changes(msg.params[1], list(msg.params[2:]))[:MAX_FLAGS]:
        with_argument += takes_argument(sign, char)
        if with_argument > MAX_CHANGES:
            break
        if char in "isklntm":
            _setting(session, channel, settings, sign, char, arg)
        elif session.leaving:  # a revoked login's line: the rest of it is not done
            return
        else:
            await _member_mode(session, room, sign, char, arg)
    if settings and not session.leaving:
        await _configure(session, room, SettingsChange(**settings))  # type: ignore[arg-type]


async def _reads_key(session: IrcSession, room: Room) -> bool:
    """Whether MODE #room shows the client the join key: to members only, and not to one
    whose client a ban mask of the room matches (it was offline when the mask was set, and
    asks without joining), who is put out instead, as by any other read (core/maskgate.py).
    A room without masks: one dict lookup more."""
    membership = session.core.membership
    if in_room(session, room.key) is None and not await membership.is_member(
        session.nick, room.key
    ):
        return False
    try:
        await membership.check_visitor(session.nick, room, session.visitor)
    except Forbidden:
        return False
    return True


def _setting(
    session: IrcSession,
    channel: str,
    settings: dict[str, object],
    sign: str,
    char: str,
    arg: str | None,
) -> None:
    """Collect one room setting; a bad value is told now, the rest are applied together."""
    on = sign == "+"
    if char in "is":
        settings["private"] = on
    elif char in SETTING_FLAGS:
        settings[SETTING_FLAGS[char]] = on
    elif char == "k" and not on:
        settings["join_key"] = ""
    elif char == "l" and not on:
        settings["member_limit"] = 0
    elif arg is None:
        session.reply(n.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
    else:
        try:
            if char == "k":
                settings["join_key"] = check_key(arg)
            else:
                settings["member_limit"] = parse_limit(arg)
        except InvalidInput as e:
            shown = "*" if char == "k" or not arg else arg[:32]
            session.reply(n.ERR_INVALIDMODEPARAM, channel, char, shown, e.message)


async def _configure(session: IrcSession, room: Room, change: SettingsChange) -> None:
    channel = channel_name(room.name)
    try:
        updated, _ = await session.core.moderation.configure(session.nick, room.name, change)
    except Forbidden as e:
        session.reply(n.ERR_CHANOPRIVSNEEDED, channel, f"{OP_NEEDED}: {e.message}")
        return
    except (InvalidInput, Conflict, RateLimited) as e:
        session.server_notice(e.message)
        return
    if updated.key in session.rooms:
        session.rooms[updated.key] = updated


async def _member_mode(
    session: IrcSession, room: Room, sign: str, char: str, arg: str | None
) -> None:
    """+o/-o, +v/-v and +b/-b: one user each; +e/-e and +I/-I: one mask."""
    moderation = session.core.moderation
    channel = channel_name(room.name)
    try:
        if char == "b" and arg is None:
            await _ban_list(session, room)
        elif char in "eI" and arg is None:
            await _exception_list(session, room, char)
        elif char in "eI" and arg is not None:
            await _exception(session, room, sign, char, arg)
        elif char in "ovb" and arg is None:
            session.reply(n.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
        elif char == "o" and arg is not None:
            if sign == "+":
                await moderation.op(session.nick, room.name, arg)
            else:
                await moderation.deop(session.nick, room.name, arg)
        elif char == "v" and arg is not None:
            if sign == "+":
                await moderation.voice(session.nick, room.name, arg)
            else:
                await moderation.devoice(session.nick, room.name, arg)
        elif char == "b" and arg is not None:
            await _ban(session, room, sign, arg)
        else:
            session.reply(n.ERR_UNKNOWNMODE, char, f"is not a mode {channel} can have changed here")
    except Forbidden as e:
        session.reply(n.ERR_CHANOPRIVSNEEDED, channel, f"{OP_NEEDED}: {e.message}")
    except ListFull:
        session.reply(n.ERR_BANLISTFULL, channel, char, "Channel list is full")
    except (NotFound, InvalidInput):
        nick = ban_target(arg) if char == "b" and arg else arg
        if nick is None:
            session.reply(n.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
        else:
            await no_such_nick_or(
                session,
                nick,
                n.ERR_USERNOTINCHANNEL,
                nick,
                channel,
                "They aren't on that channel",
            )
    except (Conflict, RateLimited) as e:
        session.server_notice(e.message)


async def _ban_list(session: IrcSession, room: Room) -> None:
    """RPL_BANLIST: accounts' bans as `nick!*@*`, then the masks with who set them and when
    (Modern's five-parameter form)."""
    moderation = session.core.moderation
    channel = channel_name(room.name)
    for banned in await moderation.bans(session.nick, room.name, session.visitor):
        if "!" not in banned:
            session.reply(n.RPL_BANLIST, channel, f"{banned}!*@*")
    for entry in await moderation.ban_masks(session.nick, room.name):
        at = str(int(entry.set_at.timestamp()))
        session.reply(n.RPL_BANLIST, channel, entry.mask, entry.set_by, at)
    session.reply(n.RPL_ENDOFBANLIST, channel, "End of channel ban list")


_LISTS = {  # an exception list's replies and what its end says
    "e": (n.RPL_EXCEPTLIST, n.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (n.RPL_INVEXLIST, n.RPL_ENDOFINVEXLIST, "End of channel invite exception list"),
}


async def _exception_list(session: IrcSession, room: Room, char: str) -> None:
    """RPL_EXCEPTLIST or RPL_INVEXLIST, as RPL_BANLIST: each mask with who set it and
    when."""
    channel = channel_name(room.name)
    entry_reply, end_reply, end = _LISTS[char]
    moderation = session.core.moderation
    for entry in await moderation.exception_masks(session.nick, room.name, char, session.visitor):
        at = str(int(entry.set_at.timestamp()))
        session.reply(entry_reply, channel, entry.mask, entry.set_by, at)
    session.reply(end_reply, channel, end)


def _mask_of(session: IrcSession, arg: str) -> str | None:
    """`arg` as a mask of +b, +e or +I (a nick alone is `nick!*@*`); None once a bad mask has
    been told as a NOTICE."""
    try:
        mask = parse_mask(arg) or parse_mask(f"{arg}!*@*")
    except InvalidInput as e:
        session.server_notice(e.message)
        return None
    assert mask is not None
    return mask


async def _exception(session: IrcSession, room: Room, sign: str, char: str, arg: str) -> None:
    """+e/-e, +I/-I: a nick alone is `nick!*@*`. A bad mask is a NOTICE; lifting a mask the
    list does not hold does nothing, as -b."""
    moderation = session.core.moderation
    mask = _mask_of(session, arg)
    if mask is None:
        return
    if sign == "+":
        await moderation.except_mask(session.nick, room.name, mask, char)
        return
    with contextlib.suppress(NotFound):
        await moderation.unexcept_mask(session.nick, room.name, mask, char)


async def _ban(session: IrcSession, room: Room, sign: str, arg: str) -> None:
    """+b/-b: a nick alone is `nick!*@*`, as on any IRC server: the ban of that account
    when it is a registered one, else a mask (a guest's nick, a nick nobody holds yet);
    any other mask goes on the room's mask list (core/banmasks.py). A bad mask is a
    NOTICE; lifting a mask the list does not hold does nothing, as on other servers."""
    moderation = session.core.moderation
    mask = _mask_of(session, arg)
    if mask is None:
        return
    if sign == "+":
        await moderation.ban(session.nick, room.name, mask)
        return
    try:
        await moderation.unban(session.nick, room.name, mask)
    except NotFound:
        if account_of(mask) is not None and ban_target(arg) is not None:
            raise  # a nick: "no such nick" or "not on that channel", as before


def ban_target(mask: str) -> str | None:
    """The account a ban mask names: "nick" or "nick!*@*"; None for a real mask."""
    nick, bang, rest = mask.partition("!")
    if bang and rest not in ("*@*", "*"):
        return None
    if not nick or any(c in nick for c in "*?"):
        return None
    return nick


def user_mode(session: IrcSession, msg: Message) -> None:
    target = msg.params[0]
    if name_key(target) != session.user_key:
        online = session.core.subscriptions.online_name(name_key(target)) is not None
        if online:
            session.reply(n.ERR_USERSDONTMATCH, "Cannot change mode for other users")
        else:
            session.reply(n.ERR_NOSUCHNICK, target[:64], "No such nick/channel")
        return
    operators = session.core.operators
    if len(msg.params) == 1:
        on = "i" * session.invisible + "o" * (operators.of(session) is not None)
        session.reply(n.RPL_UMODEIS, "+" + on + "w" * session.wallops)
        return
    applied = ""
    sign = "+"
    for char in msg.params[1]:
        if char in "+-":
            sign = char
        elif char == "i":
            if session.invisible != (sign == "+"):
                session.invisible = sign == "+"
                applied += sign + "i"
        elif char == "w":  # WALLOPS without being an operator
            if session.wallops != (sign == "+"):
                session.wallops = sign == "+"
                applied += sign + "w"
        elif char == "o":  # +o only through OPER; -o gives the status up
            if sign == "-" and operators.drop(session):
                applied += "-o"
        else:
            session.reply(n.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
            return
    if applied:
        session.send(Message("MODE", (session.nick, applied), session.mask))
