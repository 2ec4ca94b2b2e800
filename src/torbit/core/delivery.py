"""What the core hands to front doors: a connected client as the core sees it (`Session`), a
committed message with its wire encodings (`Delivery`), each encoding computed at most once
however many sessions receive it, and system notices that say what happened (`Notice`)."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Sequence, Set
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from torbit.core.format import clock, format_at, format_message
from torbit.core.models import Message
from torbit.core.names import is_inbox

Names = tuple[str, ...]  # user keys


def message_json(m: Message) -> dict[str, object]:
    """The public JSON shape of a message: the REST API, the WebSocket and the page use it."""
    return {
        "id": m.id,
        "room": None if is_inbox(m.channel) else m.channel,
        "sender": m.sender,
        "text": m.text,
        "sent_at": m.sent_at.isoformat().replace("+00:00", "Z"),
        "kind": m.kind.value,
        "recipient": m.recipient,
    }


_string = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as is


def page_json(messages: Sequence[Message]) -> bytes:
    """`{"messages": [message_json(m), ...]}` as Starlette's JSONResponse encodes it (compact,
    UTF-8, non-ASCII kept), byte for byte, without a dict per message and the encoder's walk
    over them: the classic `GET /receive`'s page of up to 1,000 (bench/JOURNAL.md, branch
    `receive`). `message_json` stays the shape's definition; tests hold the two equal."""
    string = _string
    parts = []
    for m in messages:
        room = "null" if is_inbox(m.channel) else string(m.channel)
        recipient = "null" if m.recipient is None else string(m.recipient)
        sent_at = m.sent_at.isoformat().replace("+00:00", "Z")
        parts.append(
            f'{{"id":{int(m.id)},"room":{room},"sender":{string(m.sender)},'
            f'"text":{string(m.text)},"sent_at":{string(sent_at)},'
            f'"kind":{string(m.kind.value)},"recipient":{recipient}}}'
        )
    return ('{"messages":[' + ",".join(parts) + "]}").encode()


class Delivery:
    """A committed message plus its wire encodings, each computed at most once."""

    __slots__ = ("_json", "_other", "_tz", "line", "message")

    line: bytes
    """The message as a CRLF-terminated UTF-8 text line (telnet). Left unset until first
    read (`__getattr__` fills it): after that a read is a plain slot read, no Python call,
    which counts on a path that reads it once per recipient."""

    def __init__(self, message: Message, tz: tzinfo) -> None:
        self.message = message
        self._tz = tz
        self._json: str | None = None
        self._other: tuple[Callable[[Delivery], bytes], bytes] | None = None

    if not TYPE_CHECKING:  # `line` alone is filled in so; mypy keeps checking the others

        def __getattr__(self, name: str) -> bytes:
            if name != "line":
                raise AttributeError(name)
            self.line = (format_message(self.message, self._tz) + "\r\n").encode()
            return self.line

    @property
    def json(self) -> str:
        """The message as a JSON event (WebSocket), compact: no spaces after separators
        (~8 % fewer bytes for every recipient to be sent and to parse)."""
        if self._json is None:
            self._json = json.dumps(
                {"type": "message", "message": message_json(self.message)}, separators=(",", ":")
            )
        return self._json

    def encoded(self, encode: Callable[[Delivery], bytes]) -> bytes:
        """A door's own encoding (a WebSocket frame), computed once for all its sessions:
        one encoding is kept, the last asked for."""
        other = self._other
        if other is not None and other[0] is encode:
            return other[1]
        data = encode(self)
        self._other = (encode, data)
        return data


class Run:
    """Consecutive messages of one channel committed together, handed as one to the sessions
    that take them so (`deliver_all`): their telnet lines are joined once for all of them."""

    __slots__ = ("_deliveries", "_lines", "messages", "senders", "tz")

    def __init__(self, messages: list[Message], tz: tzinfo) -> None:
        self.messages = messages
        self.tz = tz
        # who sent them (the hub skips `deliver_all` for a session ignoring one; the IRC door
        # for the senders' own sessions, whose echo is decided message by message)
        self.senders = frozenset(m.sender_key for m in messages)
        self._deliveries: list[Delivery] | None = None
        self._lines: bytes | None = None

    @property
    def deliveries(self) -> list[Delivery]:
        """A Delivery per message, for the sessions that take them one by one: made on
        first use (a run that only telnet sessions take needs none)."""
        if self._deliveries is None:
            self._deliveries = [Delivery(m, self.tz) for m in self.messages]
        return self._deliveries

    @property
    def lines(self) -> bytes:
        """Every message's telnet `line`, in order, as one bytes: formatted with one clock
        text per send time and encoded at once."""
        if self._lines is None:
            texts: list[str] = []
            at: object = None
            t = ""
            for m in self.messages:
                if m.sent_at is not at:
                    at, t = m.sent_at, clock(m.sent_at, self.tz)
                texts.append(format_at(m, t))
            texts.append("")
            self._lines = "\r\n".join(texts).encode()
        return self._lines


class NoticeKind(enum.Enum):
    """What a notice is about, for doors that show events their own way (IRC)."""

    TEXT = "text"  # nothing more than its text
    JOINED = "joined"  # to the joining session: "you are in #room"
    TOPIC_IS = "topic_is"  # to the joining session: the room's topic
    JOIN = "join"
    PART = "part"  # stopped listening to the room (left it, or switched rooms)
    QUIT = "quit"  # logged out: one notice per room the user was in
    NICK = "nick"  # a guest took another name (`detail`)
    KICK = "kick"
    BAN = "ban"  # of someone in the room: they are out
    BAN_ABSENT = "ban_absent"  # of someone who was not a member
    UNBAN = "unban"
    BAN_MASK = "ban_mask"  # `detail` is the mask (core/banmasks.py)
    UNBAN_MASK = "unban_mask"
    EXCEPT_MASK = "except_mask"  # a ban exception; `detail` is the mask
    UNEXCEPT_MASK = "unexcept_mask"
    INVEX_MASK = "invex_mask"  # an invite exception; `detail` is the mask
    UNINVEX_MASK = "uninvex_mask"
    TOPIC = "topic"  # `detail` is the new topic ("" cleared it)
    OP = "op"
    DEOP = "deop"
    VOICE = "voice"  # may speak in the room when it is moderated
    DEVOICE = "devoice"
    PRIVATE = "private"  # `detail` is "on" or "off"
    SETTINGS = "settings"  # `detail`: the changes, "+key=K -limit +moderated" (roomsettings.py)
    MUTE = "mute"  # `detail` is the minutes
    UNMUTE = "unmute"
    INVITE = "invite"  # to the invited user
    INVITED = "invited"  # to the room's members: `by` invited `user`
    AWAY = "away"  # `user` marked away with the message `detail`, or back ("")
    ROOM_DELETED = "room_deleted"  # `by` deleted the room: every session is out of it


class Notice(str):
    """A system notice that still is its text: every `Session.notify` takes and shows it as the
    str it always was, while a door that renders events its own way (IRC's JOIN, PART, KICK,
    TOPIC, MODE) reads what happened from `kind`, `room`, `user`, `by` and `detail`."""

    kind: NoticeKind
    room: str | None  # room key
    room_name: str
    user: str  # display name of whom it is about
    by: str  # display name of who did it
    detail: str

    def __new__(
        cls,
        text: str,
        kind: NoticeKind = NoticeKind.TEXT,
        *,
        room: str | None = None,
        room_name: str = "",
        user: str = "",
        by: str = "",
        detail: str = "",
    ) -> Notice:
        notice = super().__new__(cls, text)
        notice.kind = kind
        notice.room = room
        notice.room_name = room_name or (room or "")
        notice.user = user
        notice.by = by
        notice.detail = detail
        return notice


NO_IGNORES: frozenset[str] = frozenset()  # one empty set for every user (216 bytes each)


class Fan(Protocol):
    """A door's way to take one message, or one run, for many of its sessions in one call,
    given what it asked for each session (telnet: the FlushQueue, with the sessions' writers;
    IRC: the door, which renders per cap set, with the sessions)."""

    def fan(self, targets: tuple[Any, ...], delivery: Delivery) -> None:
        """`deliver(delivery)` to each target's session."""

    def fan_run(self, targets: tuple[Any, ...], run: Run) -> None:
        """`deliver_all(run)` to each target's session (none ignores anyone)."""


def still_heard(held: Iterable[Delivery], ignores: Set[str]) -> list[Delivery]:
    """Held deliveries whose sender `ignores`, the session's list now, leaves in: a line is
    filtered by the list as it stands when it is shown, as a live one is. A join holds the
    live lines that come while its history is shown (`Hub.release`), IRC the history and
    those again while its NAMES is read (`IrcOutput.unhold`): filtered only as they came,
    an ignore answered meanwhile let them through (ignore63). One unignored meanwhile gets
    nothing back: what was dropped as it came stays dropped, as on a live session."""
    return [d for d in held if d.message.sender_key not in ignores]


class Session(Protocol):
    """One connected client on this node, whatever its front door. `user_key` is empty for a
    listener that belongs to no user (a waiting long poll): it never counts as online. A
    door's session also offers `visitor` (core/banmasks.py's Visitor: its nick, the user
    part IRC shows and its client's address), which ban masks are matched against; one
    without it is never matched."""

    user_key: str
    # keys of ignored senders: one frozenset shared by all sessions of the same user, replaced
    # (never changed in place) on /ignore; most users ignore no one and share NO_IGNORES
    ignores: Set[str]

    def deliver(self, delivery: Delivery) -> None:
        """Queue a committed message for the client without blocking; a client whose buffer is
        full is dropped by its front door, never waited for. A door may also offer
        `deliver_all(run: Run)`: consecutive messages of one channel at once, none from a
        sender it ignores (the hub calls `deliver` for each where it has none). A session
        that ignores no one may offer `fan: (Fan, target) | None`: the hub then hands each
        message (`Fan.fan`) and each run (`Fan.fan_run`) to all such sessions of one door in
        one call with their targets, which must come to the same as `deliver` (`deliver_all`)
        to each (no Python call per recipient)."""

    def notify(self, text: str, channel: str | None = None, about: Names = ()) -> None:
        """Queue a system notice (joins, leaves, moderation, shutdown), often a `Notice`.
        `about` holds the keys of the users the notice names; the subscriptions have already
        left it out for sessions whose user ignores any of them, so a door only shows it."""

    def close(self, reason: str) -> None: ...

    def revoke(self, reason: str) -> None:
        """The credentials this session logged in with were revoked (logout, password change,
        account deleted): tell the client `reason` and close (telnet: a notice line, then
        close; WebSocket: close code 4001 with the reason). The core has already detached
        it."""
