"""Who is who: WHO, WHOIS, WHOWAS, USERHOST, ISON; AWAY (with away-notify); SILENCE, which is
torbit's ignore list; and the server's VERSION, TIME, INFO and LINKS. Users on every door
and every node are shown; a user on another door has their name as ident and realname; one
on another node, the details that node sent (core/presence.py, `Details`)."""

from __future__ import annotations

import asyncio
import fnmatch
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from torbit.core.events import DetailsChanged
from torbit.core.models import Role
from torbit.core.names import MAX_NAME_LENGTH, is_inbox, name_key
from torbit.core.numbers import ascii_number
from torbit.core.text import clean_label
from torbit.errors import Forbidden, InvalidInput, ListFull, NotFound, RateLimited
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc.channels import roster_room, walk_refused
from torbit.frontends.irc.context import IrcCore
from torbit.frontends.irc.modes import ban_target
from torbit.frontends.irc.pacing import NICKS_A_UNIT
from torbit.frontends.irc.registration import REALNAME_MAX
from torbit.frontends.irc.render import channel_name, prefix, room_name
from torbit.frontends.irc.session import IrcSession, UserInfo
from torbit.protocol.irc import MAX_BODY_BYTES, Message
from torbit.protocol.irc_replies import list_numerics, numeric

# an ISON answer's longest line: a full request line's nicks behind the longest prefix,
# `:` + server name (63) + ` 303 ` + nick (32) + ` :`, where the request has `ISON `
ISON_REPLY_MAX_BYTES = MAX_BODY_BYTES + 1 + 63 + 5 + MAX_NAME_LENGTH + 2 - len("ISON ")
WHO_MAX_REPLIES = 500  # users one WHO by mask shows at most (ratbox/hybrid's cap), then 416
WHO_CHUNK = 1000  # users matched between two lets-go of the loop
WHOX_FIELDS = "tcuihsnfdlaor"  # WHOX's fields, in the order a 354 gives them


class Whox:
    """WHO's second parameter in WHOX form, `%fields[,token]`: each user is one 354 of the
    fields asked for, in WHOX_FIELDS' order (t: the token, 1-3 digits, else 0)."""

    __slots__ = ("fields", "token")

    def __init__(self, arg: str) -> None:
        fields, _, token = arg[1:].partition(",")
        self.fields = [c for c in WHOX_FIELDS if c in fields]
        self.token = token if ascii_number(token, 3) is not None else "0"

    @staticmethod
    def of(msg: Message) -> Whox | None:
        return Whox(msg.params[1]) if len(msg.params) > 1 and msg.params[1][:1] == "%" else None


def _who_line(
    session: IrcSession,
    channel: str,
    info: UserInfo,
    role: Role | None,
    voiced: bool = False,
    whox: Whox | None = None,
) -> None:
    flags = ("G" if info.away else "H") + ("*" if info.operator else "")
    flags += prefix(role, "multi-prefix" in session.caps, voiced)
    server = session.server.options.server_name
    if whox is None:
        session.reply(
            n.RPL_WHOREPLY,
            channel,
            info.ident,
            info.host,
            server,
            info.nick,
            flags,
            f"0 {info.realname}",
        )
        return
    idle = int(time.time() - info.client.last_spoke) if info.client is not None else 0
    values = {
        "t": whox.token,
        "c": channel,
        "u": info.ident,
        "i": "255.255.255.255",  # addresses are not shown
        "h": info.host,
        "s": server,
        "n": info.nick,
        "f": flags,
        "d": "0",  # hops: one server
        "l": str(idle),
        "a": info.account or "0",
        "o": "n/a",
        "r": info.realname,
    }
    session.reply(n.RPL_WHOSPCRPL, *(values[c] for c in whox.fields))


async def who(session: IrcSession, msg: Message) -> None:
    """WHO mask [%fields[,token]]: 352 lines, or 354 lines of the fields asked (WHOX). A
    channel's is a roster read, charged to the read budget (263 past it), as NAMES is."""
    mask = msg.params[0] if msg.params and msg.params[0] else "*"
    whox = Whox.of(msg)
    core = session.core
    server = session.server
    name = room_name(mask)
    if name is not None:
        try:
            room = await roster_room(session, name)
        except (NotFound, Forbidden):  # a room banned from is shown as a +s channel
            room = None
        if room is not None:
            membership = core.membership
            try:  # a roster read, paid from the read budget as NAMES is
                granted = membership.grant_roster(
                    session.nick, most=membership.online_count(room.key)
                )
            except RateLimited:
                session.reply(n.RPL_TRYAGAIN, "WHO", "Please wait a while and try again.")
                return
            roles = await membership.roles(room)
            voiced = await membership.voiced(room)
            online = membership.online(room.key)
            membership.pay_roster(session.nick, granted, len(online))
            for user in online:
                _who_line(
                    session,
                    channel_name(room.name),
                    server.user_info(user),
                    roles.get(key := name_key(user)),
                    key in voiced,
                    whox,
                )
    elif not mask.startswith("#"):
        pattern = "*" if mask == "0" else mask.lower()
        wild = any(c in pattern for c in "*?")
        if not wild:  # one nick: online here or, in a cluster, on another node
            name = core.subscriptions.online_name(name_key(mask))
            if name is not None:
                _who_line(session, "*", server.user_info(name), None, whox=whox)
        elif not walk_refused(session, "WHO"):  # a mask matches the users of every node
            await _who_mask(session, pattern, whox)
    session.reply(n.RPL_ENDOFWHO, mask[:64], "End of WHO list")


async def _who_mask(session: IrcSession, pattern: str, whox: Whox | None) -> None:
    """The users of every node matching a mask: at most WHO_MAX_REPLIES (then 416), the
    loop let go every WHO_CHUNK users (the walk was one stretch over everyone online), and
    given up once the client is gone."""
    server = session.server
    match = re.compile(fnmatch.translate(pattern)).match
    shown = 0
    for i, (_, name) in enumerate(sorted(session.core.subscriptions.everyone()), 1):
        if match(name.lower()):
            info = server.user_info(name)
            if not _hidden(session, info):
                if shown == WHO_MAX_REPLIES:
                    session.reply(n.ERR_TOOMANYMATCHES, "WHO", "Output too long (narrow the mask)")
                    return
                _who_line(session, "*", info, None, whox=whox)
                shown += 1
        if i % WHO_CHUNK == 0:
            await asyncio.sleep(0)
            if session.closed:
                return


def _hidden(session: IrcSession, info: UserInfo) -> bool:
    """+i hides a client from masks, unless it shares a room with the one asking."""
    client = info.client
    if client is None:  # on another node: the rooms it is online in there
        rooms = session.core.subscriptions.rooms_elsewhere(name_key(info.nick))
        return info.invisible and not session.rooms.keys() & set(rooms)
    if not client.invisible or client is session:
        return False
    return not client.rooms.keys() & session.rooms.keys()


async def whois(session: IrcSession, msg: Message) -> None:
    """Of a user online here or, in a cluster, in a room on another node (with the client
    details that node sent; no idle time)."""
    target = session.capped("WHOIS", msg.params[-1].split(","))[0]
    core = session.core
    name = core.subscriptions.online_name(name_key(target)) if target else None
    if name is None:
        session.reply(n.ERR_NOSUCHNICK, target[:64] or "*", "No such nick/channel")
        session.reply(n.RPL_ENDOFWHOIS, target[:64] or "*", "End of /WHOIS list")
        return
    info = session.server.user_info(name)
    nick = info.nick
    session.reply(n.RPL_WHOISUSER, nick, info.ident, info.host, "*", info.realname)
    keys = {
        key
        for other in core.subscriptions.sessions_of(name_key(nick))
        if not core.subscriptions.departed(other)
        for key in core.subscriptions.channels_of(other)
        if not is_inbox(key)
    }
    keys.update(core.subscriptions.rooms_elsewhere(name_key(nick)))
    channels: list[str] = []
    multi = "multi-prefix" in session.caps
    for key in sorted(keys):
        try:  # a room the asker is banned from (by name or mask) names none of its members
            room = await core.membership.roster_room(session.nick, key, session.visitor)
        except (NotFound, Forbidden):
            continue
        if room.private and key not in session.rooms:
            continue
        role = (await core.membership.roles(room)).get(name_key(nick))
        voiced = name_key(nick) in await core.membership.voiced(room)
        channels.append(prefix(role, multi, voiced) + channel_name(room.name))
    options = session.server.options
    # as many 319s as the list needs: one cut at 512 bytes lost the rest and showed a cut name
    for line in list_numerics(
        options.server_name, session.nick, n.RPL_WHOISCHANNELS, sorted(channels), nick, sep=" "
    ):
        session.send(line)
    session.reply(n.RPL_WHOISSERVER, nick, options.server_name, options.server_description)
    if info.operator:
        session.reply(n.RPL_WHOISOPERATOR, nick, "is an IRC operator")
    if info.away:
        session.reply(n.RPL_AWAY, nick, info.away)
    if info.account:
        session.reply(n.RPL_WHOISACCOUNT, nick, info.account, "is logged in as")
    if info.client is not None:
        idle = int(time.time() - info.client.last_spoke)
        signon = int(info.client.connected_at)
        session.reply(n.RPL_WHOISIDLE, nick, str(idle), str(signon), "seconds idle, signon time")
    session.reply(n.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")


async def whowas(session: IrcSession, msg: Message) -> None:
    """WHOWAS nick [count]: IRC clients that left this node, newest first. A client whose
    QUIT was answered is in it: its departure, worked off in a batch, is waited for."""
    nick = msg.params[0].split(",")[0][:64]
    count = msg.params[1] if len(msg.params) > 1 else ""
    wanted = ascii_number(count, 5) or 0
    key = name_key(nick)
    await session.server.nick_free(key)
    found = [i for i in reversed(session.server.departed) if name_key(i.nick) == key]
    if not found:
        session.reply(n.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    server = session.server.options.server_name
    for info in found[:wanted] if wanted > 0 else found:
        session.reply(n.RPL_WHOWASUSER, info.nick, info.ident, info.host, "*", info.realname)
        session.reply(
            n.RPL_WHOISSERVER, info.nick, server, session.server.options.server_description
        )
    session.reply(n.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")


def userhost(session: IrcSession, msg: Message) -> None:
    replies = []
    for nick in msg.params[:5]:
        name = session.core.subscriptions.online_name(name_key(nick))
        if name is not None:
            info = session.server.user_info(name)
            replies.append(f"{info.nick}={'-' if info.away else '+'}{info.ident}@{info.host}")
    session.reply(n.RPL_USERHOST, " ".join(replies))


def ison(session: IrcSession, msg: Message) -> None:
    """ISON nick...: one RPL_ISON (303) naming those of the nicks online. One line, as RFC
    2812 (4.9) has it: clients take it as the whole answer (HexChat and irssi mark every
    nick asked that one 303 leaves out offline, so a second 303 would undo the first).
    Every nick asked is looked up: the 512-byte line bounds them (~250 at most).

    The answer's prefix (`:server 303 nick :`) is longer than the request's (`ISON :`), so
    a full line of nicks, all online, answers past 512 bytes. irssi's notify list asks just
    that (src/irc/notifylist/notify-ison.c packs each ISON to 510 bytes), and met with 416
    it never asked again on that connection (it waits for the 303). So the 303 may pass 512
    bytes by the prefix, ISON_REPLY_MAX_BYTES at most; irssi (64 KiB), HexChat (8,704
    bytes) and WeeChat read such a line. Past that bound (never, for a request within the
    line limit) ERR_TOOMANYMATCHES (416): a 303 of only the nicks that fit would read the
    others as offline."""
    subs = session.core.subscriptions
    words = [w for p in msg.params for w in p.split(" ") if w]
    session.charge(len(words) // NICKS_A_UNIT)  # every nick asked is looked up
    online = [name for w in words if (name := subs.online_name(name_key(w))) is not None]
    answer = numeric(session.server.options.server_name, session.nick, n.RPL_ISON, " ".join(online))
    try:
        data = answer.encode(max_bytes=ISON_REPLY_MAX_BYTES)
    except ValueError:
        session.reply(n.ERR_TOOMANYMATCHES, "ISON", "Output too long (ask fewer nicks per ISON)")
        return
    session.write(data)


async def away(session: IrcSession, msg: Message) -> None:
    """AWAY [:text]: the away state every door and node shares (core/away.py), which tells
    the clients sharing a channel (away-notify), here and on the other nodes."""
    try:
        text = await session.core.away.set(
            session.user_key, msg.params[0] if msg.params else None, session
        )
    except RateLimited as e:
        session.server_notice(f"AWAY not changed: {e.message}")
        return
    if text:
        session.reply(n.RPL_NOWAWAY, "You have been marked as being away")
    else:
        session.reply(n.RPL_UNAWAY, "You are no longer marked as being away")


async def setname(session: IrcSession, msg: Message) -> None:
    """SETNAME :realname (IRCv3 setname): the real name WHOIS and WHO show from now on, on
    every node. The change is told, as `:nick!u@h SETNAME :name`, to the client and, among
    those with the cap, to whom an away change is told (core/away.py: sharing a channel of
    at most `chat.presence_notices_max` listeners, not ignoring the user; MONITOR watchers
    with extended-monitor, not ignoring the user), here and on the other nodes
    (`details_elsewhere`), and charged to the same rate (`limits.away_rate`)."""
    raw = msg.params[0]
    text = clean_label(raw, 4 * REALNAME_MAX) if len(raw) <= REALNAME_MAX else ""
    if not text:  # shown to others: cleaned as shown text is, or refused if nothing is left
        session.fail("SETNAME", "INVALID_REALNAME", "Realname is not valid")
        return
    try:
        sharing = session.core.away.details_changed(session.user_key)
    except RateLimited as e:
        session.fail("SETNAME", "CANNOT_CHANGE_REALNAME", f"Realname not changed: {e.message}")
        return
    session.realname = text
    about = (session.user_key,)
    watching = [
        w
        for w in session.core.subscriptions.watchers(session.user_key)
        if isinstance(w, IrcSession)
        and "extended-monitor" in w.caps
        and w.user_key != session.user_key
        and w.ignores.isdisjoint(about)
    ]
    _tell_setname(Message("SETNAME", (text,), session.mask), [session, *sharing, *watching])
    await session.core.away.publish_details(session.user_key, session.nick, realname=text)


def _tell_setname(line: Message, sessions: Iterable[object]) -> None:
    told: set[int] = set()
    for other in sessions:
        if isinstance(other, IrcSession) and id(other) not in told:
            told.add(id(other))
            if "setname" in other.caps and not other.closed:
                other.send(line)


def details_elsewhere(event: DetailsChanged, mask_of: Callable[[str], str], core: IrcCore) -> None:
    """Another node's user changed their real name (SETNAME) or their name (NICK): the IRC
    clients here are told as that node told its own. A SETNAME goes to those with the cap
    whom an away change would tell, and to MONITOR watchers with extended-monitor; a NICK
    to the clients sharing a channel with the user (a guest's new name: in channels of at
    most `chat.presence_notices_max` listeners, as its join would be)."""
    if event.realname:
        line = Message("SETNAME", (event.realname,), mask_of(event.name))
        watching = [
            w
            for w in core.subscriptions.watchers(event.user)
            if isinstance(w, IrcSession)
            and "extended-monitor" in w.caps
            and w.ignores.isdisjoint((event.user,))
        ]
        _tell_setname(line, [*core.away.sharing_details(event), *watching])
    if event.old_name and event.old_name != event.name:
        line = Message("NICK", (event.name,), mask_of(event.old_name))
        recase = name_key(event.old_name) == event.user  # told unbounded, as here
        for other in core.away.sharing_details(event, bounded=not recase):
            if isinstance(other, IrcSession) and not other.closed:
                other.send(line)


async def silence(session: IrcSession, msg: Message) -> None:
    """SILENCE [+|-nick[!*@*]]: torbit's ignore list, which every door shares."""
    ignores = session.core.ignores
    if not msg.params:
        try:
            names = await ignores.ignored(session.nick)
        except RateLimited:  # a read, paid from the read budget
            session.reply(n.RPL_TRYAGAIN, "SILENCE", "Please wait a while and try again.")
            return
        for name in names:
            session.reply(n.RPL_SILELIST, session.nick, f"{name}!*@*")
        session.reply(n.RPL_ENDOFSILELIST, "End of Silence List")
        return
    for item in msg.params[0].split(","):
        sign, mask = ("-", item[1:]) if item[:1] == "-" else ("+", item.lstrip("+"))
        nick = ban_target(mask)
        if nick is None:
            session.server_notice(f"SILENCE {item}: name one user, as nick or nick!*@*")
            continue
        try:
            if sign == "+":
                nick = await ignores.ignore(session.nick, nick)
            else:
                nick = await ignores.unignore(session.nick, nick)
        except ListFull:
            session.reply(n.ERR_SILELISTFULL, f"{nick}!*@*", "Your silence list is full")
            continue
        except (NotFound, InvalidInput) as e:
            session.server_notice(f"SILENCE {item}: {e.message}")
            continue
        session.send(Message("SILENCE", (f"{sign}{nick}!*@*",), session.mask))


def version(session: IrcSession, msg: Message) -> None:
    options = session.server.options
    session.reply(n.RPL_VERSION, options.version, options.server_name, "torbit chat server")


def time_(session: IrcSession, msg: Message) -> None:
    now = datetime.now(UTC)
    session.reply(
        n.RPL_TIME, session.server.options.server_name, now.strftime("%A %B %d %Y -- %H:%M:%S UTC")
    )


def info(session: IrcSession, msg: Message) -> None:
    options = session.server.options
    for line in (
        f"{options.version}: a multi-room chat server",
        "Rooms are channels; accounts are nicks.",
    ):
        session.reply(n.RPL_INFO, line)
    session.reply(n.RPL_ENDOFINFO, "End of /INFO list")


def links(session: IrcSession, msg: Message) -> None:
    server = session.server.options.server_name
    description = session.server.options.server_description
    session.reply(n.RPL_LINKS, server, server, f"0 {description}")
    session.reply(n.RPL_ENDOFLINKS, "*", "End of /LINKS list")
