"""In-process fan-out: committed messages go to the sessions on this node that listen to their
channel. A message is formatted and encoded once; per recipient the work is an ignore check
(a set lookup) and a non-blocking write, so one slow client never holds up the rest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import tzinfo
from typing import Protocol

from torbit.core.format import format_message
from torbit.core.models import Message
from torbit.core.names import inbox_channel


class Delivery:
    """A committed message plus its wire encodings, each computed at most once."""

    __slots__ = ("_json", "_line", "_tz", "message")

    def __init__(self, message: Message, tz: tzinfo) -> None:
        self.message = message
        self._tz = tz
        self._line: bytes | None = None
        self._json: str | None = None

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


def message_json(m: Message) -> dict[str, object]:
    """The public JSON shape of a message, shared by the REST API and the WebSocket."""
    private = m.channel.startswith("@")
    return {
        "id": m.id,
        "room": None if private else m.channel,
        "sender": m.sender,
        "text": m.text,
        "sent_at": m.sent_at.isoformat().replace("+00:00", "Z"),
        "kind": m.kind.value,
        "recipient": m.recipient,
    }


class Session(Protocol):
    """One connected client on this node, whatever its front door."""

    user_key: str
    ignores: set[str]  # shared by all sessions of the same user; keys of ignored senders

    def deliver(self, delivery: Delivery) -> None:
        """Queue a committed message for the client without blocking; a client whose buffer is
        full is dropped by its front door, never waited for."""

    def notify(self, text: str, channel: str | None = None) -> None:
        """Queue a system notice (joins, leaves, shutdown)."""

    def close(self, reason: str) -> None: ...


class Presence:
    """What this node knows of one logged-in user: their sessions and their ignore set."""

    __slots__ = ("ignores", "name", "sessions")

    def __init__(self, name: str, ignores: set[str]) -> None:
        self.name = name
        self.ignores = ignores
        self.sessions: set[Session] = set()


class Hub:
    """Which local session listens to which channel; hands each committed message to them."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        # channel -> {session: None when live, the deliveries held while it reads history, or
        # once released, the id of the last history message it was shown (see `release`)}
        self._channels: dict[str, dict[Session, list[Delivery] | int | None]] = {}
        self._users: dict[str, Presence] = {}
        self._online: dict[str, dict[str, int]] = {}  # channel -> user key -> sessions there
        self.delivered = 0

    # users and sessions

    def presence(self, user_key: str) -> Presence | None:
        return self._users.get(user_key)

    def attach(self, session: Session, name: str, ignores: set[str]) -> tuple[Presence, bool]:
        """Register a logged-in session and subscribe it to its user's private inbox. Returns the
        presence and whether the inbox channel gained its first local listener."""
        key = name.lower()
        p = self._users.get(key)
        if p is None:
            p = self._users[key] = Presence(name, ignores)
        p.sessions.add(session)
        session.ignores = p.ignores
        first = self.enter(session, inbox_channel(key))
        return p, first

    def detach(self, session: Session) -> list[str]:
        """Forget a session everywhere. Returns the channels that lost their last local listener."""
        emptied = [c for c in self.channels_of(session) if self.exit(session, c)]
        p = self._users.get(session.user_key)
        if p is not None:
            p.sessions.discard(session)
            if not p.sessions:
                del self._users[session.user_key]
        return emptied

    def sessions_of(self, user_key: str) -> list[Session]:
        p = self._users.get(user_key)
        return list(p.sessions) if p else []

    def users(self) -> Iterator[Presence]:
        return iter(list(self._users.values()))

    # channels

    def enter(self, session: Session, channel: str, hold: bool = False) -> bool:
        """Listen to a channel. With hold=True live messages are kept back until `release`, so a
        client can show history first without gaps or duplicates. True if first local listener."""
        listeners = self._channels.get(channel)
        first = listeners is None
        if listeners is None:
            listeners = self._channels[channel] = {}
        if session not in listeners:
            users = self._online.setdefault(channel, {})
            users[session.user_key] = users.get(session.user_key, 0) + 1
        listeners[session] = [] if hold else None
        return first

    def release(self, session: Session, channel: str, after_id: int | None) -> None:
        """Deliver what was held back for the session (only ids after `after_id`, the last one
        its history showed), then go live. The log may hand this node a message after the
        history read already found it (Kafka: the consumer lags the log by a fetch), so until
        a message past `after_id` arrives, live ones up to it are dropped as already shown."""
        listeners = self._channels.get(channel)
        if listeners is None or session not in listeners:
            return
        held = listeners[session]
        listeners[session] = after_id
        for d in held if isinstance(held, list) else ():
            if after_id is None or d.message.id > after_id:
                listeners[session] = None
                session.deliver(d)

    def exit(self, session: Session, channel: str) -> bool:
        """Stop listening. True if the channel has no local listener left."""
        listeners = self._channels.get(channel)
        if listeners is None or session not in listeners:
            return False
        del listeners[session]
        users = self._online[channel]
        if users[session.user_key] <= 1:
            del users[session.user_key]
        else:
            users[session.user_key] -= 1
        if not listeners:
            del self._channels[channel]
            del self._online[channel]
            return True
        return False

    def is_listening(self, session: Session, channel: str) -> bool:
        listeners = self._channels.get(channel)
        return listeners is not None and session in listeners

    def channels_of(self, session: Session) -> list[str]:
        return [c for c, ls in self._channels.items() if session in ls]

    def listener_count(self, channel: str) -> int:
        return len(self._channels.get(channel, ()))

    def listeners(self, channel: str) -> list[Session]:
        return list(self._channels.get(channel, ()))

    def online(self, channel: str) -> list[str]:
        """Display names of users with a session listening to this channel here, sorted."""
        keys = self._online.get(channel, {})
        return sorted((self._users[k].name for k in keys if k in self._users), key=str.lower)

    def user_sessions_in(self, channel: str, user_key: str) -> int:
        """How many of the user's sessions listen to this channel here."""
        return self._online.get(channel, {}).get(user_key, 0)

    def online_count(self, channel: str) -> int:
        """How many users listen to this channel here; kept as sessions come and go, so it
        costs nothing per join even with thousands in the room."""
        return len(self._online.get(channel, ()))

    def notify(self, channel: str, text: str, skip: Session | None = None) -> None:
        for s in list(self._channels.get(channel, ())):
            if s is not skip:
                s.notify(text, channel)

    # the hot path

    def dispatch(self, message: Message) -> None:
        """Listener for the message log: hand a committed message to every local listener."""
        listeners = self._channels.get(message.channel)
        if not listeners:
            return
        d = Delivery(message, self.tz)
        sender = message.sender_key
        n = 0
        for s, held in list(listeners.items()):
            if sender in s.ignores:
                continue
            if held is None:
                s.deliver(d)
                n += 1
            elif isinstance(held, list):
                held.append(d)
            elif message.id > held:  # the first message past the history it was shown
                listeners[s] = None
                s.deliver(d)
                n += 1
        self.delivered += n
