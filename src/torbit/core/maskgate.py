"""Ban masks on every HTTP request (core/banmasks.py says what a mask is). A session that
listens to a room was matched when it joined, and a new mask puts it out; a client that
reaches a room by single requests (REST reads and sends, the classic `/send` and `/receive`,
a long poll) has no listening to end, and may come from an address a mask matches while its
account stays a member (it was offline, or on another address, when the mask was set). Each
such request is matched here: a match is Forbidden, naming the mask, and a member so matched
is put out as a new mask puts out those listening (a kick naming the mask, by whoever set it,
audited, told to the room; of parallel requests, only the one whose write ended the
membership does so). The room's owner, its admins and server admins are never matched.

The cost where it matters: a room without masks is one dict lookup of the node's cache
(`RoomMasks`, kept exact by `BanMasksChanged`), no store statement."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from torbit.core import access
from torbit.core.banmasks import RoomMasks, Visitor
from torbit.core.events import Expelled, NodeEvents
from torbit.core.models import AuditEntry, Room
from torbit.core.names import name_key
from torbit.core.ports import Store
from torbit.errors import Forbidden

log = logging.getLogger("torbit.audit")


class MaskGate:
    def __init__(
        self, store: Store, masks: RoomMasks, events: NodeEvents, now: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._masks = masks
        self._events = events
        self._now = now

    async def check(self, user: str, room: Room, visitor: Visitor) -> None:
        """Forbidden when the client matches one of the room's masks (unless exempt); a
        member so matched is put out first."""
        compiled = await self._masks.of(room)
        if not compiled.masks:
            return
        mask = compiled.matching(visitor)
        if mask is None:
            return
        user_key = name_key(user)
        standing = await self._store.standing(room.key, user_key)
        if access.mask_exempt(standing, room, user_key):
            return
        if standing.member:
            await self.put_out(room, user_key, user, mask, compiled.setter(mask))
        raise Forbidden(f"you are banned from #{room.name} (banned: {mask})")

    async def put_out(self, room: Room, user_key: str, name: str, mask: str, by: str) -> bool:
        """End the membership for matching `mask`, as a kick by `by`; False if it had already
        ended (another request, node or kick came first: it told the room)."""
        if not await self._store.expel(room.key, user_key):
            return False
        reason = f"banned: {mask}"
        entry = AuditEntry(
            at=self._now(), actor=by, action="kick", room=room.key, target=user_key, detail=reason
        )
        await self._store.add_audit(entry)
        log.info("audit: %s /kick #%s %s (%s)", by, room.key, user_key, reason)
        await self._events.publish(
            Expelled(room.key, room.name, user_key, name, by, "kicked", reason)
        )
        return True
