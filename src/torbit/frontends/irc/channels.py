"""Channel commands: JOIN, PART, TOPIC, NAMES, LIST, KICK and INVITE, each a call of the
membership or moderation service with the core's answer turned into IRC's numerics. A JOIN
is answered as IRC servers do (JOIN, topic, names) before the room's recent history, which
comes in a chathistory batch with each message's time; what others do in the room arrives
as the core's notices (render.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from torbit.core.models import Room
from torbit.core.names import name_hint, name_key
from torbit.core.numbers import ascii_number
from torbit.errors import (
    BadKey,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    RoomFull,
    ServiceUnavailable,
    TorbitError,
)
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc.render import channel_modes, channel_name, room_name
from torbit.frontends.irc.roster import namreply_text
from torbit.frontends.irc.session import IrcSession
from torbit.protocol.irc import MAX_BODY_BYTES, Message

OP_NEEDED = "You're not channel operator"


def in_room(session: IrcSession, key: str) -> Room | None:
    """The room, if this session is in it (a kick may have ended that from elsewhere)."""
    room = session.rooms.get(key)
    if room is not None and not session.core.subscriptions.is_listening(session, key):
        session.rooms.pop(key, None)
        return None
    return room


async def find_room(session: IrcSession, name: str) -> Room:
    """The room, if the client may see it; NotFound if not. Waits for clients leaving it to
    be gone first, so a room left empty is seen as gone, as on IRC."""
    await session.server.settled(name_key(name))
    return await session.core.membership.visible_room(session.nick, name)


async def roster_room(session: IrcSession, name: str) -> Room:
    """The room, if the client may list its members (`policy.check_roster`): NotFound, or
    Forbidden for a room it is banned from, by name or by a mask its address matches (a
    member so matched is put out, as by an HTTP read: core/maskgate.py). Waits for clients
    leaving it, as `find_room`."""
    await session.server.settled(name_key(name))
    return await session.core.membership.roster_room(session.nick, name, session.visitor)


async def visible_room(session: IrcSession, channel: str) -> Room | None:
    """The room `channel` names, if the client may see it (`find_room`); else None, and
    the client is told ERR_NOSUCHCHANNEL."""
    name = room_name(channel)
    try:
        if name is None:
            raise NotFound(channel)
        return await find_room(session, name)
    except NotFound:
        session.reply(n.ERR_NOSUCHCHANNEL, channel[:64], "No such channel")
        return None


async def joined_room(session: IrcSession, channel: str) -> Room | None:
    """The room `channel` names, if this session is in it (`in_room`); else None, and the
    client is told: ERR_NOTONCHANNEL for a room it may see, else ERR_NOSUCHCHANNEL."""
    name = room_name(channel)
    room = in_room(session, name_key(name)) if name else None
    if room is None and await visible_room(session, channel) is not None:
        session.reply(n.ERR_NOTONCHANNEL, channel, "You're not on that channel")
    return room


async def no_such_nick_or(session: IrcSession, nick: str, code: int, *params: str) -> None:
    """`code` if the nick is a user, else ERR_NOSUCHNICK."""
    try:
        exists = await session.core.accounts.exists(nick)
    except InvalidInput:
        exists = False
    if exists:
        session.reply(code, *params)
    else:
        session.reply(n.ERR_NOSUCHNICK, nick[:64], "No such nick/channel")


# JOIN and PART


def join(session: IrcSession, msg: Message) -> Awaitable[None]:
    if msg.params[0] == "0":
        return _part_all(session)
    keys = msg.params[1].split(",") if len(msg.params) > 1 else []
    channels = [c for c in msg.params[0].split(",") if c]
    session.charge(len(channels) - 1)  # a unit a channel, as one JOIN each would cost
    return _join_all(session, channels, keys)


async def _join_all(session: IrcSession, channels: list[str], keys: list[str]) -> None:
    """Each channel with the key in the same place of the keys' list, if any; none once the
    session is closing (a revoked login's long JOIN went on making rooms)."""
    for i, channel in enumerate(channels):
        if session.leaving:
            return
        await join_one(session, channel, keys[i] if i < len(keys) else "")


async def join_one(session: IrcSession, channel: str, join_key: str = "") -> None:
    name = room_name(channel)
    if name is None:  # no room can have it: say why, as telnet and HTTP do
        why = name_hint(channel[1:]) if channel[:1] == "#" else "a channel's name starts with #"
        session.reply(n.ERR_NOSUCHCHANNEL, channel[:64], f"No such channel: {why}")
        return
    key = name_key(name)
    if in_room(session, key) is not None:
        return
    await session.server.settled(key)
    started = session.core.membership.store_time()  # as messages are dated (attack60)
    session.hold(key)
    try:
        # a client with draft/chathistory asks with CHATHISTORY: none read for it here
        history = "draft/chathistory" not in session.caps
        room = await session.core.membership.join(session, name, join_key, history=history)
    except BaseException as e:
        session.unhold(key, None)
        if isinstance(e, NotFound):  # a private room the client was not invited to
            session.reply(n.ERR_INVITEONLYCHAN, channel, "Cannot join channel (+i)")
        elif isinstance(e, BadKey):
            session.reply(n.ERR_BADCHANNELKEY, channel, "Cannot join channel (+k)")
        elif isinstance(e, RoomFull):
            session.reply(n.ERR_CHANNELISFULL, channel, "Cannot join channel (+l)")
        elif isinstance(e, Forbidden) and "banned" in e.message:
            session.reply(n.ERR_BANNEDFROMCHAN, channel, "Cannot join channel (+b)")
        elif isinstance(e, Forbidden):
            session.reply(n.ERR_TOOMANYCHANNELS, channel, e.message)
        elif isinstance(e, (RateLimited, ServiceUnavailable)):  # try again later
            session.reply(n.ERR_UNAVAILRESOURCE, channel, f"Cannot join channel: {e.message}")
        elif isinstance(e, (InvalidInput, Conflict)):  # a name no new room may have
            session.reply(n.ERR_BADCHANNAME, channel, f"Cannot join channel: {e.message}")
        elif isinstance(e, TorbitError):
            session.server_notice(f"Cannot join {channel}: {e.message}")
        else:
            raise
        return
    session.rooms[key] = room
    extended = (session.account or "*", session.realname) if "extended-join" in session.caps else ()
    session.send(Message("JOIN", (channel_name(room.name), *extended), session.mask))
    send_topic(session, room)
    await send_names(session, room)
    session.unhold(key, started)


def part(session: IrcSession, msg: Message) -> Awaitable[None]:
    reason = msg.params[1][:200] if len(msg.params) > 1 else ""
    channels = [c for c in msg.params[0].split(",") if c]
    session.charge(len(channels) - 1)  # a unit a channel, as JOIN
    return _part(session, channels, reason)


async def _part_all(session: IrcSession) -> None:
    await _part(session, [channel_name(r.name) for r in session.rooms.values()], "")


async def _part(session: IrcSession, channels: list[str], reason: str) -> None:
    core = session.core
    for channel in channels:
        room = await joined_room(session, channel)
        if room is None:
            continue
        session.rooms.pop(room.key, None)
        try:
            await core.membership.leave(session.nick, room.name, reason, by=session)
        except Conflict:  # in the room, no longer a member (removed elsewhere): just go
            await core.membership.stop_listening(session, room.key, reason)
        except RateLimited:  # refused (leaving pays the join rate): still in it, and told
            if core.subscriptions.is_listening(session, room.key):
                session.rooms.setdefault(room.key, room)
            raise
        line = Message(
            "PART",
            (channel_name(room.name), reason) if reason else (channel_name(room.name),),
            session.mask,
        )
        session.send(line)  # the user's other connections were told by the leave


# TOPIC, NAMES, LIST


async def topic(session: IrcSession, msg: Message) -> None:
    channel = msg.params[0]
    if len(msg.params) == 1:
        shown = await visible_room(session, channel)
        if shown is not None:
            send_topic(session, shown, asked=True)
        return
    room = await joined_room(session, channel)
    if room is None:
        return
    try:
        updated = await session.core.moderation.update(session.nick, room.name, topic=msg.params[1])
    except Forbidden:
        session.reply(n.ERR_CHANOPRIVSNEEDED, channel_name(room.name), OP_NEEDED)
        return
    if in_room(session, room.key) is not None:  # a kick meanwhile: out of it, and stays so
        session.rooms[room.key] = updated


def send_topic(session: IrcSession, room: Room, *, asked: bool = False) -> None:
    """RPL_TOPIC and RPL_TOPICWHOTIME (who set it, when: Unix time), on a JOIN and a TOPIC
    query; RPL_NOTOPIC only when asked. The setter is given as `nick!user@host` while they
    are online (the mask IRC clients here know them by, as InspIRCd and ergo give it), as
    the bare nick once they are gone (modern.ircdocs.horse allows either; the store keeps
    the name, which telnet and HTTP show). A topic set before torbit kept its setter has no
    333. A topic of TOPICLEN fits its 332 unless the server name is long (it may have 63
    characters): then the 332 shows what fits rather than not being sent."""
    channel = channel_name(room.name)
    if not room.topic:
        if asked:
            session.reply(n.RPL_NOTOPIC, channel, "No topic is set")
        return
    head = f":{session.server.options.server_name} 332 {session.nick} {channel} :"
    fits = MAX_BODY_BYTES - len(head.encode()) - 2  # CR LF
    session.reply(n.RPL_TOPIC, channel, room.topic.encode()[:fits].decode(errors="ignore"))
    if room.topic_set_by and room.topic_set_at is not None:
        at = str(int(room.topic_set_at.timestamp()))
        online = session.core.subscriptions.online_name(name_key(room.topic_set_by))
        setter = session.server.mask_of(online) if online else room.topic_set_by
        session.reply(n.RPL_TOPICWHOTIME, channel, setter, at)


async def names(session: IrcSession, msg: Message) -> None:
    if not msg.params:
        session.reply(n.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return
    channels = session.capped("NAMES", [c for c in msg.params[0].split(",") if c])
    one = len(channels) == 1
    membership = session.core.membership
    for channel in channels:
        name = room_name(channel)
        try:
            if name is None:
                raise NotFound(channel)
            room = await roster_room(session, name)
        except (NotFound, Forbidden):  # a room banned from is shown as a +s channel
            continue
        try:  # paid from the read budget, as CHATHISTORY is
            granted = membership.grant_roster(session.nick, most=membership.online_count(room.key))
        except RateLimited:
            session.reply(n.RPL_TRYAGAIN, "NAMES", "Please wait a while and try again.")
            return
        membership.pay_roster(session.nick, granted, await send_names(session, room, end=one))
        if one:
            return
    # one RPL_ENDOFNAMES for the whole list (RFC 2812 3.2.5), or for a room not shown
    session.reply(n.RPL_ENDOFNAMES, msg.params[0][:200] or "*", "End of /NAMES list")


async def send_names(session: IrcSession, room: Room, *, end: bool = True) -> int:
    """RPL_NAMREPLY lines of everyone in the room, on every door, then RPL_ENDOFNAMES; how
    many names they hold (the read budget's charge)."""
    membership = session.core.membership
    roles = await membership.roles(room)
    voiced = await membership.voiced(room)
    multi = "multi-prefix" in session.caps
    full = "userhost-in-names" in session.caps
    channel = channel_name(room.name)
    server = session.server
    names = membership.online(room.key)
    text = server.roster.text(room.key, names, full, multi, roles, voiced)
    kind = "@" if room.private else "="
    head = f":{server.options.server_name} 353 {session.nick or '*'} {kind} {channel} "
    session.write(namreply_text(head, text))
    if end:
        session.reply(n.RPL_ENDOFNAMES, channel, "End of /NAMES list")
    return len(names)


LIST_PAGES = 50  # pages of rooms one LIST walks at most


LIST_MASKS = 8  # masks one LIST matches rooms against at most


def glob_match(mask: str, text: str) -> bool:
    """Whether `text` matches `mask` (`*` any characters, `?` one), in at most
    len(mask) * len(text) steps whatever the mask (no backtracking blow-up)."""
    i = j = 0
    star, mark = -1, 0
    while j < len(text):
        if i < len(mask) and mask[i] in ("?", text[j]):
            i, j = i + 1, j + 1
        elif i < len(mask) and mask[i] == "*":
            star, mark, i = i, j, i + 1
        elif star >= 0:
            i, mark = star + 1, mark + 1
            j = mark
        else:
            return False
    return all(c == "*" for c in mask[i:])


def walk_refused(session: IrcSession, command: str) -> bool:
    """Charge a whole-server walk (LIST, WHO by mask) to `limits.walk_rate`; past it the
    client gets 263 RPL_TRYAGAIN and nothing is walked."""
    try:
        session.core.membership.check_walk(session.user_key)
    except RateLimited:
        session.reply(n.RPL_TRYAGAIN, command, "Please wait a while and try again.")
        return True
    return False


async def list_(session: IrcSession, msg: Message) -> None:
    """LIST [#room,...|mask,...|!mask,...|>n|<n]: the rooms, those named, those whose
    `#name` matches one of the masks (ELIST M: `*`, `?`) and none of the `!mask`s (ELIST
    N), by how many are online (ELIST U); a page of rooms at a time, the loop let go between
    pages, the walk given up once the client is gone (its output is bounded by the writer)."""
    if walk_refused(session, "LIST"):
        return
    wanted: set[str] | None = None
    masks: list[str] = []
    nots: list[str] = []
    low, high = -1, 1 << 30
    for arg in msg.params[:1]:
        for item in arg.split(","):
            number = ascii_number(item[1:], 18)
            if item[:1] == ">" and number is not None:
                low = number
            elif item[:1] == "<" and number is not None:
                high = number
            elif item[:1] == "!" and len(item) > 1 and len(masks) + len(nots) < LIST_MASKS:
                nots.append(item[1:].lower())
            elif ("*" in item or "?" in item) and len(masks) + len(nots) < LIST_MASKS:
                masks.append(item.lower())
            elif room_name(item) is not None:
                wanted = (wanted or set()) | {name_key(item[1:])}
    session.reply(n.RPL_LISTSTART, "Channel", "Users  Name")
    after: str | None = None
    for _ in range(LIST_PAGES):  # bounded work per LIST; the output is bounded by the writer
        page = await session.core.membership.rooms(session.nick, after=after)
        for info in page.rooms:
            shown = channel_name(info.room.name).lower()
            if (
                (wanted is None or info.room.key in wanted)
                and low < info.online < high
                and (not masks or any(glob_match(m, shown) for m in masks))
                and not any(glob_match(m, shown) for m in nots)
            ):
                modes = channel_modes(info.room, show_key=False)[0]
                topic = f"[{modes}] {info.room.topic}"
                session.reply(n.RPL_LIST, channel_name(info.room.name), str(info.online), topic)
        after = page.next_after
        if after is None:
            break
        await asyncio.sleep(0)  # a store that answers at once would hold the loop throughout
        if session.closed:
            return
    session.reply(n.RPL_LISTEND, "End of /LIST")


# KICK and INVITE


async def kick(session: IrcSession, msg: Message) -> None:
    """KICK #room nick[,nick...] [reason], or KICK #a,#b nick1,nick2 (RFC 2812: each
    channel with the user at its place); at most TARGMAX users (`capped`)."""
    channels = [c for c in msg.params[0].split(",") if c]
    targets = [t for t in msg.params[1].split(",") if t]
    reason = msg.params[2] if len(msg.params) > 2 else ""  # cut to KICKLEN by the core
    if len(channels) == 1:
        pairs = [(channels[0], t) for t in session.capped("KICK", targets)]
    elif len(channels) == len(targets):
        kept = session.capped("KICK", targets)
        pairs = list(zip(channels, kept, strict=False))
    else:
        session.reply(n.ERR_NEEDMOREPARAMS, "KICK", "As many channels as users, or one")
        return
    for channel, target in pairs:
        await _kick_one(session, channel, target, reason)


async def _kick_one(session: IrcSession, channel: str, target: str, reason: str) -> None:
    room = await joined_room(session, channel)
    if room is None:
        return
    try:
        await session.core.moderation.kick(session.nick, room.name, target, reason)
    except Forbidden as e:
        session.reply(n.ERR_CHANOPRIVSNEEDED, channel_name(room.name), f"{OP_NEEDED}: {e.message}")
    except (NotFound, InvalidInput):
        await no_such_nick_or(
            session,
            target,
            n.ERR_USERNOTINCHANNEL,
            target,
            channel_name(room.name),
            "They aren't on that channel",
        )


async def invite(session: IrcSession, msg: Message) -> None:
    """INVITE nick #room; INVITE alone lists the client's own invitations (RPL_INVITELIST
    336 each, then 337), as InspIRCd and modern.ircdocs.horse do; UNINVITE declines one."""
    if not msg.params:  # newest first; none from users the client ignores
        try:
            invitations = await session.core.moderation.invitations(session.nick)
        except RateLimited:  # a read, paid from the read budget
            session.reply(n.RPL_TRYAGAIN, "INVITE", "Please wait a while and try again.")
            return
        for pending in invitations:
            session.reply(n.RPL_INVITELIST, channel_name(pending.room))
        session.reply(n.RPL_ENDOFINVITELIST, "End of /INVITE list")
        return
    if len(msg.params) < 2:
        session.reply(n.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return
    nick, channel = msg.params[0], msg.params[1]
    room = await joined_room(session, channel)
    if room is None:
        return
    try:
        invited = await session.core.moderation.invite(session.nick, room.name, nick)
    except Forbidden as e:
        session.reply(n.ERR_CHANOPRIVSNEEDED, channel_name(room.name), f"{OP_NEEDED}: {e.message}")
        return
    except Conflict as e:
        if "banned" in e.message:
            session.reply(n.ERR_BANNEDFROMCHAN, channel_name(room.name), e.message)
        else:
            session.reply(
                n.ERR_USERONCHANNEL, nick, channel_name(room.name), "is already on channel"
            )
        return
    except (NotFound, InvalidInput):
        session.reply(n.ERR_NOSUCHNICK, nick[:64], "No such nick/channel")
        return
    session.reply(n.RPL_INVITING, invited, channel_name(room.name))


async def uninvite(session: IrcSession, msg: Message) -> None:
    """UNINVITE [yournick] #room: decline one's own invitation (InspIRCd's command shape,
    where channel operators withdraw others'; here only the invitee may, as on the other
    doors). Answered with a server notice either way: no numeric says "declined"."""
    params = msg.params
    if len(params) > 1 and name_key(params[0]) != name_key(session.nick):
        session.reply(n.ERR_CHANOPRIVSNEEDED, params[1][:64], "Only the invitee may decline")
        return
    channel = params[-1]
    name = room_name(channel)
    try:
        if name is None:
            raise NotFound(channel)
        room = await session.core.moderation.decline(session.nick, name)
    except (NotFound, InvalidInput):
        session.server_notice(f"You have no invitation to {channel[:64]}")
        return
    session.server_notice(f"You declined your invitation to {channel_name(room)}")
