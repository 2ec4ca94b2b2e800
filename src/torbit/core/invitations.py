"""Invitations, the invitee's side as well as the inviter's: inviting, the list of one's
pending invitations, declining one, and the bound on how many one holds. A mixin of
Moderation; room_authority.py supplies the store, the checks and the audit.

Invitations come from strangers: any user may create a room and invite anyone to it
(`limits.invite_rate` lets one account send ~17,000 a day). So, as Matrix and IRC servers
treat them:

- one from a user the invitee ignores is neither told (the notice names the inviter,
  moderation_notices.py) nor listed; it still admits them to the room. An ignore added later
  hides the ones already there the same way, and unignoring shows them again: an ignore
  hides, it deletes nothing (as with messages);
- the invitee may decline one (`decline`): it is gone, and the inviter is not told, nor
  is the room's audit log written (its admins read it): the server's log says so;
- the list is newest first, so a new invitation is seen whatever the room's name (it was by
  room name, and rooms named `0000…` pushed the real ones out of view);
- a user holds at most `limits.invites_per_user` (`bound`). Past it, one goes to make room:
  first one from a user the invitee ignores, else the oldest of the inviter holding the
  most (of those tied, the one whose oldest is oldest). A stranger with a hundred rooms
  thus pushes out only their own: an invitation from someone holding fewer is dropped only
  when every inviter holds as few, so pushing out a friend's single one takes `bound`
  accounts each holding one. A new invitation itself always stands. The bound is kept by
  trimming after each add, one invitee at a time on a node; adds racing on several nodes
  may each trim what the other added, and then leave fewer than the bound, never more.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from torbit.core.events import Invited
from torbit.core.keylocks import KeyLocks
from torbit.core.models import Invitation
from torbit.core.names import check_name, name_key
from torbit.core.room_authority import RoomAuthority, on_a_user
from torbit.errors import Conflict, Forbidden, NotFound

log = logging.getLogger("torbit.audit")

Ignored = Callable[[str], Awaitable[frozenset[str]]]  # keys of the users one ignores


async def no_ignores(user: str) -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True, slots=True)
class Pending:
    """One pending invitation as its invitee sees it."""

    room: str  # the room's name
    at: datetime
    by: str = ""  # the inviter's name; "" for one made before the inviter was kept


def overflow(pending: list[Invitation], bound: int, ignored: frozenset[str]) -> list[Invitation]:
    """Which invitations to drop so that at most `bound` remain (module docstring's rule)."""
    keep = sorted(pending, key=lambda i: (i.at, i.room_key))  # oldest first
    dropped: list[Invitation] = []
    while len(keep) > bound:
        shunned = [i for i in keep if name_key(i.by) in ignored]
        if shunned:
            victim = shunned[0]
        else:
            held = Counter(name_key(i.by) for i in keep)
            most = max(held.values())
            victim = next(i for i in keep if held[name_key(i.by)] == most)
        keep.remove(victim)
        dropped.append(victim)
    return dropped


class InvitationActions(RoomAuthority):
    """Moderation's invitations: `invite`, `invitations`, `decline`."""

    _ignored: Ignored
    _invites_bound: int  # 0: no bound
    _inviting: KeyLocks  # an invitee's trims, one at a time on this node

    @on_a_user
    async def invite(self, actor: str, room_name: str, name: str) -> str:
        """Let a user join; they are told if online (unless they ignore the actor). The
        invitation lasts until they join or decline it, or it is dropped past the bound;
        inviting again changes nothing and tells no one. The right is checked at each
        invitation: one who lost the room's admin role, still connected, is refused.
        Conflict for a member, unless a server admin in the room by that right alone
        (core/demotion.py): the invitation admits them, audited, told to no one, and the
        membership outlasts a demotion (there is nothing left to join). Nobody invites
        themselves: a server admin did, and kept the room past her demotion."""
        room, role = await self.authorize(actor, room_name, "invite")
        if name_key(name) == name_key(actor):  # a server admin's own, kept past her demotion
            raise Forbidden("you cannot /invite yourself")  # (attack57)
        self._limits.invites.check(name_key(actor), "invitations")
        user, standing = await self._target(room, name, actor, role, "invite", outrank=False)
        if standing.member:
            # a server admin in by the right alone: admitted now, kept past a demotion
            # (not one the room bans: the demotion ends that whatever admitted them)
            if standing.banned or not await self._store.admit_member(room.key, user.key):
                raise Conflict(f"{user.name} is already a member of #{room.name}")
            await self._audit(actor, "invite", room, user.key)
            return user.name
        if standing.banned:
            raise Conflict(f"{user.name} is banned from #{room.name}: /unban first")
        at = self._now()
        if not await self._store.add_invite(
            room.key, user.key, at, actor, room_created=room.created_at
        ):
            return user.name
        if (await self._store.standing(room.key, user.key)).banned:  # banned meanwhile
            await self._store.remove_invite(room.key, user.key)
            raise Conflict(f"{user.name} is banned from #{room.name}: /unban first")
        await self._audit(actor, "invite", room, user.key)
        await self._bound_invitations(user.key)
        await self._events.publish(Invited(room.key, room.name, user.key, actor))
        return user.name

    async def _bound_invitations(self, user_key: str) -> None:
        if not self._invites_bound:
            return
        async with self._inviting.hold(user_key):
            pending = await self._store.invitations(user_key)
            if len(pending) <= self._invites_bound:
                return
            ignored = await self._ignored(user_key)
            for gone in overflow(pending, self._invites_bound, ignored):
                await self._store.remove_invite(gone.room_key, user_key)

    async def invitations(self, user: str, limit: int = 100) -> list[Pending]:
        """The user's own pending invitations, newest first (at most `limit`), leaving out
        those from users they ignore. A read of up to `limits.invites_per_user` rows and a
        room each, paid from the user's read budget as a roster is (ten a message,
        `Membership.grant_roster`): RateLimited when nothing is left. It was free, on every
        door, as often as one asked."""
        key = name_key(user)
        # the most it may read, taken first: invitations asked for in parallel share the budget
        with self._membership.roster_read(user, most=self._invites_bound or limit) as paid:
            ignored = await self._ignored(key)
            shown: list[Pending] = []
            for invitation in await self._store.invitations(key):
                if len(shown) >= limit:
                    break
                paid.names += 1
                if invitation.by and name_key(invitation.by) in ignored:
                    continue
                room = await self._store.get_room(invitation.room_key)
                if room is not None:
                    shown.append(Pending(room.name, invitation.at, invitation.by))
        return shown

    async def decline(self, user: str, room_name: str) -> str:
        """Remove one's own invitation to a room (NotFound if there is none, whether or not
        the room exists, so that a private room's name is not confirmed); the room's name.
        Nobody is told; the room's admins may invite again."""
        key = check_name(room_name, "room name")
        room = await self._store.get_room(key)
        if room is None or not await self._store.remove_invite(room.key, name_key(user)):
            raise NotFound(f"you have no invitation to #{room_name}")
        # the server's log, not the room's audit: the room's admins, the inviter among them,
        # read the audit, and a decline there is a read receipt for a stranger's invitation
        # (this account reads its invitations). Accepting is a join, not audited either.
        log.info("invitation declined: %s to #%s", user, room.name)
        return room.name
