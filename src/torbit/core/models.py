"""The domain's values: frozen, slotted, free of I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class MessageKind(enum.StrEnum):
    TEXT = "text"
    ACTION = "action"  # "/me waves" → "* alice waves"
    PRIVATE = "private"
    EVENT = "event"  # a node-to-node event on EVENTS_CHANNEL; never shown to anyone


@dataclass(frozen=True, slots=True)
class User:
    name: str  # as registered; compare through `key`
    password_hash: str
    created_at: datetime
    is_admin: bool = False

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Room:
    name: str  # as first created; compare through `key`
    created_at: datetime
    owner: str | None = None
    topic: str = ""
    private: bool = False

    @property
    def key(self) -> str:
        return self.name.lower()


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
            object.__setattr__(self, "sender_key", self.sender.lower())

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


@dataclass(frozen=True, slots=True)
class RoomInfo:
    room: Room
    members: int
    online: int
