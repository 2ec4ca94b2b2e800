"""This node's copy of the active mutes. Both send paths of `Messaging` check it with a dict
lookup instead of asking the store for every message; the moderation service fills it from
the store at start and keeps it current from the mute events every node applies.

A mute is the room's as it was when the mute was set: each entry keeps when that was, and a
check against a room made after it (`made`) drops it. A room leaves by routes that tell no
node (the empty-room sweep, the last member of a server-owned room leaving, its owner's
account deleted with it); a room made again under its name must not find the old one's
mutes here, which nobody could lift (the store has none).

A mute ends by the store's clock (`Store.clock`), whatever clock each node keeps: its end is
the store's time when it was set plus its minutes, and a check tells the store's time from
this node's clock and how far the two were apart at the last read of the store's
(`read_clock`: the node's feed marks read it every few seconds). By the muting node's own
clock, one running 30 s behind set mutes that ended 30 s early on every node (attack57).
A check stays a dict lookup: no store round trip on a send. An act on mutes (a mute, an
unmute, a guest's rename carrying them) reads the store's clock instead, and tells this
copy the offset: it goes to the store anyway, and the offset is only as fresh as the last
read (a node whose clock jumped since misdates by the jump until the next feed mark).

Two moderators' acts on one mute at once (a mute and a mute, or a mute and an unmute, on
two nodes or doors) reach the store in one order and the nodes, by their events, maybe in
the other: the store kept alice's 600 minutes, every node carol's 10 (mute58). So a node
that applies a mute event reads that one mute back from the store (`reading`, `read`) and
keeps what the store kept; a read begun later, or the room or user forgotten, voids it."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from torbit.core.format import counted
from torbit.core.models import Mute, Room
from torbit.core.ports import Store
from torbit.errors import Forbidden


class Mutes:
    def __init__(self) -> None:
        # (room key, user key) -> (until, when the mute was set), by the store's clock
        self._until: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        # while a load reads the store: the pairs, rooms and users changed here meanwhile
        self._changed: tuple[set[tuple[str, str]], set[str], set[str]] | None = None
        self._ahead = timedelta(0)  # the store's clock less this node's, at the last read
        self._reads: dict[tuple[str, str], object] = {}  # a pair -> its newest read's ticket

    def observed(self, store_at: datetime, local_at: datetime) -> None:
        """The store's clock read `store_at` when this node's read `local_at`."""
        self._ahead = store_at - local_at

    def store_time(self, now: datetime) -> datetime:
        """The store's time when this node's clock reads `now`, as last observed."""
        return now + self._ahead

    def loading(self) -> None:
        """A load's read of the store begins: what changes here until `load` is newer."""
        self._changed = (set(), set(), set())

    def load(self, mutes: list[Mute], now: datetime) -> None:
        """The store's mutes, of rooms that exist `now` (the store's time: a deletion takes
        its room's), but those an event changed here since `loading` (the read may predate
        that change)."""
        pairs, rooms, users = self._changed or (set(), set(), set())
        self._changed = None
        for m in mutes:
            key = (m.room_key, m.user_key)
            if key not in pairs and m.room_key not in rooms and m.user_key not in users:
                self.set(*key, m.until, since=now)

    def set(
        self, room_key: str, user_key: str, until: datetime | None, since: datetime | None = None
    ) -> None:
        """Mute until `until`, set at `since` (default: now), both by the store's clock, or
        lift the mute with None."""
        if self._changed is not None:
            self._changed[0].add((room_key, user_key))
        if until is None:
            self._until.pop((room_key, user_key), None)
        else:
            self._until[(room_key, user_key)] = (until, since or self.store_time(_now()))

    def reading(self, room_key: str, user_key: str) -> object:
        """A read of the user's mute in the room from the store begins, after the event that
        changed it was applied here: its ticket for `read`."""
        ticket = self._reads[(room_key, user_key)] = object()
        return ticket

    def read(self, ticket: object, room_key: str, user_key: str, kept: list[Mute] | None,
             since: datetime) -> None:  # fmt: skip
        """The read of `ticket` found the mute `kept` (none: []; the read failed: None) at
        `since`, the store's time as it began: this node keeps it, unless a read began since
        (which saw every write this one saw) or the room or user was forgotten meanwhile."""
        key = (room_key, user_key)
        if self._reads.get(key) is not ticket:
            return
        del self._reads[key]
        if kept is None:
            return
        until = kept[0].until if kept else None
        held = self._until.get(key)
        if until != (held[0] if held else None):  # or it keeps the event's `since`
            self.set(room_key, user_key, until, since=since)

    def until(
        self, room_key: str, user_key: str, now: datetime, made: datetime | None = None
    ) -> datetime | None:
        """When the user's mute in the room ends (by the store's clock); None if not muted
        at `now`, this node's time (expired mutes go, and so do those set before the room was
        `made`, on its creating node's clock: an earlier room's of that name)."""
        if not self._until:
            return None
        entry = self._until.get((room_key, user_key))
        if entry is None:
            return None
        until, since = entry
        if until <= now + self._ahead or (made is not None and since < made + self._ahead):
            del self._until[(room_key, user_key)]
            return None
        return until

    def silenced(self, room_key: str, user_key: str) -> bool:
        """Muted in the room now (Sessions.silenced: a leave's reason is then not shown)."""
        return self.until(room_key, user_key, _now()) is not None

    def check(self, room: Room, user_key: str, now: datetime) -> None:
        """Raise Forbidden while the user is muted in `room` (this room: not one made before
        it under its name), named as it is spelt."""
        until = self.until(room.key, user_key, now, room.created_at)
        if until is not None:
            minutes = max(1, math.ceil((until - self.store_time(now)).total_seconds() / 60))
            raise Forbidden(f"you are muted in #{room.name} for {counted(minutes, 'more minute')}")

    def forget_user(self, user_key: str) -> None:
        """A deleted account: whoever takes the name next is not muted."""
        if self._changed is not None:
            self._changed[2].add(user_key)
        for key in [k for k in self._until if k[1] == user_key]:
            del self._until[key]
        for key in [k for k in self._reads if k[1] == user_key]:
            del self._reads[key]

    def forget_room(self, room_key: str) -> None:
        """A deleted room: a room made again under its name mutes nobody."""
        if self._changed is not None:
            self._changed[1].add(room_key)
        for key in [k for k in self._until if k[0] == room_key]:
            del self._until[key]
        for key in [k for k in self._reads if k[0] == room_key]:
            del self._reads[key]

    def __len__(self) -> int:
        return len(self._until)


def _now() -> datetime:
    return datetime.now(UTC)


async def read_clock(store: Store, mutes: Mutes, now: Callable[[], datetime]) -> datetime:
    """The store's time (`Store.clock`); `mutes` told how far it is from `now`, this node's
    clock, read on both sides of the store's (their middle)."""
    before = now()
    at = await store.clock()
    mutes.observed(at, before + (now() - before) / 2)
    return at


def set_at(until: datetime, minutes: int) -> datetime | None:
    """When a mute of `minutes` ending at `until` was set, by the store's clock (every node
    reads the same from its event); None when the event does not say."""
    return until - timedelta(minutes=minutes) if minutes else None
