"""This node's copy of the active mutes. Both send paths of `Messaging` check it with a dict
lookup instead of asking the store for every message; the moderation service fills it from
the store at start and keeps it current from the mute events every node applies."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from torbit.core.format import counted
from torbit.core.models import Mute
from torbit.errors import Forbidden


class Mutes:
    def __init__(self) -> None:
        self._until: dict[tuple[str, str], datetime] = {}  # (room key, user key) -> until

    def load(self, mutes: list[Mute]) -> None:
        for m in mutes:
            self.set(m.room_key, m.user_key, m.until)

    def set(self, room_key: str, user_key: str, until: datetime | None) -> None:
        """Mute until `until`, or lift the mute with None."""
        if until is None:
            self._until.pop((room_key, user_key), None)
        else:
            self._until[(room_key, user_key)] = until

    def until(self, room_key: str, user_key: str, now: datetime) -> datetime | None:
        """When the user's mute in the room ends; None if not muted (expired mutes go)."""
        if not self._until:
            return None
        until = self._until.get((room_key, user_key))
        if until is not None and until <= now:
            del self._until[(room_key, user_key)]
            return None
        return until

    def silenced(self, room_key: str, user_key: str) -> bool:
        """Muted in the room now (Sessions.silenced: a leave's reason is then not shown)."""
        return self.until(room_key, user_key, datetime.now(UTC)) is not None

    def check(self, room_key: str, user_key: str, now: datetime) -> None:
        """Raise Forbidden while the user is muted in the room."""
        until = self.until(room_key, user_key, now)
        if until is not None:
            minutes = max(1, math.ceil((until - now).total_seconds() / 60))
            raise Forbidden(f"you are muted in #{room_key} for {counted(minutes, 'more minute')}")

    def forget_user(self, user_key: str) -> None:
        """A deleted account: whoever takes the name next is not muted."""
        for key in [k for k in self._until if k[1] == user_key]:
            del self._until[key]

    def forget_room(self, room_key: str) -> None:
        """A deleted room: a room made again under its name mutes nobody."""
        for key in [k for k in self._until if k[0] == room_key]:
            del self._until[key]

    def __len__(self) -> int:
        return len(self._until)
