"""Listing rooms and their people: pages of the rooms a viewer may see (bounded work per
page), a user's rooms, rosters paid from the viewer's read budget, and who is online or
away. A mixin, part of Membership (membership.py), which supplies the store, the
subscriptions and the read budget."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

from torbit.core import access, policy
from torbit.core.banmasks import Visitor
from torbit.core.limits import NamesRead, ReadBudget
from torbit.core.models import Room, RoomInfo
from torbit.core.names import name_key
from torbit.core.room_lookup import RoomLookup
from torbit.core.sessions import Sessions
from torbit.core.subscriptions import Subscriptions

MAX_ROOM_PAGE = 1000
SCAN_PAGES = 10  # store pages one listing reads at most, however many rooms it must skip
ROOMS_PER_MESSAGE = 10  # rooms a paid listing reads (shown or hidden) for one message


@dataclass(frozen=True, slots=True)
class RoomPage:
    """Rooms in name order; `next_after` (a room key) continues the listing, None at the end."""

    rooms: list[RoomInfo]
    next_after: str | None


class RoomListings(RoomLookup):
    """Needs `_subs`, `_sessions` and `_reads` from Membership, beside RoomLookup's."""

    _subs: Subscriptions
    _sessions: Sessions
    _reads: ReadBudget

    async def rooms(
        self,
        viewer: str,
        *,
        after: str | None = None,
        limit: int = MAX_ROOM_PAGE,
        paid: bool = False,
    ) -> RoomPage:
        """A page of the rooms the viewer may see, by name: every public one, and the private
        ones they belong or are invited to (server admins see all). Pages are bounded, and so
        is the work of one: past SCAN_PAGES store pages of rooms hidden from the viewer, a
        shorter page comes back with where to go on.

        `paid`: the rooms read, shown or hidden, come out of the viewer's read budget, ten
        for a message (a page that reads none costs one), refused (RateLimited) only when
        nothing is left: a door whose pages are free to ask for (`GET /api/v1/rooms`). The
        most a page may read is taken before it reads and what it did not read given back,
        so pages asked for in parallel share the budget rather than each reading its fill;
        a page granted less reads less (shorter, with where to go on). IRC's LIST and
        telnet's /list pay a walk instead (`check_walk`) for all their pages."""
        limit = max(1, min(limit, MAX_ROOM_PAGE))
        most = SCAN_PAGES * limit  # rooms one page may read
        if not paid:
            return await self._rooms_page(viewer, after, limit, [0], most)
        key = name_key(viewer)
        granted = self._reads.grant(key, -(-most // ROOMS_PER_MESSAGE))
        read = [0]  # rooms read from the store
        try:
            return await self._rooms_page(viewer, after, limit, read, granted * ROOMS_PER_MESSAGE)
        finally:
            self._reads.settle(key, granted, max(1, -(-read[0] // ROOMS_PER_MESSAGE)))

    async def _rooms_page(
        self, viewer: str, after: str | None, limit: int, read: list[int], allowed: int
    ) -> RoomPage:
        """`allowed`: rooms it may read from the store; `read` counts them."""
        out: list[tuple[Room, int]] = []
        cursor = after
        for _ in range(SCAN_PAGES):
            size = min(limit, allowed - read[0])
            if size <= 0:
                break  # the allowance spent: a shorter page, going on from the last read
            batch = await self._store.list_rooms(after=cursor, limit=size)
            read[0] += len(batch)
            if not batch:
                cursor = None
                break
            visible = await access.visible_rooms(self._store, viewer, batch)
            for room, members in visible:
                out.append((room, members))
                cursor = room.key
                if len(out) == limit:
                    break
            if len(out) == limit:
                break
            cursor = batch[-1][0].key
            if len(batch) < size:
                cursor = None
                break
        infos = [RoomInfo(room=r, members=n, online=self._subs.online_count(r.key)) for r, n in out]
        return RoomPage(infos, cursor)

    async def my_rooms(self, user: str) -> list[RoomInfo]:
        """The rooms the user is a member of (at most `rooms_per_user`), each read with its
        member count: paid as a roster of as many names, taken before the counts are read
        (100 rooms' counts were free, 30 lists at once)."""
        keys = await self._store.rooms_of(name_key(user))
        with self.roster_read(user, most=len(keys)) as paid:
            listed = await self._store.rooms_with_counts(keys)
            paid.names = len(listed)
        return [
            RoomInfo(room=r, members=n, online=self._subs.online_count(r.key)) for r, n in listed
        ]

    async def roster_room(
        self, viewer: str, room_name: str, visitor: Visitor | None = None
    ) -> Room:
        """The room, if the viewer may list its members (`policy.check_roster`: anyone in a
        public room but those banned from it, and a `visitor` matching its ban masks);
        NotFound or Forbidden. Every door asks this before it names a room's members."""
        room = await self.room(room_name)
        key = name_key(viewer)
        policy.check_roster(await self._store.standing(room.key, key), room, key)
        if visitor is not None:
            await self._mask_gate.check(viewer, room, visitor)
        return room

    async def member_count(self, room: Room) -> int:
        """How many members the room has: shown with the room wherever it is (a count, as
        IRC's LIST gives, names no one). Counted by the store: reading every membership
        row of a 5,000-member room for a count was free to ask for again and again."""
        counted = await self._store.rooms_with_counts([room.key])
        return counted[0][1] if counted else 0

    async def members(self, room_name: str, *, viewer: str) -> list[str]:
        """The room's members, paid from the viewer's read budget (`grant_roster`)."""
        room = await self.roster_room(viewer, room_name)
        with self.roster_read(viewer, most=await self.member_count(room)) as paid:
            names = await self._store.list_members(room.key)
            paid.names = len(names)
        return names

    async def roster(
        self, room_name: str, *, viewer: str, visitor: Visitor | None = None
    ) -> tuple[list[str], list[str]]:
        """The room's members and, of them, the voiced ones (display names, sorted), paid
        from the viewer's read budget (`grant_roster`); the voices from the node's copy
        (`voiced`), not a walk of every membership row per read."""
        room = await self.roster_room(viewer, room_name, visitor)
        with self.roster_read(viewer, most=await self.member_count(room)) as paid:
            names = await self._store.list_members(room.key)
            paid.names = len(names)
        voiced = await self.voiced(room)
        return names, [n for n in names if name_key(n) in voiced]

    def grant_roster(self, viewer: str, most: int = 0) -> int:
        """A read of a list of names (a room's members: IRC `NAMES`, `GET .../members`,
        telnet `/who`; invitations, bans, the audit) comes out of the reader's read budget
        (`limits.read_rate`): a roster of 10,000 names asked for again and again was free.
        The names an IRC JOIN shows are not charged: a first join pays the join rate, and a
        member joining again on another connection has paid a login for it. Refused
        (RateLimited) before it reads, only when nothing is left; `pay_roster` pays for
        every name read.

        `most`: the names the read will return, as far as known before (a count), taken
        first, so reads asked for in parallel share the budget: each took one and paid the
        rest after, and 30 asked at once were all answered on a budget of a few."""
        return self._reads.grant_names(name_key(viewer), most)

    def pay_roster(self, viewer: str, granted: int, names: int) -> None:
        self._reads.settle_names(name_key(viewer), granted, names)

    def roster_read(self, viewer: str, most: int = 0) -> AbstractContextManager[NamesRead]:
        """`grant_roster` and `pay_roster` around a read in the core: set `names`."""
        return self._reads.names_read(name_key(viewer), most)

    def online(self, room_key: str) -> list[str]:
        return self._subs.online(room_key)

    def gone(self, user_key: str) -> bool:
        """The user is online nowhere (here, nor on another node), or is a guest being
        deleted (`Subscriptions.gone`)."""
        return self._subs.gone(user_key)

    def away(self, names: list[str]) -> dict[str, str]:
        """Who of these online users is away, with their message (on any door or node)."""
        return {n: a for n in names if (a := self._subs.away_of(name_key(n))) is not None}

    def online_count(self, room_key: str) -> int:
        return self._subs.online_count(room_key)

    def presence_told(self, room_key: str) -> bool:
        """Whether joins and leaves in the room are told to its listeners as they happen
        (`Sessions.notices_in`): false in rooms above `chat.presence_notices_max`."""
        return self._sessions.notices_in(room_key)
