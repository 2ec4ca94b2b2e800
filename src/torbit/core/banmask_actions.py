"""The ban masks part of Moderation (core/banmasks.py says what a mask is and matches): setting,
listing and lifting a room's masks and ban exceptions, and putting out the members listening
on this node that a new mask, or a lifted exception, bars. A mixin, so that moderation.py stays
about the actions on one user; room_authority.py supplies the store, the node events, the
subscriptions and the checks."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from torbit.core import access, policy
from torbit.core.banmasks import (
    EXCEPT,
    INVEX,
    MAX_BAN_MASKS,
    Visitor,
    check_new_mask,
    compile_mask,
    parse_mask,
    takes_name,
)
from torbit.core.delivery import NoticeKind, Session
from torbit.core.events import BanMasksChanged, Expelled, MaskExemptionEnded
from torbit.core.models import BanMask, Role, Room
from torbit.core.names import name_key
from torbit.core.room_authority import RoomAuthority, by_the_actor
from torbit.core.wakeup import Wakeup
from torbit.errors import Forbidden, ListFull, NotFound

log = logging.getLogger("torbit.audit")


# each exception list: the actions (policy.py, the audit) that set and lift one, the list's
# name, and the notices telling the room
_LISTS = {
    EXCEPT: (
        "except",
        "unexcept",
        "exception list",
        NoticeKind.EXCEPT_MASK,
        NoticeKind.UNEXCEPT_MASK,
    ),
    INVEX: (
        "invex",
        "uninvex",
        "invite exception list",
        NoticeKind.INVEX_MASK,
        NoticeKind.UNINVEX_MASK,
    ),
}


class BanMaskActions(RoomAuthority):
    """Moderation's ban masks; the checks, the audit and the notices are RoomAuthority's."""

    @by_the_actor
    async def ban_mask(self, actor: str, room_name: str, mask: str, reason: str = "") -> str:
        """Add a mask to the room's ban list (at most MAX_BAN_MASKS; ListFull past it): no
        client matching it joins, and the matching members listening to the room now, on
        every node, are put out (a kick, naming the mask). Setting a mask already there
        changes nothing and tells no one. The mask as stored (canonical)."""
        canonical = parse_mask(mask) or parse_mask(f"{mask}!*@*")
        assert canonical is not None
        check_new_mask(canonical)
        room, _ = await self.authorize(actor, room_name, "ban")
        self._moderating(actor)
        reason = self._clean_reason(reason)
        entry = BanMask(canonical, actor, self._now())
        try:
            if not await self._store.add_ban_mask(room.key, entry, MAX_BAN_MASKS):
                return canonical
        except ListFull:
            # a store may take back a mask other nodes read for a moment (Cassandra: adds
            # racing for the last place): every node drops its copy of the room's list
            await self._events.publish(
                BanMasksChanged(room.key, room.name, canonical, actor, False)
            )
            raise
        await self._audit(actor, "ban", room, detail=f"{canonical} {reason}".strip())
        # answered once every node put out the members it bars listening there
        await self._events.publish(
            BanMasksChanged(room.key, room.name, canonical, actor, True), settled=True
        )
        text = f"{actor} banned {canonical} from #{room.name}" + (f" ({reason})" if reason else "")
        await self._notice(room, text, NoticeKind.BAN_MASK, by=actor, detail=canonical)
        return canonical

    async def ban_masks(self, actor: str, room_name: str) -> list[BanMask]:
        """The room's ban masks with who set them and when, for its members."""
        room, _ = await self.authorize(actor, room_name, "bans")
        return await self._store.list_ban_masks(room.key)

    @by_the_actor
    async def unban_mask(self, actor: str, room_name: str, mask: str) -> str:
        """Lift a ban mask (a plain name is taken as `name!*@*`); NotFound if the room's list
        does not hold it."""
        canonical = parse_mask(mask) or parse_mask(f"{mask}!*@*")
        assert canonical is not None
        room, _ = await self.authorize(actor, room_name, "unban")
        return await self._unban_mask(actor, room, canonical)

    async def _unban_mask(self, actor: str, room: Room, mask: str) -> str:
        self._moderating(actor)
        if not await self._store.remove_ban_mask(room.key, mask):
            raise NotFound(f"{mask} is not on the ban list of #{room.name}")
        await self._audit(actor, "unban", room, detail=mask)
        await self._events.publish(BanMasksChanged(room.key, room.name, mask, actor, False))
        text = f"{actor} lifted the ban on {mask} in #{room.name}"
        await self._notice(room, text, NoticeKind.UNBAN_MASK, by=actor, detail=mask)
        return mask

    @by_the_actor
    async def except_mask(self, actor: str, room_name: str, mask: str, kind: str = EXCEPT) -> str:
        """Add a ban exception (`kind` "e": no ban mask bars a client matching it) or an
        invite exception ("I": a client matching it may join the room while it is private).
        A plain name is `name!*@*`; at most MAX_BAN_MASKS of each kind, ListFull past it.
        Setting one already there changes nothing and tells no one. The mask as stored
        (canonical). A server admin acting by the right alone may not except herself
        (`_not_herself`)."""
        canonical = parse_mask(mask) or parse_mask(f"{mask}!*@*")
        assert canonical is not None
        check_new_mask(canonical)
        on, _, listed, told, _ = _LISTS[kind]
        room, role = await self.authorize(actor, room_name, on)
        if role is Role.SERVER_ADMIN and takes_name(canonical, actor):
            await self._not_herself(actor, room, canonical, on, listed)
        self._moderating(actor)
        entry = BanMask(canonical, actor, self._now(), kind)
        try:
            if not await self._store.add_exception_mask(room.key, entry, MAX_BAN_MASKS):
                return canonical
        except ListFull:  # taken back, maybe read meanwhile (as ban_mask's): dropped everywhere
            await self._events.publish(
                BanMasksChanged(room.key, room.name, canonical, actor, False, kind)
            )
            raise
        await self._audit(actor, on, room, detail=canonical)
        await self._events.publish(
            BanMasksChanged(room.key, room.name, canonical, actor, True, kind)
        )
        text = f"{actor} put {canonical} on the {listed} of #{room.name}"
        await self._notice(room, text, told, by=actor, detail=canonical)
        return canonical

    async def _not_herself(self, actor: str, room: Room, mask: str, on: str, listed: str) -> None:
        """Forbidden when the actor, a server admin, may set the mask only by that right (not
        the room's owner, nor one of its admins) and it could take her (`takes_name`): an
        exception naming her account kept her in a private room past her demotion, as the
        room's own choice does (core/demotion.py), and one on her address, or on any nick,
        let her join it after. Nobody invites themselves (core/invitations.py), nor excepts
        themselves by the right alone; masks of others stay hers to set."""
        standing = await self._store.standing(room.key, name_key(actor))
        if replace(standing, server_admin=False).role(room, name_key(actor)) >= policy.needed(on):
            return
        raise Forbidden(  # (selfexcept57)
            f"you cannot put yourself on the {listed} of #{room.name} ({mask} takes "
            f"{actor}): only its owner and room admins may"
        )

    async def exception_masks(
        self, actor: str, room_name: str, kind: str = EXCEPT, visitor: Visitor | None = None
    ) -> list[BanMask]:
        """The room's exceptions of `kind` with who set them and when, for its members; with
        a `visitor`, not for one the room's masks bar (the way round them is no secret to
        keep from its members, but it is from those it bars: core/maskgate.py)."""
        room, _ = await self.authorize(actor, room_name, "bans")
        if visitor is not None:
            await self._membership.check_visitor(actor, room, visitor)
        listed = await self._store.list_exception_masks(room.key)
        return [m for m in listed if m.kind == kind]

    @by_the_actor
    async def unexcept_mask(self, actor: str, room_name: str, mask: str, kind: str = EXCEPT) -> str:
        """Lift an exception of `kind`; NotFound if the room's list does not hold it. The
        members listening that a ban mask bars once a ban exception is lifted are put out."""
        canonical = parse_mask(mask) or parse_mask(f"{mask}!*@*")
        assert canonical is not None
        _, off, listed, _, told = _LISTS[kind]
        room, _ = await self.authorize(actor, room_name, off)
        self._moderating(actor)
        if not await self._store.remove_exception_mask(room.key, kind, canonical):
            raise NotFound(f"{canonical} is not on the {listed} of #{room.name}")
        await self._audit(actor, off, room, detail=canonical)
        await self._events.publish(
            BanMasksChanged(room.key, room.name, canonical, actor, False, kind),
            settled=kind == EXCEPT,  # members it let stay may be put out now
        )
        text = f"{actor} took {canonical} off the {listed} of #{room.name}"
        await self._notice(room, text, told, by=actor, detail=canonical)
        return canonical

    async def _registered(self, name: str) -> bool:
        user = await self._store.get_user(name_key(name))
        return user is not None and not user.is_guest

    def _on_ban_mask(self, event: BanMasksChanged) -> None:
        """A new mask, or a lifted exception, puts out the members it now bars whose sessions
        listen on this node: only this node knows their addresses. Of nodes racing to put
        one user out, the one whose write ended the membership tells the room (`Expelled`).
        A parked long poll it bars is woken to read again: its read is refused and puts its
        member out (core/maskgate.py), as a revocation ends it. A new mask's matches are
        known here at once; a lifted exception's once the room's masks are read again."""
        if not (event.on and event.kind == "b") and not (not event.on and event.kind == EXCEPT):
            return
        pattern = compile_mask(event.mask) if event.on else None
        candidates: list[tuple[Session, Visitor]] = []
        for session in self._subs.listeners(event.room):
            visitor: Visitor | None = getattr(session, "visitor", None)
            if visitor is None or (pattern is not None and not pattern.matches(visitor)):
                continue
            if isinstance(session, Wakeup) and pattern is not None:
                session.close("banned")
            elif isinstance(session, Wakeup) or session.user_key:
                candidates.append((session, visitor))
        if candidates:
            task = asyncio.get_running_loop().create_task(self._put_out(event, candidates))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._events.defer(task)  # applied here once they are out (a settled answer)

    async def _put_out(
        self, event: BanMasksChanged, candidates: list[tuple[Session, Visitor]]
    ) -> None:
        """Put out those of the candidates the room's masks, as read now, bar: not excepted,
        and (a lifted exception) matching a ban mask."""
        room = await self._store.get_room(event.room)
        if room is None:
            return
        compiled = await self._room_masks.of(room)
        matched: dict[str, tuple[str, str]] = {}
        for session, visitor in candidates:
            mask = event.mask if event.on else compiled.matching(visitor)
            if mask is None or compiled.excepted(visitor):
                continue
            if isinstance(session, Wakeup):
                session.close("banned")
            else:
                matched.setdefault(session.user_key, (visitor.nick, mask))
        for user_key, (name, mask) in matched.items():
            try:
                standing = await self._store.standing(room.key, user_key)
                if access.mask_exempt(standing, room, user_key) or not standing.member:
                    continue
                if await self._store.expel(room.key, user_key):
                    reason = f"banned: {mask}"
                    await self._audit(event.by, "kick", room, user_key, reason)
                    await self._events.publish(
                        Expelled(room.key, room.name, user_key, name, event.by, "kicked", reason)
                    )
            except Exception:  # one user's failure (the store down) leaves the others to do
                log.exception("putting %s out of #%s for %s", user_key, room.key, mask)

    async def _exemption_ended(self, room: Room, user_key: str, by: str) -> None:
        """The user is no longer one of the room's admins (deopped, or stepped down): their
        sessions listening there were let stay by the masks they match, and are matched
        again on every node (`_on_exemption_ended`); answered once each node did, as a new
        mask is."""
        await self._events.publish(MaskExemptionEnded(room.key, user_key, by), settled=True)

    def _on_exemption_ended(self, event: MaskExemptionEnded) -> None:
        """The user's sessions listening to the room on this node, matched against its masks
        as at a join: a match puts the member out, once (core/maskgate.py). A parked long
        poll needs nothing: each of its reads is matched."""
        visitors: list[Visitor] = [
            visitor
            for session in self._subs.listeners(event.room)
            if session.user_key == event.user and not isinstance(session, Wakeup)
            if (visitor := getattr(session, "visitor", None)) is not None
        ]
        if visitors:
            task = asyncio.get_running_loop().create_task(self._match_again(event, visitors))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._events.defer(task)

    async def _match_again(self, event: MaskExemptionEnded, visitors: list[Visitor]) -> None:
        room = await self._store.get_room(event.room)
        if room is None:
            return
        for visitor in visitors:
            try:
                await self._membership.check_visitor(visitor.nick, room, visitor)
            except Forbidden:
                return  # put out (a kick naming the mask), or out already
            except Exception:  # the store down: the next read or join matches again
                log.exception("matching %s against the masks of #%s", event.user, room.key)
                return
