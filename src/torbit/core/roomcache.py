"""RoomCache: a node's copy of something read per room (its settings: roomsettings.py; its ban
masks: banmasks.py), by room key and creation time, so that a room deleted and created again
under its name is another room. Its owner reads the store on a miss and drops a room's entry
when a change's event arrives from any node; an answer read while a drop happened is not kept
(`keep`). Past `max_entries` rooms, the oldest entry goes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from torbit.core.models import Room

T = TypeVar("T")


class RoomCache(Generic[T]):
    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._rooms: dict[str, tuple[datetime, T]] = {}  # in the order they were added
        self._generation = 0

    def get(self, room: Room) -> T | None:
        cached = self._rooms.get(room.key)
        if cached is not None and cached[0] == room.created_at:
            return cached[1]
        return None

    @property
    def generation(self) -> int:
        """Counts the drops: taken before a read, handed to `keep` after it."""
        return self._generation

    def keep(self, room: Room, value: T, generation: int | None = None) -> None:
        """Remember `value` for the room, unless a drop came since `generation` was taken."""
        if generation is not None and generation != self._generation:
            return
        self._rooms[room.key] = (room.created_at, value)
        while len(self._rooms) > self._max:
            del self._rooms[next(iter(self._rooms))]

    def drop(self, room_key: str) -> None:
        self._generation += 1
        self._rooms.pop(room_key, None)

    def drop_if(self, stale: Callable[[T], bool], room_key: str = "") -> None:
        """Drop the entries `stale` picks, of `room_key` or of every room; an answer being
        read now is not kept either way (it may predate the change)."""
        self._generation += 1
        for key in [room_key] if room_key else list(self._rooms):
            cached = self._rooms.get(key)
            if cached is not None and stale(cached[1]):
                del self._rooms[key]

    def clear(self) -> None:
        """Drop every room's entry (what changed is not known room by room)."""
        self._generation += 1
        self._rooms.clear()
