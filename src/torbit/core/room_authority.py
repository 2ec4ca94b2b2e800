"""Who may act in a room and on whom, and how an act is recorded: the checks every action of
Moderation (core/moderation.py) and of its ban masks (core/banmask_actions.py) starts with,
the audit entry and app log line it ends with, and the node events that tell every node.
The one place where the command table's roles (core/policy.py) are enforced."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Concatenate, ParamSpec, TypeVar

from torbit.core import policy
from torbit.core.banmasks import RoomMasks
from torbit.core.delivery import NoticeKind
from torbit.core.events import Expelled, NodeEvents, RoomNotice
from torbit.core.limits import ActionLimits
from torbit.core.membership import Membership
from torbit.core.models import AuditEntry, Role, Room, Standing, User
from torbit.core.moderation_limits import clean_kick_reason
from torbit.core.mutes import Mutes
from torbit.core.names import check_name, name_key
from torbit.core.ports import Store
from torbit.core.subscriptions import Subscriptions
from torbit.errors import Forbidden, NotFound

log = logging.getLogger("torbit.audit")

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A", bound="RoomAuthority")
Action = Callable[Concatenate[A, str, str, str, P], Awaitable[T]]
ActorAction = Callable[Concatenate[A, str, str, P], Awaitable[T]]


def _on_the_user(action: Action[A, P, T], *, taking: bool) -> Action[A, P, T]:
    """`action` in turn with a rename of the user `name` and as the actor's act in the room
    (`in_role`); `taking`: it may take the user's rights there away, so it takes theirs too."""

    @functools.wraps(action)
    async def in_turn(
        self: A, actor: str, room_name: str, name: str, /, *args: P.args, **kw: P.kwargs
    ) -> T:
        async with (
            self._membership.rights.shared(name.lower()),
            in_role(self._membership, room_name, actor, name if taking else None),
        ):
            return await action(self, actor, room_name, name, *args, **kw)

    return in_turn


def on_a_user(action: Action[A, P, T]) -> Action[A, P, T]:
    """An action on the user `name` (actor, room, name, ...) takes turns with a rename of that
    user on this node (`Membership.rights`): a guest's rename reads its rights and copies them
    to the new name, and a deop, mute, ban or invitation landing between the two was answered
    done and lost with the old name (the attack pass of stop 51: a deop escaped 12 times in
    12, an invitation 14 in 14). It is the actor's act in the room too (`in_role`)."""
    return _on_the_user(action, taking=False)


def taking_rights(action: Action[A, P, T]) -> Action[A, P, T]:
    """`on_a_user` for an action that may take the user's rights in the room away (a deop, a
    kick, a ban): it waits for the user's own acts there under way (`in_role`), and theirs
    wait for it."""
    return _on_the_user(action, taking=True)


def by_the_actor(action: ActorAction[A, P, T]) -> ActorAction[A, P, T]:
    """An action in a room on no user (a topic, the settings, a ban mask): the actor's act
    there (`in_role`)."""

    @functools.wraps(action)
    async def in_turn(self: A, actor: str, room_name: str, /, *args: P.args, **kw: P.kwargs) -> T:
        async with in_role(self._membership, room_name, actor):
            return await action(self, actor, room_name, *args, **kw)

    return in_turn


def account_turn(user_key: str) -> tuple[str, str]:
    """The key in `Membership.role_turns` of the user's acts in every room: a revocation of
    the account (a demotion, a password changed, a deletion) waits for them on each node
    (Moderation's `_rights_ended`), so that the CLI, waiting for every node to have applied
    it (core/feedmarks.py), answers after them."""
    return ("", user_key)


@contextlib.asynccontextmanager
async def in_role(
    membership: Membership, room_name: str, actor: str, target: str | None = None
) -> AsyncIterator[None]:
    """The actor's turn in the room, taken with others' (`Membership.role_turns`), and the
    target's alone for an action that may take its rights there away: an act of an admin's
    checked (its role read) before a deop, kick or ban of it and written after was answered
    done after the owner was told the rights were gone (attack53: a kick, a ban and a topic
    held at the store while the owner's /deop was answered). Now the deop waits for the
    admin's acts under way, and acts begun after it find the role gone. Taken in one order
    (by key), so two admins acting on each other wait, never for ever. On this node: as
    the other turns, acts on two nodes at once are not ordered. The actor's acts in every
    room take their account's turn together too (`account_turn`), which a node applying a
    revocation of the account (the CLI's demotion) takes alone: its acts under way end first."""
    room = room_name.lower()
    turns = [((room, actor.lower()), target is not None and target.lower() == actor.lower())]
    turns.append((account_turn(actor.lower()), False))  # first: no room's key is empty
    if target is not None and target.lower() != actor.lower():
        turns.append(((room, target.lower()), True))
    async with contextlib.AsyncExitStack() as stack:
        for key, alone in sorted(turns):
            take = membership.role_turns.alone if alone else membership.role_turns.shared
            await stack.enter_async_context(take(key))
        yield


class RoomAuthority:
    """The state Moderation builds (its __init__) and the checks its parts share."""

    _store: Store
    _membership: Membership
    _limits: ActionLimits
    _subs: Subscriptions
    _events: NodeEvents
    _mutes: Mutes
    _room_masks: RoomMasks
    _now: Callable[[], datetime]
    _tasks: set[asyncio.Task[None]]

    async def authorize(self, actor: str, room_name: str, *actions: str) -> tuple[Room, Role]:
        """The room and the actor's role in it, if that role may do every one of `actions`.
        A private room the actor may not see is "no such room", never "forbidden"."""
        room = await self._membership.room(room_name)
        key = name_key(actor)
        standing = await self._store.standing(room.key, key)
        if not standing.may_see(room, key):
            raise NotFound(f"no such room #{room_name}")
        role = standing.role(room, key)
        if role is Role.ADMIN and room.owner is None and not self._is_default(room):
            role = Role.OWNER  # an ownerless room is run by its admins
        for action in actions:
            try:
                policy.check(role, action, room.name)
            except Forbidden:
                log.info("refused: %s (%s) tried /%s in #%s", actor, role.label, action, room.key)
                raise
        return room, role

    def _moderating(self, actor: str) -> None:
        """Take one of the actor's moderation tokens (kick, ban, mute, op, voice and their undoing:
        each is an audit entry, a node event and a notice to the room), or RateLimited."""
        self._limits.moderation.check(name_key(actor), "kicks, bans, mutes or admin changes")

    def _clean_reason(self, text: str) -> str:
        return clean_kick_reason(text)

    def _is_default(self, room: Room) -> bool:
        return room.key == name_key(self._membership.rules.default_room)

    async def _target(
        self, room: Room, name: str, actor: str, actor_role: Role, action: str, outrank: bool = True
    ) -> tuple[User, Standing]:
        """The user acted upon; one may only act on users of a lower rank than one's own (their
        rank as if not banned: a banned owner still outranks the room's admins), and never on
        oneself."""
        user = await self._user(name)
        standing = await self._store.standing(room.key, user.key)
        if outrank and user.key == name_key(actor):
            raise Forbidden(f"you cannot /{action} yourself")
        if outrank and standing.rank(room, user.key) >= actor_role:
            raise Forbidden(
                f"you cannot /{action} {user.name}: they rank as high as you "
                f"in #{room.name} or higher"
            )
        return user, standing

    async def _audit(
        self, actor: str, action: str, room: Room, target: str | None = None, detail: str = ""
    ) -> None:
        await self._store.add_audit(
            AuditEntry(
                at=self._now(),
                actor=actor,
                action=action,
                room=room.key,
                target=target,
                detail=detail,
            )
        )
        log.info(
            "audit: %s /%s #%s%s%s",
            actor,
            action,
            room.key,
            f" {target}" if target else "",
            f" ({detail})" if detail else "",
        )

    async def _user(self, name: str) -> User:
        user = await self._store.get_user(check_name(name, "user name"))
        if user is None:
            raise NotFound(f"no such user {name!r}")
        return user

    async def _expelled(
        self,
        room: Room,
        user: User,
        actor: str,
        verb: str,
        reason: str = "",
        was_member: bool = True,
    ) -> None:
        await self._events.publish(
            Expelled(room.key, room.name, user.key, user.name, actor, verb, reason, was_member),
            settled=True,
        )

    async def _notice(
        self,
        room: Room,
        text: str,
        kind: NoticeKind = NoticeKind.TEXT,
        user: str = "",
        by: str = "",
        detail: str = "",
    ) -> None:
        """A notice to the room; it names `user` and `by` (display names), so whoever ignores
        either does not see it."""
        about = tuple(dict.fromkeys(name_key(n) for n in (user, by) if n))
        await self._events.publish(
            RoomNotice(room.key, text, kind.value, room.name, user, by, detail, about)
        )
