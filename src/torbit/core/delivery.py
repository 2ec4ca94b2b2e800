"""What the core hands to front doors: a connected client as the core sees it (`Session`) and a
committed message with its wire encodings (`Delivery`), each encoding computed at most once
however many sessions receive it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import tzinfo
from typing import Protocol

from torbit.core.format import format_message
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


class Delivery:
    """A committed message plus its wire encodings, each computed at most once."""

    __slots__ = ("_json", "_line", "_other", "_tz", "message")

    def __init__(self, message: Message, tz: tzinfo) -> None:
        self.message = message
        self._tz = tz
        self._line: bytes | None = None
        self._json: str | None = None
        self._other: tuple[Callable[[Delivery], bytes], bytes] | None = None

    @property
    def line(self) -> bytes:
        """The message as a CRLF-terminated UTF-8 text line (telnet)."""
        if self._line is None:
            self._line = (format_message(self.message, self._tz) + "\r\n").encode()
        return self._line

    @property
    def json(self) -> str:
        """The message as a JSON event (WebSocket)."""
        if self._json is None:
            self._json = json.dumps({"type": "message", "message": message_json(self.message)})
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


class Session(Protocol):
    """One connected client on this node, whatever its front door. `user_key` is empty for a
    listener that belongs to no user (a waiting long poll): it never counts as online."""

    user_key: str
    ignores: set[str]  # shared by all sessions of the same user; keys of ignored senders

    def deliver(self, delivery: Delivery) -> None:
        """Queue a committed message for the client without blocking; a client whose buffer is
        full is dropped by its front door, never waited for."""

    def notify(self, text: str, channel: str | None = None, about: Names = ()) -> None:
        """Queue a system notice (joins, leaves, moderation, shutdown). `about` holds the keys
        of the users the notice names; the subscriptions have already left it out for
        sessions whose user ignores any of them, so a door only shows it."""

    def close(self, reason: str) -> None: ...

    def revoke(self, reason: str) -> None:
        """The credentials this session logged in with were revoked (logout, password change,
        account deleted): tell the client `reason` and close (telnet: a notice line, then
        close; WebSocket: close code 4001 with the reason). The core has already detached
        it."""
