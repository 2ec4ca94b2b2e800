"""Finding a room as a user may see it (a private room stays unknown to those who may not
know it; a member's room costs no store query once the node knows the membership), and the
user's standing there: role, voice, whether they may speak, whether a non-member may send.
A mixin, part of Membership (membership.py), which supplies the store and its caches."""

from __future__ import annotations

from torbit.core import access
from torbit.core.banmasks import RoomMasks, Visitor
from torbit.core.joinchecks import RoomRules
from torbit.core.maskgate import MaskGate
from torbit.core.membercache import MemberCache
from torbit.core.models import Role, Room
from torbit.core.names import check_name, name_key
from torbit.core.ports import Store
from torbit.core.roomroles import RoomRoles
from torbit.core.roomsettings import SettingsCache
from torbit.errors import Forbidden, NotFound


class RoomLookup:
    """Needs `_store`, `rules`, `known`, `settings`, `ban_masks`, `room_roles`,
    `_joined_rooms` and `_mask_gate` from Membership."""

    _store: Store
    rules: RoomRules
    known: MemberCache
    settings: SettingsCache
    ban_masks: RoomMasks
    room_roles: RoomRoles
    _joined_rooms: dict[str, Room]
    _mask_gate: MaskGate

    async def room(self, name: str) -> Room:
        room = await self._store.get_room(check_name(name, "room name"))
        if room is None:
            raise NotFound(f"no such room #{name}")
        return room

    async def visible_room(self, user: str, room_name: str) -> Room:
        """The room, unless it is private and the user may not know it exists."""
        room = await self.room(room_name)
        await access.check_visible(self._store, user, room, room_name)
        return room

    async def member_room(self, user: str, room_name: str, visitor: Visitor | None = None) -> Room:
        """The room, if the user is a member; a non-member of a private room learns nothing,
        not even that it exists. Known memberships cost no store query (membercache.py):
        only the room's key, name and creation time are to be read from the answer. With a
        `visitor` (an HTTP request's client), its ban masks are asked too (`check_visitor`)."""
        user_key = name_key(user)
        known = self.known.room(user_key, check_name(room_name, "room name"))
        if known is not None:
            if visitor is not None:
                await self._mask_gate.check(user, known, visitor)
            return known
        generation = self.known.generation
        room = await self.room(room_name)
        if not await self.is_member(user, room.key):
            await access.check_visible(self._store, user, room, room_name)
            raise Forbidden(f"you are not a member of #{room.name}: join it first")
        self.known.remember(user_key, room, generation)
        if visitor is not None:
            await self._mask_gate.check(user, room, visitor)
        return room

    async def check_visitor(self, user: str, room: Room, visitor: Visitor) -> None:
        """Forbidden if the client of a request that reads or writes the room matches one of
        its ban masks (owner, admins and server admins never do); a member so matched is put
        out, once (core/maskgate.py). A room without masks: one dict lookup."""
        await self._mask_gate.check(user, room, visitor)

    async def roles(self, room: Room) -> dict[str, Role]:
        """The room's owner and admins by key, for showing who is who (IRC's channel
        prefixes): the node's copy, no query when it has one (roomroles.py)."""
        roles = dict.fromkeys((await self.room_roles.of(room))[0], Role.ADMIN)
        if room.owner is not None:
            roles[name_key(room.owner)] = Role.OWNER
        return roles

    async def voiced(self, room: Room) -> frozenset[str]:
        """Keys of the room's voiced members (IRC's + prefix), as `roles`."""
        return (await self.room_roles.of(room))[1]

    async def role(self, user: str, room: Room) -> Role:
        """The user's role in the room now (an ownerless room's admins act as its owner)."""
        key = name_key(user)
        role = (await self._store.standing(room.key, key)).role(room, key)
        if (
            role is Role.ADMIN
            and room.owner is None
            and room.key != name_key(self.rules.default_room)
        ):
            return Role.OWNER
        return role

    def speaking_marks(self) -> tuple[int, int]:
        """Move whenever a room's settings or its admins and voices change on this node (not
        on leaves, kicks and bans: memberships have their own check): a `check_may_speak`
        answer read across a move may predate a room made moderated or a voice taken."""
        return self.settings.generation, self.room_roles.changes

    async def check_may_speak(self, user: str, room: Room) -> None:
        """In a moderated room only its admins, owner, server admins and voiced members
        speak. Asked of the store at every send there, so a voice taken away counts at once,
        on every node and for sessions already listening."""
        if not (await self.settings.of(room)).moderated:
            return
        key = name_key(user)
        standing = await self._store.standing(room.key, key)
        if standing.role(room, key) < Role.ADMIN and not standing.voiced:
            raise Forbidden(
                f"#{room.name} is moderated: only its admins and voiced members may speak"
            )

    async def unvoiced(self, room_key: str, user_key: str) -> bool:
        """Whether the user may not speak in the room for its being moderated (Sessions'
        `silenced`: a leave's reason is then not shown). Asked only for a leave with a
        reason; the store, only of a moderated room or one this node has no copy of."""
        known = self._joined_rooms.get(room_key)
        if known is not None and not (await self.settings.of(known)).moderated:
            return False
        room = await self._store.get_room(room_key)  # its owner now, not the copy's
        if room is None:
            return False
        try:
            await self.check_may_speak(user_key, room)
        except Forbidden:
            return True
        return False

    async def outside_room(self, user: str, room_name: str, visitor: Visitor | None = None) -> Room:
        """A room a non-member may send to: a public one whose admins let non-members send
        (no_external off), unless the user is banned there or the `visitor` matches one of
        its ban masks. Forbidden otherwise, as for any non-member; a private room stays "no
        such room" to those who may not see it."""
        room = await self.visible_room(user, room_name)
        settings = await self.settings.of(room)
        if room.private or settings.no_external:
            raise Forbidden(f"you are not a member of #{room.name}: join it first")
        user_key = name_key(user)
        standing = await self._store.standing(room.key, user_key)
        if standing.banned:
            raise Forbidden(f"you are banned from #{room.name}")
        await access.check_masks(self.ban_masks, standing, room, user_key, visitor)
        return room

    async def is_member(self, user: str, room_key: str) -> bool:
        """One read of the pair's row (Store.is_member), not the user's every room."""
        return await self._store.is_member(room_key, name_key(user))
