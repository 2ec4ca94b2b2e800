"""The domain's values: frozen, slotted, free of I/O."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from torbit.core.identity import room_skeleton, skeleton
from torbit.core.names import name_key


class MessageKind(enum.StrEnum):
    TEXT = "text"
    ACTION = "action"  # "/me waves" → "* alice waves"
    PRIVATE = "private"
    # IRC's NOTICE to a user: a private message that no client or bot answers by itself (a
    # bot answering every PRIVMSG with a NOTICE, told another's NOTICE as a PRIVMSG, loops)
    PRIVATE_NOTICE = "private-notice"
    NOTICE = "notice"  # IRC's NOTICE to a room: shown like text; bots never answer it
    EVENT = "event"  # a node-to-node event on EVENTS_CHANNEL; never shown to anyone


# The password hash of a guest (core/guests.py): no argon2 hash looks like it, so no password
# ever matches, and the account goes when the guest's connection does.
GUEST_PASSWORD_HASH = "!guest"


@dataclass(frozen=True, slots=True)
class User:
    name: str  # as registered; compare through `key`
    password_hash: str
    created_at: datetime
    is_admin: bool = False
    # A random id that changes with every password change (not with a rehash): a session
    # remembers the one it logged in with, so a change or deletion closes exactly those.
    credential: str = ""

    @property
    def key(self) -> str:
        return name_key(self.name)

    @property
    def is_guest(self) -> bool:
        return self.password_hash == GUEST_PASSWORD_HASH

    @property
    def skeleton(self) -> str:
        """The form under which names that read alike are equal (core/identity.py)."""
        return skeleton(self.name)


@dataclass(frozen=True, slots=True)
class Revocation:
    """Sessions to close wherever they are: the user's sessions opened with `credential`
    (a password change, a deletion), or with the token whose hash is `token` (a logout).
    `deleted`: the account is gone, so nodes also forget it from memory (ignore sets, mutes)."""

    user: str  # key
    reason: str  # told to the client
    credential: str = ""
    token: str = ""
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Departure:
    """A session stopped reading a room (core/comeback.py): the user's read cursor there
    moved forward to `read_up_to`, and `entered_at` noted as when they were last in it
    (`Store.enter_room`); None: that part is left as it was."""

    user_key: str
    room_key: str
    read_up_to: int | None
    entered_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccountDeletion:
    """What deleting an account did to the rooms it owned: those left without any member
    were deleted (their messages should go too), the others became server-owned."""

    rooms_deleted: tuple[str, ...] = ()
    rooms_kept: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """What a room's admins set for everyone who joins or talks there, on every door (IRC
    shows them as channel modes +k, +l, +t, +n and +m). `join_key` is a secret: shown only
    to members, compared in constant time."""

    join_key: str = ""  # "" : none; else a join needs it (invitees and admins excepted)
    member_limit: int = 0  # 0: none; else joins stop at this many members (invitees excepted)
    topic_lock: bool = True  # only room admins set the topic; off: any member may
    no_external: bool = True  # only members send; off: anyone who may join a public room
    moderated: bool = False  # only room admins, the owner and voiced members may send


@dataclass(frozen=True, slots=True)
class Room:
    name: str  # as first created; compare through `key`
    created_at: datetime
    owner: str | None = None
    topic: str = ""
    private: bool = False
    settings: RoomSettings = RoomSettings()
    # who set the topic (display name) and when: IRC's RPL_TOPICWHOTIME; none with no topic,
    # and none for a topic set before torbit kept them (migration 0006)
    topic_set_by: str = ""
    topic_set_at: datetime | None = None

    @property
    def key(self) -> str:
        return name_key(self.name)

    @property
    def skeleton(self) -> str:
        """The form under which room names that read alike are equal (core/identity.py):
        no new room may read like an existing one (`Iobby`, `l0bby`, `lobby.` beside
        `lobby`)."""
        return room_skeleton(self.name)


class Role(enum.IntEnum):
    """What a user is in a room. Each rank may do everything the ranks below it may; the
    command table (torbit.protocol.commands) says which rank each command needs."""

    NONE = 0  # logged in, not a member
    MEMBER = 1
    ADMIN = 2  # made a room admin by the owner (/op)
    OWNER = 3  # Room.owner: created the room
    SERVER_ADMIN = 4  # User.is_admin (`torbit user set-admin`): everything, everywhere

    @property
    def label(self) -> str:
        return _ROLE_LABELS[self]


_ROLE_LABELS = {
    Role.NONE: "not a member",
    Role.MEMBER: "a member",
    Role.ADMIN: "a room admin",
    Role.OWNER: "the room's owner",
    Role.SERVER_ADMIN: "a server admin",
}


@dataclass(frozen=True, slots=True)
class Standing:
    """What the store knows of one user in one room, read in one round trip; with the room
    (for its owner and privacy) it gives the user's role and whether they may see the room."""

    member: bool = False
    admin: bool = False  # a room admin (kept only while a member)
    banned: bool = False
    invited: bool = False
    server_admin: bool = False
    voiced: bool = False  # may speak in a moderated room (kept only while a member)

    def rank(self, room: Room, user_key: str) -> Role:
        """What the user is in the room by title, bans aside: who outranks whom."""
        if self.server_admin:
            return Role.SERVER_ADMIN
        if room.owner is not None and name_key(room.owner) == user_key:
            return Role.OWNER
        if self.member:
            return Role.ADMIN if self.admin else Role.MEMBER
        return Role.NONE

    def role(self, room: Room, user_key: str) -> Role:
        """What the user may do in the room now: a ban takes every right there away, an
        owner's too (not a server admin's, whom no room can ban)."""
        if self.banned and not self.server_admin:
            return Role.NONE
        return self.rank(room, user_key)

    def may_see(self, room: Room, user_key: str) -> bool:
        """Private rooms exist only for their members, invitees, owner and server admins."""
        return not room.private or self.invited or self.role(room, user_key) >= Role.MEMBER


@dataclass(frozen=True, slots=True)
class Invitation:
    """A user's invitation to a room, pending until they join or decline it."""

    room_key: str
    at: datetime
    by: str = ""  # the inviter's name; "" for one stored before migration 0012


@dataclass(frozen=True, slots=True)
class Mute:
    """A user who may not send to a room until `until`."""

    room_key: str
    user_key: str
    until: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One moderation action, as written to the audit log; `id` is set once stored."""

    at: datetime
    actor: str  # display name of who did it
    action: str  # the command's name: "kick", "ban", "topic", ...
    room: str | None = None  # room key
    target: str | None = None  # user key acted upon, if any
    detail: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """A message not yet durable: it has no id until the message log commits it."""

    channel: str  # a room key, or "@user" for a private inbox
    sender: str
    text: str
    sent_at: datetime
    kind: MessageKind = MessageKind.TEXT
    recipient: str | None = None  # display name of the addressee of a private message


@dataclass(frozen=True, slots=True)
class Message:
    """A committed message. `id` is its offset in its channel: it only ever increases."""

    id: int
    channel: str
    sender: str
    text: str
    sent_at: datetime
    kind: MessageKind = MessageKind.TEXT
    recipient: str | None = None
    sender_key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.sender_key:
            object.__setattr__(self, "sender_key", name_key(self.sender))

    @classmethod
    def from_draft(cls, draft: Draft, id: int) -> Message:
        return cls(
            id=id,
            channel=draft.channel,
            sender=draft.sender,
            text=draft.text,
            sent_at=draft.sent_at,
            kind=draft.kind,
            recipient=draft.recipient,
        )


def _setter(name: str) -> Callable[[Message, Any], None]:
    """A slot's own setter: it fills the slot without the frozen class's `__setattr__`."""
    setter: Callable[[Message, Any], None] = getattr(Message, name).__set__
    return setter


_set_id, _set_channel, _set_sender, _set_text = map(_setter, ("id", "channel", "sender", "text"))
_set_sent_at, _set_kind, _set_recipient, _set_sender_key = map(
    _setter, ("sent_at", "kind", "recipient", "sender_key")
)
_new = object.__new__


def stored_message(
    id: int,
    channel: str,
    sender: str,
    text: str,
    sent_at: datetime,
    kind: MessageKind,
    recipient: str | None,
    sender_key: str,
) -> Message:
    """`Message(...)` with every field given, `sender_key` the sender's `name_key`: what a
    log builds for each message it reads or commits. Its slots are filled directly, not
    through the frozen dataclass's `__init__` (an `object.__setattr__` a field, then
    `__post_init__`): ~1 µs less a message, ~0.1 ms of a `/receive` page of 100
    (bench/JOURNAL.md, stop 61). Equal, field for field, to the `Message` built so."""
    m = _new(Message)
    _set_id(m, id)
    _set_channel(m, channel)
    _set_sender(m, sender)
    _set_text(m, text)
    _set_sent_at(m, sent_at)
    _set_kind(m, kind)
    _set_recipient(m, recipient)
    _set_sender_key(m, sender_key)
    return m


@dataclass(frozen=True, slots=True)
class RoomInfo:
    room: Room
    members: int
    online: int


@dataclass(frozen=True, slots=True)
class BanMask:
    """A room's ban mask (core/banmasks.py): its canonical text, who set it and when; `kind`
    says which of the room's mask lists holds it: "b" bans, "e" ban exceptions."""

    mask: str
    set_by: str
    set_at: datetime
    kind: str = "b"
