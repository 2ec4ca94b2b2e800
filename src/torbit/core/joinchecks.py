"""What a join or a create must pass beyond who may see and join a room (access.py), a
part of Membership (membership.py): `rooms_per_user`, counting the rooms a user owns as
well as those they belong to; a room's join key and member limit, which hold for everyone
but its invitees, owner and server admins; and each asked again once the membership is
added, as is a ban, since another node's join or ban may have landed between the first
look and the add. A mixin, so that membership.py stays about finding, joining, leaving
and listing rooms; Membership supplies the store and its caches."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from torbit.core import access
from torbit.core.banmasks import INVEX, Visitor, matches
from torbit.core.membercache import MemberCache
from torbit.core.models import Role, Room, Standing
from torbit.core.names import name_key
from torbit.core.ports import Store
from torbit.core.roomsettings import key_opens
from torbit.errors import BadKey, Conflict, Forbidden, LooksAlike, NotFound, RoomFull

# A user's creates and joins take turns on a node, so at most one per node is under way at once:
# past `rooms_per_user` minus this many, one is counted again once added (up to this many
# nodes racing are caught; below it, a first join costs no second count)
RACING_NODES = 16


@dataclass(frozen=True, slots=True)
class RoomRules:
    default_room: str = "lobby"
    history_on_join: int = 20
    rooms_per_user: int = 0  # 0: no limit


class JoinChecks:
    """Needs `_store`, `rules` and `known` from Membership."""

    _store: Store
    rules: RoomRules
    known: MemberCache

    async def check_room_limit(self, user: str, room_key: str) -> bool:
        """Refuse a room beyond `rooms_per_user`, counting the rooms the user belongs to and
        those they own (each once). True when the count must be taken again once the room is
        added (`_still_within_rooms`): the user held so many that adds on other nodes at the
        same instant could pass the limit."""
        limit = self.rules.rooms_per_user
        if not limit:
            return False
        mine = await self._store.rooms_held(name_key(user))
        if room_key in mine:
            return False
        if len(mine) >= limit:
            raise Forbidden(f"you are in or own too many rooms (limit {limit}): /leave one first")
        return len(mine) + RACING_NODES > limit

    async def _still_within_rooms(self, user: str, room: Room, *, created: bool) -> None:
        """Counted again once the room is added: a node takes a user's checks one at a time,
        but another node's create or join for the same user may have landed between this
        node's count and its add. Past the limit, this one is taken back (a room it just
        created is deleted). Two nodes racing so may both take theirs back; a create or join
        refused that way can be tried again, and the limit is never passed."""
        user_key = name_key(user)
        limit = self.rules.rooms_per_user
        if len(await self._store.rooms_held(user_key)) <= limit:
            return
        if created:
            await self._store.delete_room(room.key)
        else:
            await self._store.remove_member(room.key, user_key)
        await self.known.ended(user_key, room.key)
        raise Forbidden(f"you are in or own too many rooms (limit {limit}): /leave one first")

    async def _add(
        self, room_key: str, user_key: str, created: bool, *, by_right: bool = False
    ) -> bool:
        """`add_member`; a room the user has just made is taken back when their account was
        deleted meanwhile (on another node: the store orders the two, `insert_room`), else
        the name's next holder owned it."""
        try:
            return await self._store.add_member(room_key, user_key, by_right=by_right)
        except NotFound:
            if created:
                await self._store.delete_room_if_empty(room_key)
            raise

    async def _still_admitted(
        self,
        user: str,
        room_name: str,
        room_key: str,
        invex: Visitor | None = None,
        by_right: bool = False,
        created: datetime | None = None,
    ) -> None:
        """Asked again once the membership is added: a ban (or the room's deletion) since
        the standing was first read would otherwise be undone by this join. A ban ends the
        membership in the transaction that records it, so either it came before this read,
        which sees it, or it ends the membership added here. Refused: the membership is
        taken back, on every node. (Not an invitation: one this read misses may have been
        used by the user's own join on another node.) `invex`: the client a private room
        let in by an invite exception alone; the exceptions are read again from the store
        (not this node's copy, which another node's lift reaches later): one lifted since
        the first look, with the room still private to the user, takes the join back, as a
        ban does (a lift after this read came after the join, and keeps its member, as
        IRC's -I does). `by_right`: a private room joined by the server-admin right alone;
        taken back when the right was taken away since the first look (core/demotion.py:
        a demotion that looked for such memberships before this one was added missed it).
        `created`: the room first looked at; a room made again under the name since, whose
        rules this join never asked, takes it back as its deletion does (roomdel56: the
        join landed in the new private room and showed its messages)."""
        user_key = name_key(user)
        room, standing = await self._store.room_and_standing(room_key, user_key)
        if room is not None and created is not None and room.created_at != created:
            room = None
        if room is not None and not (standing.banned and not standing.server_admin):
            alone = replace(standing, member=False)
            if by_right and not alone.may_see(room, user_key):
                await self._store.remove_member(room_key, user_key)
                await self.known.ended(user_key, room_key)
                raise access.hidden(room_name)
            if invex is None or await self._invex_holds(room, standing, user_key, invex):
                return
            await self._store.remove_member(room_key, user_key)
            await self.known.ended(user_key, room_key)
            raise access.hidden(room_name)
        await self._store.remove_member(room_key, user_key)
        await self.known.ended(user_key, room_key)
        if room is None:
            raise access.hidden(room_name)
        access.admit(replace(standing, member=False), user, room, room_name)  # hidden, banned
        raise Forbidden(f"you are banned from #{room.name}")

    async def _invex_holds(
        self, room: Room, standing: Standing, user_key: str, visitor: Visitor
    ) -> bool:
        """Whether the user, now a member, would still be let into the room: it is public
        now, they are invited or outrank a member, or one of its invite exceptions, as the
        store holds them now, still matches their client."""
        if replace(standing, member=False).may_see(room, user_key):
            return True
        listed = await self._store.list_exception_masks(room.key)
        return any(m.kind == INVEX and matches(m.mask, visitor) for m in listed)

    def _exempt(self, room: Room, standing: Standing, user_key: str) -> bool:
        return standing.invited or standing.rank(room, user_key) >= Role.OWNER

    def _check_key(self, room: Room, standing: Standing, user_key: str, join_key: str) -> None:
        if not key_opens(room.settings, join_key) and not self._exempt(room, standing, user_key):
            raise BadKey(f"#{room.name} needs its join key: /join {room.name} KEY")

    def _limited(self, room: Room, standing: Standing, user_key: str) -> bool:
        return bool(room.settings.member_limit) and not self._exempt(room, standing, user_key)

    async def _check_full(self, room: Room) -> None:
        """Counted from the store under the room's lock, with its limit read again there."""
        current = await self._store.get_room(room.key)
        limit = (current or room).settings.member_limit
        if limit and len(await self._store.list_members(room.key)) >= limit:
            raise RoomFull(f"#{room.name} is full ({limit} members)")

    async def _still_room_for(self, room: Room, user_key: str) -> None:
        """Counted again once the membership is added: another node's join of the last place
        may have landed between this node's count and its add (the room lock holds only here).
        Over the limit, this join is taken back. Two nodes racing so may both take theirs back;
        a join refused that way can be tried again, and the limit is never passed."""
        current = await self._store.get_room(room.key)
        limit = (current or room).settings.member_limit
        if not limit or len(await self._store.list_members(room.key)) <= limit:
            return
        await self._store.remove_member(room.key, user_key)
        await self.known.ended(user_key, room.key)
        raise RoomFull(f"#{room.name} is full ({limit} members)")


def taken(room_name: str) -> Conflict:
    """The one answer to creating a room whose name is in use, public or private."""
    return Conflict(f"the room name #{room_name} is taken")


def reads_like(room_name: str) -> LooksAlike:
    """The one answer to creating a room whose name reads like an existing room's (its
    skeleton, core/identity.py), whether that room is public or private: it names none."""
    return LooksAlike(f"the room name #{room_name} reads too much like an existing room")
