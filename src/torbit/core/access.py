"""Who may see and join a room. A private room exists only for its members, invitees, owner
and server admins: to anyone else it is "no such room", whichever door they try, but a client
matching one of its invite exceptions may join it. No room admits a banned user, nor a client
matching one of its ban masks and none of its ban exceptions (core/banmasks.py).
Membership asks these on its slower paths (joining, listing, refusing), never per message:
a session that joined was checked then, and a kick or ban ends its listening."""

from __future__ import annotations

from dataclasses import replace

from torbit.core.banmasks import RoomMasks, Visitor
from torbit.core.models import Role, Room, Standing
from torbit.core.names import name_key
from torbit.core.ports import Store
from torbit.errors import Forbidden, NotFound


def hidden(room_name: str) -> NotFound:
    """The same answer as for a room that does not exist."""
    return NotFound(f"no such room #{room_name}")


async def check_visible(store: Store, user: str, room: Room, room_name: str) -> None:
    """Raise "no such room" unless the user may know that the room exists."""
    if room.private:
        standing = await store.standing(room.key, name_key(user))
        if not standing.may_see(room, name_key(user)):
            raise hidden(room_name)


async def admission(store: Store, user: str, room: Room, room_name: str) -> Standing:
    """The user's standing, if they may become a member of an existing room."""
    return admit(await store.standing(room.key, name_key(user)), user, room, room_name)


def admit(
    standing: Standing, user: str, room: Room, room_name: str, *, invex: bool = False
) -> Standing:
    """`admission` with the standing already read (Store.room_and_standing); `invex`: the
    client matches one of the room's invite exceptions (`invited_by_mask`)."""
    if not standing.member:
        if not invex and not standing.may_see(room, name_key(user)):
            raise hidden(room_name)
        if standing.banned and not standing.server_admin:
            raise Forbidden(f"you are banned from #{room.name}")
    return standing


async def by_right(
    masks: RoomMasks, standing: Standing, room: Room, user_key: str, visitor: Visitor | None
) -> bool:
    """Whether a join of the room, by a user of this standing who is not yet a member, is
    let in by the server-admin right alone: a private room they do not own, are not invited
    to, and none of whose invite exceptions matches their client (`visitor`; a server admin
    is not asked them to join). Such a membership is kept as such (`Store.add_member`) and
    ends with the right (core/demotion.py)."""
    if not room.private or not standing.server_admin:
        return False
    if replace(standing, server_admin=False, member=False).may_see(room, user_key):
        return False
    return visitor is None or not (await masks.of(room)).invited(visitor)


def mask_exempt(standing: Standing, room: Room, user_key: str) -> bool:
    """Ban masks never bar the room's owner, its admins or server admins (core/banmasks.py)."""
    return standing.rank(room, user_key) >= Role.ADMIN


async def check_masks(
    masks: RoomMasks, standing: Standing, room: Room, user_key: str, visitor: Visitor | None
) -> None:
    """Forbidden ("banned", as an account's ban) when the client matches one of the room's
    ban masks; `visitor` None: a caller with no client (the admin CLI, a test) is not
    matched."""
    if visitor is None or mask_exempt(standing, room, user_key):
        return
    if await masks.matching(room, visitor) is not None:
        raise Forbidden(f"you are banned from #{room.name}")


async def invited_by_mask(
    masks: RoomMasks, standing: Standing, room: Room, user_key: str, visitor: Visitor | None
) -> bool:
    """Whether a client the private room would not admit matches one of its invite
    exceptions (core/banmasks.py): it may join as an invitee may, bans, key and limit
    aside. Asked only of the client a private room would otherwise refuse."""
    if visitor is None or standing.member or standing.may_see(room, user_key):
        return False
    return (await masks.of(room)).invited(visitor)


async def visible_rooms(
    store: Store, viewer: str, listed: list[tuple[Room, int]]
) -> list[tuple[Room, int]]:
    """The rooms (with member counts) the viewer may see: every public one, and the private
    ones they own, belong or are invited to; server admins see all."""
    if not any(r.private for r, _ in listed):
        return listed
    key = name_key(viewer)
    user = await store.get_user(key)
    if user is not None and user.is_admin:
        return listed
    mine = {*await store.rooms_of(key), *await store.invited_rooms(key)}
    return [
        (r, n)
        for r, n in listed
        if not r.private or r.key in mine or name_key(r.owner or "") == key
    ]
