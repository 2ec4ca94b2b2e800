"""How torbit's messages and notices look on IRC: a room message is a PRIVMSG (NOTICE, CTCP
ACTION) to its channel, a private message one to a nick, a notice about a room the JOIN,
PART, QUIT, KICK, TOPIC or MODE line an IRC server would send, anything else a NOTICE from
the server. A message's IRCv3 tags (time, msgid, account) follow the capabilities each client
enabled; the lines of one message (or run of messages) are encoded once per set of enabled
caps and target, and shared by every client with the same (`LineCache`), as the core encodes
once per door."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NamedTuple

from torbit.core.delivery import Delivery, Notice, NoticeKind, Run
from torbit.core.models import Message as ChatMessage
from torbit.core.models import MessageKind, Role, Room
from torbit.core.names import inbox_channel, is_inbox, is_valid_name, name_key
from torbit.core.numbers import ascii_number
from torbit.protocol.irc import Message
from torbit.protocol.irc_replies import text_messages

ACTION_START: Final = "\x01ACTION "
NOTICES: Final = frozenset((MessageKind.NOTICE, MessageKind.PRIVATE_NOTICE))  # sent as NOTICE
# mIRC formatting: bold, colour (with its digits), hex colour, reset, monospace, reverse,
# italics, strikethrough, underline. Shown as plain text on the other doors.
_FORMATTING: Final = re.compile(
    "\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    "|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)


def strip_formatting(text: str) -> str:
    return _FORMATTING.sub("", text)


def server_time(at: datetime) -> str:
    """The server-time tag's value: UTC, milliseconds, Z."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def parse_server_time(value: str) -> datetime | None:
    """A `timestamp=` reference (CHATHISTORY) as an aware datetime, or None."""
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def msgid(message: ChatMessage) -> str:
    """The msgid tag: the message's channel and its id there, as every door knows them."""
    return f"{message.channel}-{message.id}"


def parse_msgid(value: str) -> tuple[str, int] | None:
    channel, dash, number = value.rpartition("-")
    n = ascii_number(number, 18)
    if not dash or not channel or n is None:
        return None
    return channel, n


def channel_name(room_name: str) -> str:
    return "#" + room_name


def room_name(channel: str) -> str | None:
    """The room a channel names: '#' and a valid room name, else None."""
    if channel[:1] != "#" or not is_valid_name(channel[1:]):
        return None
    return channel[1:]


_MEMBER_MODES = {
    NoticeKind.OP: "+o",
    NoticeKind.DEOP: "-o",
    NoticeKind.VOICE: "+v",
    NoticeKind.DEVOICE: "-v",
}
_MASK_MODES = {
    NoticeKind.BAN_MASK: "+b",
    NoticeKind.UNBAN_MASK: "-b",
    NoticeKind.EXCEPT_MASK: "+e",
    NoticeKind.UNEXCEPT_MASK: "-e",
    NoticeKind.INVEX_MASK: "+I",
    NoticeKind.UNINVEX_MASK: "-I",
}


def prefix(role: Role | None, multi: bool, voiced: bool = False) -> str:
    """The channel prefix of a role and a voice (PREFIX=(qov)~@+): the highest, or with
    multi-prefix all that apply, highest first."""
    if role is None or role < Role.ADMIN:
        ranks = ""
    elif role is Role.ADMIN:
        ranks = "@"
    else:
        ranks = "~@"
    if voiced:
        ranks += "+"
    return ranks if multi else ranks[:1]


class Variant(NamedTuple):
    """What differs between the renderings of one message: the tags a client gets, and the
    private-message target, which depends on who reads it."""

    time: bool
    msgid: bool
    account: bool
    target: str = ""
    stamp: bool = False  # no server-time: history gets its time written before the text


LineKey = tuple[frozenset[str], str]
"""A reader's enabled caps (`Caps.enabled`: a frozenset replaced on a change, its hash kept)
and its target (a room's name, a private message's nick): all that its lines depend on, so
one rendering serves every reader with the same, looked up without a Python call."""


NoticeOut = tuple[tuple[tuple[str, str] | None, bytes], ...]
"""A notice's lines for one `LineKey`: each line's bytes, after the QUIT/NICK it says, if
any (a client is told one of those once a loop turn, not once per room it shares)."""


class LineCache:
    """The lines of the message being fanned out (`delivery`), of the run of messages
    being fanned out (`run`) and of the notice being told (`notice` to `channel`), by
    `LineKey`: each rendered once per distinct key, not per recipient. The sessions read
    the attributes inline (a hit costs no Python call) and call `start`/`start_run`/
    `start_notice` when the subject changes."""

    __slots__ = ("channel", "delivery", "lines", "notice", "notice_lines", "run", "run_lines")

    def __init__(self) -> None:
        self.delivery: Delivery | None = None
        self.lines: dict[LineKey, bytes] = {}
        self.run: Run | None = None
        self.run_lines: dict[LineKey, bytes] = {}
        self.notice: Notice | None = None
        self.channel: str | None = None
        self.notice_lines: dict[LineKey, NoticeOut] = {}

    def start(self, delivery: Delivery) -> dict[LineKey, bytes]:
        """A new message is fanned out: forget the last one's lines."""
        self.delivery = delivery
        self.lines = {}
        return self.lines

    def start_run(self, run: Run) -> dict[LineKey, bytes]:
        self.run = run
        self.run_lines = {}
        return self.run_lines

    def start_notice(self, notice: Notice, channel: str | None) -> dict[LineKey, NoticeOut]:
        """A new notice is told (held, so that `is` stays a sound test): forget the last."""
        self.notice = notice
        self.channel = channel
        self.notice_lines = {}
        return self.notice_lines


_LETTERS = {
    "private": "i",  # +s is the same: shown as +i, as it always was
    "key": "k",
    "limit": "l",
    "topic_lock": "t",
    "no_external": "n",
    "moderated": "m",
}


def channel_modes(room: Room, *, show_key: bool) -> list[str]:
    """RPL_CHANNELMODEIS' mode string and arguments; the key only for members."""
    settings = room.settings
    flags = [
        ("i", room.private),
        ("m", settings.moderated),
        ("n", settings.no_external),
        ("t", settings.topic_lock),
        ("k", bool(settings.join_key)),
        ("l", bool(settings.member_limit)),
    ]
    modes = "+" + "".join(letters for letters, on in flags if on)
    args = []
    if settings.join_key:
        args.append(settings.join_key if show_key else "*")
    if settings.member_limit:
        args.append(str(settings.member_limit))
    return [modes, *args]


def mode_change(detail: str) -> list[str]:
    """A settings notice's changes ("+key=K -limit +moderated") as one MODE's mode string and
    arguments ("+k-l+m", "K")."""
    modes, args, sign = "", [], ""
    for token in detail.split():
        name, _, value = token[1:].partition("=")
        if token[0] != sign:
            sign = token[0]
            modes += sign
        modes += _LETTERS.get(name, "")
        if value:
            args.append(value)
        elif token == "-key":  # CHANMODES type B: always with an argument
            args.append("*")
    return [modes, *args]


def message_lines(
    message: ChatMessage,
    source: str,
    target: str,
    tags: dict[str, str],
    stamp: str = "",
) -> bytes:
    """One chat message as the IRC lines a client reads (long texts are cut to fit)."""
    text = message.text
    command = "NOTICE" if message.kind in NOTICES else "PRIVMSG"
    if stamp:
        text = f"[{stamp}] {text}"
    if message.kind is MessageKind.PRIVATE and text.startswith("/me ") and len(text) > 4:
        text = f"{ACTION_START}{text[4:]}\x01"  # a private /me (see chat.py)
    elif message.kind is MessageKind.ACTION:
        text = f"{ACTION_START}{text}\x01"
    if "\n" not in text and "\r" not in text:
        try:  # the common case: one line (it may need no colon, a byte text_messages keeps)
            return Message(command, (target, text), source, tags).encode()
        except ValueError:
            pass
    pieces = text_messages(source, target, text, command=command, tags=tags)
    return b"".join(piece.encode() for piece in pieces)


def private_target(message: ChatMessage, my_key: str) -> tuple[str, bool]:
    """Who a private message is shown as addressed to, and whether it is the reader's own
    copy of one they sent."""
    own = message.channel == inbox_channel(my_key) and message.sender_key == my_key
    if own and name_key(message.recipient or "") != my_key:
        return message.recipient or message.sender, True
    return "", own


def room_of(message: ChatMessage) -> str | None:
    return None if is_inbox(message.channel) else message.channel


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a notice becomes for one client: lines to send, and whether it ends the client's
    presence in a room (a kick or ban of the reader)."""

    lines: list[Message]
    left_room: str | None = None


SHARED_NOTICES: Final = frozenset(
    {
        NoticeKind.JOIN,
        NoticeKind.PART,
        NoticeKind.QUIT,
        NoticeKind.NICK,
        NoticeKind.AWAY,  # but the reader's own (305/306): see `shared`
        NoticeKind.TOPIC,
        NoticeKind.UNBAN,
        NoticeKind.PRIVATE,
        NoticeKind.SETTINGS,
        *_MEMBER_MODES,
        *_MASK_MODES,
    }
)
"""Notices whose lines are the same for every reader of a room (with the same caps): not
a text notice (to the reader's nick outside a room), a kick or ban (the kicked reader
leaves), an invitation (to or about the reader), a mute."""


def shared(notice: str, me: str) -> Notice | None:
    """The notice, if its lines are rendered once for all its readers with the same caps
    (`LineCache.notice_lines`), not for each reader."""
    if not isinstance(notice, Notice) or notice.kind not in SHARED_NOTICES:
        return None
    if notice.kind in _ABOUT_ME and name_key(notice.user) == name_key(me):
        return None
    return notice


# told otherwise to the user themselves: their own away (305/306), their own leave from
# another connection (a PART that takes the channel out of this one)
_ABOUT_ME: Final = frozenset((NoticeKind.AWAY, NoticeKind.PART))


def notice_lines(
    notice: str,
    channel: str | None,
    *,
    me: str,
    server: str,
    mask: Callable[[str], str],
    room_display: Callable[[str], str],
    still_online: Callable[[str], bool] = lambda name: False,
) -> Rendered:
    """A core notice as the lines an IRC server would send `me` for it. A user who logs out
    of one session but is still online through another has left this room only: that is a
    PART, as a QUIT would take them out of every room the reader shares with them."""
    if not isinstance(notice, Notice) or notice.kind is NoticeKind.TEXT:
        target = room_display(channel) if channel and not is_inbox(channel) else me
        return Rendered([Message("NOTICE", (target, str(notice)), server)])
    kind = notice.kind
    room = notice.room or channel or ""
    chan = room_display(room) if room else ""
    if kind in (NoticeKind.JOINED, NoticeKind.TOPIC_IS):
        return Rendered([])  # the JOIN reply says it, in IRC's way
    if kind is NoticeKind.JOIN:
        return Rendered([Message("JOIN", (chan,), mask(notice.user))])
    if kind is NoticeKind.PART:
        params = (chan, notice.detail) if notice.detail else (chan,)
        left = room if name_key(notice.user) == name_key(me) else None
        return Rendered([Message("PART", params, mask(notice.user))], left)
    if kind is NoticeKind.QUIT:
        reason = f"Quit: {notice.detail}" if notice.detail else "Quit"
        if still_online(notice.user):
            return Rendered([Message("PART", (chan, reason), mask(notice.user))])
        return Rendered([Message("QUIT", (reason,), mask(notice.user))])
    if kind is NoticeKind.NICK:
        return Rendered([Message("NICK", (notice.detail,), mask(notice.user))])
    if kind is NoticeKind.AWAY and name_key(notice.user) == name_key(me):
        # the user's own change, made from another session: as the reply it had there
        if notice.detail:
            return Rendered([Message("306", (me, "You have been marked as being away"), server)])
        return Rendered([Message("305", (me, "You are no longer marked as being away"), server)])
    if kind is NoticeKind.AWAY:  # sent only to clients with away-notify (output.py)
        away: tuple[str, ...] = (notice.detail,) if notice.detail else ()
        return Rendered([Message("AWAY", away, mask(notice.user))])
    if kind in (NoticeKind.KICK, NoticeKind.BAN, NoticeKind.BAN_ABSENT, NoticeKind.UNBAN):
        by = mask(notice.by) if notice.by else server  # "": the operator (core/demotion.py)
        if kind is NoticeKind.UNBAN:
            return Rendered([Message("MODE", (chan, "-b", f"{notice.user}!*@*"), by)])
        lines = []
        if kind is not NoticeKind.KICK:
            lines.append(Message("MODE", (chan, "+b", f"{notice.user}!*@*"), by))
        if kind is NoticeKind.BAN_ABSENT:
            return Rendered(lines)
        lines.append(Message("KICK", (chan, notice.user, notice.detail or notice.by), by))
        left = room if name_key(notice.user) == name_key(me) else None
        return Rendered(lines, left)
    if kind is NoticeKind.ROOM_DELETED:  # as servers put everyone out of a destroyed channel
        by = mask(notice.by) if notice.by else server
        return Rendered([Message("KICK", (chan, me, str(notice)), by)], room)
    if kind in _MASK_MODES:
        sign = _MASK_MODES[kind]
        return Rendered([Message("MODE", (chan, sign, notice.detail), mask(notice.by))])
    if kind is NoticeKind.TOPIC:
        return Rendered([Message("TOPIC", (chan, notice.detail), mask(notice.by))])
    if kind in _MEMBER_MODES:
        mode = _MEMBER_MODES[kind]
        return Rendered([Message("MODE", (chan, mode, notice.user), mask(notice.by))])
    if kind is NoticeKind.PRIVATE:
        mode = "+i" if notice.detail == "on" else "-i"
        return Rendered([Message("MODE", (chan, mode), mask(notice.by))])
    if kind is NoticeKind.SETTINGS:
        return Rendered([Message("MODE", (chan, *mode_change(notice.detail)), mask(notice.by))])
    if kind is NoticeKind.INVITE:
        return Rendered([Message("INVITE", (me, chan), mask(notice.by))])
    if kind is NoticeKind.INVITED:  # sent only to clients with invite-notify (output.py)
        return Rendered([Message("INVITE", (notice.user, chan), mask(notice.by))])
    return Rendered([Message("NOTICE", (chan or me, str(notice)), server)])
