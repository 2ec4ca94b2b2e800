"""The HTTP API's request and response bodies (pydantic v2). They parse and document; every
rule (name syntax, message size, membership) is checked once, by the core services."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field
from pydantic.config import JsonDict

from torbit.core.moderation_limits import MAX_MUTE_MINUTES, MAX_TOPIC_BYTES
from torbit.core.names import NAME_PATTERN
from torbit.core.presence_details import AWAY_MAX
from torbit.core.roomsettings import MAX_KEY, MAX_MEMBER_LIMIT


def _encodable(s: str) -> str:
    """JSON escapes can smuggle lone surrogates into a str; they cannot be stored or hashed."""
    try:
        s.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return s


Text = Annotated[str, AfterValidator(_encodable)]

MAX_ID = 2**63 - 1  # message ids are 64-bit offsets

# Names are checked by the core (with a helpful message); the pattern is only documented.
NAME_SCHEMA: JsonDict = {"pattern": f"^{NAME_PATTERN}$"}


# errors


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"], description="Stable, machine-readable")
    message: str = Field(examples=["no such room #x"], description="For humans")


class ErrorBody(BaseModel):
    """The one shape of every error answer."""

    error: ErrorDetail


# accounts


class Credentials(BaseModel):
    name: Text = Field(
        examples=["alice"],
        description="1-32 letters a-z or A-Z, digits, '-', '_' or '.'",
        json_schema_extra=NAME_SCHEMA,
    )
    password: Text = Field(examples=["correct horse"])


class PasswordChange(BaseModel):
    current_password: Text
    new_password: Text


class UserOut(BaseModel):
    name: str
    created_at: datetime
    is_admin: bool


class ServerOut(BaseModel):
    registration: Literal["open", "closed"] = Field(
        description="Whether anyone may register (chat.registration): closed, only an "
        "administrator adds accounts and `POST /api/v1/users` answers 403"
    )


class MeOut(UserOut):
    default_room: str = Field(description="The room telnet users start in (chat.default_room)")
    last_room: str | None = Field(
        description="Key of the member room the caller was in when their telnet session "
        "ended, or joined since (PUT .../members/{user}): where a returning user lands; "
        "null: none"
    )


class TokenOut(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: str


class IgnoreList(BaseModel):
    users: list[str] = Field(description="Keys (lower-case names) of ignored users")


class AwaySet(BaseModel):
    message: Text = Field(
        examples=["at lunch"],
        description="Shown to others: cleaned like a message (control characters out), cut "
        f"to {AWAY_MAX} bytes of UTF-8 (IRC's AWAYLEN); empty or blank means back",
    )


class AwayOut(BaseModel):
    away: str | None = Field(description="The away message as others see it; null: not away")


# rooms


class RoomOut(BaseModel):
    """Name, members, topic first: the order every door lists rooms in (IRC's LIST, /list)."""

    name: str
    members: int
    online: int = Field(description="Users listening live, on every node")
    topic: str
    topic_set_by: str | None = Field(
        None, description="Who set the topic; null: no topic, or one set before torbit kept it"
    )
    topic_set_at: datetime | None = Field(None, description="When the topic was set (UTC)")
    owner: str | None
    private: bool
    created_at: datetime


class RoomList(BaseModel):
    rooms: list[RoomOut]


class RoomPageOut(BaseModel):
    rooms: list[RoomOut] = Field(description="In name order (case-insensitively)")
    next_after: str | None = Field(
        description="Pass as `after` for the next page; null: no more rooms"
    )


class MemberList(BaseModel):
    members: list[str]
    voiced: list[str] = Field(
        default_factory=list,
        description="Members with a voice: they may send while the room is moderated",
    )
    online: list[str] = Field(description="Who is in the room now, on any door and node")
    away: dict[str, str] = Field(
        default_factory=dict,
        description="Who of those online is away (telnet /away, IRC AWAY), with their message",
    )
    live: bool = Field(
        True,
        description="Whether joins and leaves are told as they happen (notices, WebSocket "
        "`notice` frames); false in rooms above `chat.presence_notices_max` listeners: "
        "read the list again to follow who is online",
    )


# room moderation


class RoomCreate(BaseModel):
    name: Text = Field(examples=["den"], json_schema_extra=NAME_SCHEMA)
    private: bool = Field(False, description="Invite-only: hidden from and closed to non-members")


class RoomPatch(BaseModel):
    """Fields left out (or null) stay as they are."""

    topic: Text | None = Field(
        None,
        description=f"Room admins; empty clears it. Cleaned like a message and cut to "
        f"{MAX_TOPIC_BYTES} bytes of UTF-8 (IRC's TOPICLEN), never refused for its length",
    )
    private: bool | None = Field(None, description="The owner only")


class JoinIn(BaseModel):
    key: str = Field(
        "", max_length=MAX_KEY, description="The room's join key, if it has one (see settings)"
    )


class RoomSettingsOut(BaseModel):
    """A room's settings, for its members (the join key included)."""

    join_key: str = Field(description="Empty: none; else joining needs it")
    member_limit: int = Field(description="0: none; else joins stop at this many members")
    topic_lock: bool = Field(description="Only room admins set the topic; off: any member")
    no_external: bool = Field(
        description="Only members send; off: anyone who may join a public room"
    )
    moderated: bool = Field(description="Only the room's admins, owner and voiced members may send")
    private: bool


class RoomSettingsPatch(BaseModel):
    """Room admins (privacy: the owner); fields left out (or null) stay as they are, and
    nothing changes unless every change is allowed and valid."""

    join_key: str | None = Field(
        None,
        max_length=MAX_KEY,
        description=(
            "1-32 printable ASCII characters, no spaces or commas, not starting with ':'; "
            "empty removes it"
        ),
    )
    member_limit: int | None = Field(
        None, ge=0, le=MAX_MEMBER_LIMIT, description="0 removes the limit"
    )
    topic_lock: bool | None = None
    no_external: bool | None = None
    moderated: bool | None = None
    private: bool | None = None


class InviteIn(BaseModel):
    user: Text = Field(examples=["bob"], json_schema_extra=NAME_SCHEMA)


class InvitationOut(BaseModel):
    room: str = Field(examples=["den"])
    by: str = Field(
        "",
        description="who invited you; empty for an invitation made before torbit kept the inviter",
        examples=["alice"],
    )
    at: datetime


class InvitationList(BaseModel):
    """Your pending invitations, newest first, none from users you ignore (at most 100)."""

    invitations: list[InvitationOut]


class MuteIn(BaseModel):
    minutes: int = Field(ge=1, le=MAX_MUTE_MINUTES, examples=[10])


class BanMaskOut(BaseModel):
    mask: str = Field(examples=["*!*@203.0.113.*"])
    set_by: str
    set_at: datetime


class BanList(BaseModel):
    """An account's ban by its name; masks (core/banmasks.py), ban exceptions (masks no ban
    mask bars) and invite exceptions (masks that may join uninvited) with who set them and
    when."""

    users: list[str]
    masks: list[BanMaskOut]
    exceptions: list[BanMaskOut] = []
    invite_exceptions: list[BanMaskOut] = []


class MuteOut(BaseModel):
    room: str
    user: str
    until: datetime


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str = Field(examples=["kick"], description="The command's name")
    room: str | None
    target: str | None
    detail: str


class AuditList(BaseModel):
    entries: list[AuditEntryOut] = Field(description="Newest first")


class ReadMarker(BaseModel):
    last_read_id: int | None = Field(
        description="Id of the last message received through /receive or marked read; "
        "null before the first"
    )
    unread: int = Field(
        description="Messages after the marker, ignored senders left out (counted up to 1000)"
    )


class ReadMarkerIn(BaseModel):
    last_read_id: int = Field(ge=0, le=MAX_ID)


# messages


class SendMessage(BaseModel):
    text: Text = Field(examples=["hello"])


class SendPrivate(BaseModel):
    to: Text = Field(examples=["bob"], json_schema_extra=NAME_SCHEMA)
    text: Text = Field(examples=["psst"])


class MessageOut(BaseModel):
    """A committed message; `id` only ever increases within a room (or a private inbox)."""

    id: int
    room: str | None = Field(description="null for a private message")
    sender: str
    text: str
    sent_at: datetime = Field(description="ISO-8601, UTC")
    kind: Literal["text", "action", "notice", "private", "private-notice"] = Field(
        description="notice, private-notice: an IRC NOTICE (to a room, to a user), which no "
        "client should answer by itself"
    )
    recipient: str | None = Field(description="Addressee of a private message, else null")


class MessageList(BaseModel):
    messages: list[MessageOut]


class MessagePage(BaseModel):
    messages: list[MessageOut] = Field(description="Oldest first")
    next_before: int | None = Field(
        description="Pass as `before` for the previous (older) page; null if none"
    )
    next_after: int | None = Field(
        description="Pass as `after` for the next (newer) page; null if none yet"
    )


# operations


class Health(BaseModel):
    status: Literal["ok", "ready", "draining"]
    # what does not stop the node serving but wants an operator (the transcript not written)
    detail: str | None = None
    # /admin/drain: the node exits within this many seconds (its own node.drain_seconds)
    drain_seconds: float | None = None
