"""What taking the server-admin right away (`torbit user set-admin NAME --revoke`) does to
the user's memberships: the rooms they are in only by that right, they leave.

A server admin may join any private room, and no room bans them (core/access.py). Once
the right is gone, such a membership would let them back in, since a member is admitted as
such: logged in again, or through a session on another door that survived, they went on
reading and writing private rooms that would no longer admit them (and rooms that banned
their account). So the demotion ends, after the store has taken the right away:

- every membership of a room that bans the account;
- every membership of a private room joined by the right alone (the store keeps that on
  the membership, written at the join: `Store.add_member`'s `by_right`, since the
  invitation a join uses is gone with it), unless the room would admit them now: they own
  it, are a room admin there, are invited again (an invitation of such a member admits
  them: `Store.admit_member` clears the flag, core/invitations.py), or one of its invite
  exceptions names their account (`name!*@*`, or a wildcard nick taking it, with any user
  and host: a mask on an address needs a client, which a demotion has none of; such a
  client may join again as the exception lets it).

Public rooms, rooms they own, rooms they are a room admin of and private rooms they joined
by an invitation or while the room was public stay. Each end is told as a kick by the
server's operator ("no longer a server admin") to the room and to the user's sessions
there, on every node and door (an `Expelled` node event: IRC shows a KICK from the server),
and written to the room's audit log. A join of a private room racing the demotion asks
again once added (core/joinchecks.py `_still_admitted`): either this look finds its
membership, or its own look finds the right gone and takes it back.

A process that is not a node (the CLI) tells the nodes through the store's feed
(core/revocation.py `feed_event`), as it tells them the revocation that follows."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from torbit.core.banmasks import INVEX, Visitor, matches
from torbit.core.events import Expelled, NodeEvent
from torbit.core.models import AuditEntry, Role, Room, Standing, User
from torbit.core.ports import Store
from torbit.core.revocation import feed_event

log = logging.getLogger("torbit.audit")

DEMOTED = "no longer a server admin"  # the kick's reason, as the room and the audit read it
OPERATOR = "the server's operator"  # the audit's actor (core/roomdeletion.py's)

Tell = Callable[[NodeEvent], Awaitable[object]]  # tells every node (NodeEvents.publish)


def through_the_store(store: Store, now: Callable[[], datetime]) -> Tell:
    """How a process that is not a node tells the nodes: the store's feed."""

    async def tell(event: NodeEvent) -> None:
        room = event.room if isinstance(event, Expelled) else ""
        await feed_event(store, event, now(), room)

    return tell


async def leave_rooms_of_the_right(
    store: Store, user: User, now: Callable[[], datetime], tell: Tell
) -> list[str]:
    """End the user's memberships that held by the server-admin right alone (the module
    docstring), the right being already taken away in the store; the keys of the rooms
    left, each told and audited."""
    by_right = set(await store.rooms_joined_by_right(user.key))
    left: list[str] = []
    # and those by right that rooms_of lacks: on Cassandra a node dying between a kick's
    # mirrors and its transaction leaves the membership with no user_rooms member flag,
    # and only its by_right shows it (cass61: she kept a private room past her demotion)
    for room_key in sorted({*await store.rooms_of(user.key), *by_right}):
        room, standing = await store.room_and_standing(room_key, user.key)
        if room is None or standing.server_admin:  # made a server admin again meanwhile
            continue
        if not standing.banned and (
            room_key not in by_right or await _admitted(store, room, standing, user)
        ):
            continue
        # left, kicked meanwhile; or, of a room held by the right, admitted meanwhile (invited)
        if standing.banned:
            removed = await store.remove_member(room_key, user.key)
        else:
            removed = await store.remove_member_by_right(room_key, user.key)
        if not removed:
            continue
        await store.add_audit(
            AuditEntry(
                at=now(),
                actor=OPERATOR,
                action="kick",
                room=room.key,
                target=user.key,
                detail=DEMOTED,
            )
        )
        log.info("audit: %s /kick #%s %s (%s)", OPERATOR, room.key, user.key, DEMOTED)
        await tell(Expelled(room.key, room.name, user.key, user.name, "", "kicked", DEMOTED))
        left.append(room_key)
    return left


async def _admitted(store: Store, room: Room, standing: Standing, user: User) -> bool:
    """Whether the private room would let the user in now, were they not a member."""
    alone = replace(standing, member=False)
    if alone.may_see(room, user.key) or standing.rank(room, user.key) >= Role.ADMIN:
        return True
    anywhere = Visitor(user.name, "*", "*")
    return any(
        m.kind == INVEX and m.mask.endswith("!*@*") and matches(m.mask, anywhere)
        for m in await store.list_exception_masks(room.key)
    )
