"""Room settings: what a room's admins set for everyone who joins or talks there (the values
are core/models.RoomSettings; IRC shows them as channel modes). This module owns their rules:

- which values are valid (a join key is 1 to MAX_KEY printable ASCII characters without
  spaces or commas, not starting with ':', as IRC clients must be able to send it in a JOIN
  and be shown it in a MODE line; a member limit is 1 to
  MAX_MEMBER_LIMIT),
- comparing a join key in constant time,
- a change as one `SettingsChange`, applied to a room in one store write and announced in one
  notice whose `detail` lists what changed ("+key=...", "-limit", "+moderated", ...), so a
  door shows a change of several settings as one line (IRC's `MODE #room -int`),
- each node's copy of the settings the send paths check (`SettingsCache`): a dict lookup per
  message, dropped on every node when a change's `RoomSettingsChanged` event arrives.

Who may change them is the policy's ("settings": room admins; privacy: the owner)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace

from torbit.core.events import NodeEvents, RoomSettingsChanged
from torbit.core.models import Room, RoomSettings
from torbit.core.numbers import ascii_number
from torbit.core.ports import Store
from torbit.core.roomcache import RoomCache
from torbit.errors import InvalidInput, ServiceUnavailable

MAX_KEY = 32
MAX_MEMBER_LIMIT = 100_000
MAX_CACHED = 10_000  # rooms whose settings a node keeps; past it the oldest are read again


def check_key(key: str) -> str:
    """A valid join key, or InvalidInput saying why."""
    if not key:
        raise InvalidInput("a join key cannot be empty")
    if len(key) > MAX_KEY:
        raise InvalidInput(f"a join key is at most {MAX_KEY} characters")
    if not all("!" <= c <= "~" and c != "," for c in key):
        raise InvalidInput("a join key is printable ASCII, without spaces or commas")
    if key[0] == ":":  # IRC's MODE and 324 lines show it as a middle parameter: dropped
        raise InvalidInput("a join key cannot start with ':'")
    return key


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_MEMBER_LIMIT:
        raise InvalidInput(f"a member limit is 1 to {MAX_MEMBER_LIMIT}")
    return limit


def parse_limit(text: str) -> int:
    """A member limit as typed (telnet, IRC)."""
    limit = ascii_number(text.strip(), 18)
    if limit is None:
        raise InvalidInput(f"a member limit is a number from 1 to {MAX_MEMBER_LIMIT}")
    return check_limit(limit)


def key_opens(settings: RoomSettings, given: str) -> bool:
    """Whether `given` opens a room with these settings; constant time in the key's bytes.
    A lone surrogate (half a UTF-16 pair escaped in a WebSocket's JSON) opens nothing and
    fails nothing: no key holds one (`check_key`)."""
    if not settings.join_key:
        return True
    return hmac.compare_digest(settings.join_key.encode(), given.encode(errors="surrogatepass"))


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """Settings to change; None leaves one as it is. `join_key` "" removes the key,
    `member_limit` 0 the limit."""

    private: bool | None = None
    join_key: str | None = None
    member_limit: int | None = None
    topic_lock: bool | None = None
    no_external: bool | None = None
    moderated: bool | None = None

    def checked(self) -> SettingsChange:
        """The change with its values validated (InvalidInput otherwise)."""
        if self.join_key:
            check_key(self.join_key)
        if self.member_limit:
            check_limit(self.member_limit)
        return self

    def actions(self) -> list[str]:
        """The policy actions the change needs."""
        wanted = [] if self.private is None else ["private"]
        if any(v is not None for v in self._settings_fields().values()):
            wanted.append("settings")
        return wanted

    def _settings_fields(self) -> dict[str, object]:
        return {
            "join_key": self.join_key,
            "member_limit": self.member_limit,
            "topic_lock": self.topic_lock,
            "no_external": self.no_external,
            "moderated": self.moderated,
        }

    def apply(self, room: Room) -> tuple[bool, RoomSettings, list[str]]:
        """The room's privacy and settings after the change, and the changes that change
        anything, as detail tokens ("+private", "+key=k", "-limit", "+limit=5", ...)."""
        changed: list[str] = []
        private = room.private
        if self.private is not None and self.private != private:
            private = self.private
            changed.append(("+" if private else "-") + "private")
        old = room.settings
        new = replace(
            old,
            **{k: v for k, v in self._settings_fields().items() if v is not None},  # type: ignore[arg-type]
        )
        if new.join_key != old.join_key:
            changed.append(f"+key={new.join_key}" if new.join_key else "-key")
        if new.member_limit != old.member_limit:
            changed.append(f"+limit={new.member_limit}" if new.member_limit else "-limit")
        for name in ("topic_lock", "no_external", "moderated"):
            value = getattr(new, name)
            if value != getattr(old, name):
                changed.append(("+" if value else "-") + name)
        return private, new, changed


_WORDS = {
    "private": ("made it private (invite-only)", "made it public"),
    "key": ("set a join key", "removed the join key"),
    "limit": ("limited it to {} members", "removed the member limit"),
    "topic_lock": ("let only admins set the topic", "let any member set the topic"),
    "no_external": ("let only members send", "let non-members send"),
    "moderated": ("let only admins and voiced members speak", "let every member speak"),
}


def describe(actor: str, room_name: str, changes: list[str]) -> str:
    """The notice's text, for doors that show text; a key's value is never in it."""
    parts = []
    for token in changes:
        name, _, value = token[1:].partition("=")
        on, off = _WORDS[name]
        parts.append(on.format(value) if token[0] == "+" else off)
    return f"{actor} changed #{room_name}: " + ", ".join(parts)


def parse_change(setting: str, value: str) -> SettingsChange:
    """A change as typed on a line (telnet's /set): "key KEY|off", "limit N|off",
    "topic-lock on|off", "outsiders on|off" (non-members may send), "moderated on|off"."""
    setting, value = setting.lower(), value.strip()
    if setting == "key":
        return SettingsChange(join_key="" if value.lower() == "off" else check_key(value))
    if setting == "limit":
        return SettingsChange(member_limit=0 if value.lower() == "off" else parse_limit(value))
    if setting not in ("topic-lock", "outsiders", "moderated"):
        raise InvalidInput(
            f"no setting {setting[:32]!r}: key, limit, topic-lock, outsiders, moderated"
        )
    if value.lower() not in ("on", "off"):
        raise InvalidInput(f"usage: /set {setting} on|off")
    on = value.lower() == "on"
    if setting == "topic-lock":
        return SettingsChange(topic_lock=on)
    if setting == "outsiders":
        return SettingsChange(no_external=not on)
    return SettingsChange(moderated=on)


def show(room: Room) -> list[str]:
    """A room's settings as lines, for its members (the key included)."""
    s = room.settings
    return [
        f"key: {s.join_key or 'off'}",
        f"limit: {s.member_limit or 'off'}",
        f"topic-lock: {'on' if s.topic_lock else 'off'} (on: only admins set the topic)",
        f"outsiders: {'off' if s.no_external else 'on'} (on: non-members may send here)",
        f"moderated: {'on' if s.moderated else 'off'} (on: only admins and voiced members speak)",
        f"private: {'on' if room.private else 'off'}",
    ]


class SettingsCache:
    """This node's copy of rooms' settings, by room key and creation time (a room deleted and
    created again under its name is another room). A miss reads the store; a change on any
    node drops the entry everywhere (`RoomSettingsChanged`), and an answer read while a drop
    happened is not kept."""

    def __init__(self, store: Store, events: NodeEvents, max_entries: int = MAX_CACHED) -> None:
        self._store = store
        self._rooms: RoomCache[RoomSettings] = RoomCache(max_entries)
        events.on(RoomSettingsChanged, lambda e: self.drop(e.room))

    async def of(self, room: Room) -> RoomSettings:
        cached = self._rooms.get(room)
        if cached is not None:
            return cached
        generation = self._rooms.generation
        try:
            stored = await self._store.get_room(room.key)
        except ServiceUnavailable:  # the store is down: the room as this session last read it
            return room.settings
        if stored is None:
            return room.settings
        if stored.created_at == room.created_at:
            self._rooms.keep(room, stored.settings, generation)
        return stored.settings

    def drop(self, room_key: str) -> None:
        self._rooms.drop(room_key)

    @property
    def generation(self) -> int:
        """Moves on every drop (a room's settings changed on some node)."""
        return self._rooms.generation
