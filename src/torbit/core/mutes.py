"""This node's copy of the active mutes. Both send paths of `Messaging` check it with a dict
lookup instead of asking the store for every message; the moderation service fills it from
the store at start and keeps it current from the mute events every node applies.

A mute is the room's as it was when the mute was set: each entry keeps when that was, and a
check against a room made after it (`made`) drops it. A room leaves by routes that tell no
node (the empty-room sweep, the last member of a server-owned room leaving, its owner's
account deleted with it); a room made again under its name must not find the old one's
mutes here, which nobody could lift (the store has none).

A mute ends by the store's clock (`Store.clock`), whatever clock each node keeps: its end is
the store's time when it was set plus its minutes. By the muting node's own clock, one
running 30 s behind set mutes that ended 30 s early on every node (attack57). A check stays
a dict lookup, no store round trip on a send: it asks the store's time as this node tells it
(core/storeclock.py: the store's clock at the last read plus the monotonic time since, which
a wall clock stepped forward does not move: clock58). A mute leaves this copy when an event
says so (an unmute, a deletion), or once the store's clock read here stands past its end
(`observed`, at each read), never by a time told between reads (an earlier room's mute,
ignored in the room made again, stays until then). An act on mutes (a mute, an unmute, a
guest's rename carrying them) reads the store's clock itself: it goes to the store anyway.

Two moderators' acts on one mute at once (a mute and a mute, or a mute and an unmute, on
two nodes or doors) reach the store in one order and the nodes, by their events, maybe in
the other: the store kept alice's 600 minutes, every node carol's 10 (mute58). So a node
that applies a mute event reads that one mute back from the store (`reading`, `read`) and
keeps what the store kept; a read begun later, or the room or user forgotten, voids it.

A mute held here is "backed" once a read of the store found it (the load, a read back, a
guest's rename carrying it). Of two unmutes at once (unmute59) the store lets one remove it;
the other finds none while this node still holds it, the first's event on its way: a backed
mute the store no longer has was lifted there since (or its unmute's node died before its
event: every node reads it back then, heal59). An unbacked one may be a mute whose event
came after the unmute that removed its row (attack58), which only an unmute lifts when its
read back failed."""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import datetime, timedelta

from torbit.core.format import counted
from torbit.core.models import Mute, Room
from torbit.core.storeclock import StoreClock
from torbit.errors import Forbidden


class Mutes:
    def __init__(self, clock: StoreClock | None = None) -> None:
        """`clock`: the store's time as this node tells it, which mutes end by (default: a
        clock of their own, never read until an act reads it)."""
        self.clock = clock or StoreClock()
        self.clock.on_read(self.observed)
        # (room key, user key) -> (until, when the mute was set), by the store's clock
        self._until: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        # while a load reads the store: the pairs, rooms and users changed here meanwhile
        self._changed: tuple[set[tuple[str, str]], set[str], set[str]] | None = None
        # a pair -> its newest read's ticket, done once that read is told (`read`)
        self._reads: dict[tuple[str, str], asyncio.Event] = {}
        self._backed: set[tuple[str, str]] = set()  # pairs whose mute held a store read found

    def observed(self, store_at: datetime) -> None:
        """The store's clock read `store_at`: the mutes it had ended leave this copy."""
        for key in [k for k, (until, _) in self._until.items() if until <= store_at]:
            del self._until[key]
            self._backed.discard(key)

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
                self._backed.add(key)

    def set(
        self,
        room_key: str,
        user_key: str,
        until: datetime | None,
        since: datetime | None = None,
        *,
        backed: bool = False,
    ) -> None:
        """Mute until `until`, set at `since` (default: now), both by the store's clock, or
        lift the mute with None. `backed`: a read of the store found it (a guest's mute a
        rename read and carried, heal59), else an event's, until a read finds it."""
        if self._changed is not None:
            self._changed[0].add((room_key, user_key))
        self._backed.discard((room_key, user_key))
        if until is None:
            self._until.pop((room_key, user_key), None)
        else:
            self._until[(room_key, user_key)] = (until, since or self.clock.now())
            if backed:
                self._backed.add((room_key, user_key))

    def reading(self, room_key: str, user_key: str) -> asyncio.Event:
        """A read of the user's mute in the room from the store begins, after the event that
        changed it was applied here: its ticket for `read`."""
        ticket = self._reads[(room_key, user_key)] = asyncio.Event()
        return ticket

    async def settled(self, room_key: str, user_key: str, within: float) -> None:
        """Until the newest read of the pair begun here is told (`read`), at most `within` s."""
        ticket = self._reads.get((room_key, user_key))
        if ticket is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await ticket.wait()

    def backed(self, room_key: str, user_key: str) -> bool:
        """Whether the user's mute in the room held here is one a read of the store found."""
        return (room_key, user_key) in self._backed and (room_key, user_key) in self._until

    def read(self, ticket: asyncio.Event, room_key: str, user_key: str,
             kept: list[Mute] | None, since: datetime) -> None:  # fmt: skip
        """The read of `ticket` found the mute `kept` (none: []; the read failed: None) at
        `since`, the store's time as it began: this node keeps it, unless a read began since
        (which saw every write this one saw) or the room or user was forgotten meanwhile."""
        ticket.set()
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
        if until is not None:
            self._backed.add(key)

    def until(
        self,
        room_key: str,
        user_key: str,
        at: datetime | None = None,
        made: datetime | None = None,
    ) -> datetime | None:
        """When the user's mute in the room ends (by the store's clock); None if not muted
        at `at`, the store's time (default: now, `clock`), or if it was set before the
        room was `made` (rooms are dated by the store's time: an earlier room's of that name).
        Nothing leaves this copy here: a time told between reads may be wrong."""
        if not self._until:
            return None
        entry = self._until.get((room_key, user_key))
        if entry is None:
            return None
        until, since = entry
        if until <= (self.clock.now() if at is None else at):
            return None
        if made is not None and since < made:
            return None
        return until

    def silenced(self, room_key: str, user_key: str) -> bool:
        """Muted in the room now (Sessions.silenced: a leave's reason is then not shown)."""
        return self.until(room_key, user_key) is not None

    def check(self, room: Room, user_key: str, at: datetime | None = None) -> None:
        """Raise Forbidden while the user is muted in `room` (this room: not one made before
        it under its name), named as it is spelt; at the store's time `at` (default: now)."""
        at = self.clock.now() if at is None else at
        until = self.until(room.key, user_key, at, room.created_at)
        if until is not None:
            minutes = max(1, math.ceil((until - at).total_seconds() / 60))
            raise Forbidden(f"you are muted in #{room.name} for {counted(minutes, 'more minute')}")

    def forget_user(self, user_key: str) -> None:
        """A deleted account: whoever takes the name next is not muted."""
        if self._changed is not None:
            self._changed[2].add(user_key)
        for key in [k for k in self._until if k[1] == user_key]:
            del self._until[key]
            self._backed.discard(key)
        for key in [k for k in self._reads if k[1] == user_key]:
            del self._reads[key]

    def forget_room(self, room_key: str) -> None:
        """A deleted room: a room made again under its name mutes nobody."""
        if self._changed is not None:
            self._changed[1].add(room_key)
        for key in [k for k in self._until if k[0] == room_key]:
            del self._until[key]
            self._backed.discard(key)
        for key in [k for k in self._reads if k[0] == room_key]:
            del self._reads[key]

    def __len__(self) -> int:
        return len(self._until)


def set_at(until: datetime, minutes: int) -> datetime | None:
    """When a mute of `minutes` ending at `until` was set, by the store's clock (every node
    reads the same from its event); None when the event does not say."""
    return until - timedelta(minutes=minutes) if minutes else None
