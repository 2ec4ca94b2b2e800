"""The per-room cache under SettingsCache and RoomMasks (core/roomcache.py): a room deleted and
created again is another room, an answer read across a drop is not kept, and past its bound
the oldest room goes first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from torbit.core.models import Room
from torbit.core.roomcache import RoomCache

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_room_created_again_under_its_name_is_another_room() -> None:
    cache: RoomCache[str] = RoomCache(10)
    cache.keep(Room("Den", T0), "old")
    assert cache.get(Room("den", T0)) == "old"  # by key: the name's case does not matter
    assert cache.get(Room("Den", T0 + timedelta(seconds=1))) is None


def test_an_answer_read_across_a_drop_is_not_kept() -> None:
    cache: RoomCache[str] = RoomCache(10)
    room = Room("den", T0)
    before = cache.generation
    cache.drop("yard")  # any room's drop: the read may have raced it
    cache.keep(room, "stale", before)
    assert cache.get(room) is None
    cache.keep(room, "fresh", cache.generation)
    assert cache.get(room) == "fresh"
    cache.drop("den")
    assert cache.get(room) is None


def test_past_its_bound_the_oldest_room_goes() -> None:
    cache: RoomCache[int] = RoomCache(3)
    rooms = [Room(f"r{i}", T0) for i in range(4)]
    for i, room in enumerate(rooms[:3]):
        cache.keep(room, i)
    cache.keep(rooms[0], 10)  # kept again: it stays where it was first added
    cache.keep(rooms[3], 3)
    assert [cache.get(r) for r in rooms] == [None, 1, 2, 3]
