"""MODE: channel modes mapped onto torbit's rooms, user modes kept per connection.

    +o/-o nick   make a member a room admin, or not (the owner, or the admins of a room
                 nobody owns)
    +b/-b mask   ban or unban the account a mask names (nick, or nick!*@*): torbit bans
                 accounts, not address masks; +b alone lists the bans
    +i/-i, +s/-s make the room private (invite-only and hidden) or public
    +n, +t       always set: only members send, only admins set the topic

Owners show as ~ (PREFIX=(qo)~@), admins as @; ownership never changes over IRC. Anything
else is ERR_UNKNOWNMODE. Every change is shown to the room by the core's notice of it."""

from __future__ import annotations

from torbit.core.names import name_key
from torbit.errors import Conflict, Forbidden, InvalidInput, NotFound
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc.channels import OP_NEEDED, find_room, no_such_nick_or
from torbit.frontends.irc.render import channel_name, room_name
from torbit.frontends.irc.session import IrcSession
from torbit.protocol.irc import Message

TAKES_ARGUMENT = frozenset("bokleIqv")
MAX_CHANGES = 4  # MODES


def parse_changes(spec: str, args: list[str]) -> list[tuple[str, str, str | None]]:
    """'+o-b' and its arguments as (sign, mode, argument) changes; a mode with no argument
    left gets None."""
    changes: list[tuple[str, str, str | None]] = []
    sign = "+"
    for char in spec:
        if char in "+-":
            sign = char
            continue
        arg = args.pop(0) if char in TAKES_ARGUMENT and args else None
        changes.append((sign, char, arg))
    return changes


async def mode(session: IrcSession, msg: Message) -> None:
    target = msg.params[0]
    if not target.startswith("#"):
        user_mode(session, msg)
        return
    name = room_name(target)
    core = session.core
    try:
        if name is None:
            raise NotFound(target)
        room = await find_room(session, name)
    except NotFound:
        session.reply(n.ERR_NOSUCHCHANNEL, target[:64], "No such channel")
        return
    channel = channel_name(room.name)
    if len(msg.params) == 1:
        session.reply(n.RPL_CHANNELMODEIS, channel, "+inst" if room.private else "+nt")
        session.reply(n.RPL_CREATIONTIME, channel, str(int(room.created_at.timestamp())))
        return
    moderation = core.moderation
    for sign, char, arg in parse_changes(msg.params[1], list(msg.params[2:]))[:MAX_CHANGES]:
        try:
            if char == "b" and arg is None:
                for banned in await moderation.bans(session.nick, room.name):
                    session.reply(n.RPL_BANLIST, channel, f"{banned}!*@*")
                session.reply(n.RPL_ENDOFBANLIST, channel, "End of channel ban list")
            elif char in "ob" and arg is None:
                session.reply(n.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
            elif char == "o" and arg is not None:
                if sign == "+":
                    await moderation.op(session.nick, room.name, arg)
                else:
                    await moderation.deop(session.nick, room.name, arg)
            elif char == "b" and arg is not None:
                nick = ban_target(arg)
                if nick is None:
                    session.server_notice(f"{arg}: a ban names one account, as nick or nick!*@*")
                elif sign == "+":
                    await moderation.ban(session.nick, room.name, nick)
                else:
                    await moderation.unban(session.nick, room.name, nick)
            elif char in "is":
                if (sign == "+") != room.private:
                    room = await moderation.update(session.nick, room.name, private=sign == "+")
                    if room.key in session.rooms:
                        session.rooms[room.key] = room
            elif char in "nt" and sign == "+":
                pass  # always set
            else:
                session.reply(
                    n.ERR_UNKNOWNMODE, char, f"is not a mode {channel} can have changed here"
                )
        except Forbidden as e:
            session.reply(n.ERR_CHANOPRIVSNEEDED, channel, f"{OP_NEEDED}: {e.message}")
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
        except Conflict as e:
            session.server_notice(e.message)


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
        online = session.core.subscriptions.presence(name_key(target)) is not None
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
