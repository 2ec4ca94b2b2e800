"""What another node did to a guest's old name while this node renamed it (xnode54).

A rename (core/guests.py) copies the old name's memberships, admin rights, bans, mutes and
ignorers to the new name, then frees the old one, taking turns with this node's actions on
either name (`Membership.rights`). Another node's kick, ban, mute, deop or ignore of the old
name takes no turn here: written between the copy's reads and the old name's end, it was
answered done and lost with the old name (a ban on node b, then the renamed guest on node a
joined again and set the topic). Each such event reaching this node about a name it renamed,
or is renaming, is done again to the new name once the rename ended; its publisher's answer,
settled, waits for that (`NodeEvents.defer`).

A room's act is done again in the act's room or nowhere (tidy59): the room's creation is the
one the store holds when the act is done again, no later than the act's event was heard here
(a room made after that is another's), and the write lands in that room only, as every act
does (`room_created`); written by the key alone, it took the old room's mute, ban or deop
into a room deleted and made again meanwhile. When the event was heard is the store's time
as this node tells it (`now`: `StoreClock.now` on a node), not this node's wall clock: one
stepped a day back took every room made within the day for one made after the act, and
carried nothing there (floor59). A room is dated by the clock of the node that made it."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from torbit.core.events import (
    Expelled,
    IgnoreChanged,
    MaskExemptionEnded,
    MuteChanged,
    NodeEvents,
    RolesChanged,
)
from torbit.core.keylocks import SharedTurns
from torbit.core.ports import Store
from torbit.errors import NotFound

log = logging.getLogger(__name__)

Acted = Expelled | MuteChanged | MaskExemptionEnded | IgnoreChanged

KEPT = 1024  # renames remembered (old key -> new), the newest
KEPT_S = 60.0  # and for so long: an event about the old name later than that is not its
HOPS = 8  # renames of renames followed (gus -> gus2 -> gus3 while the event travelled)


class Renames:
    def __init__(
        self,
        store: Store,
        events: NodeEvents,
        rights: SharedTurns,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._events = events
        self._rights = rights
        self._now = now
        self._renaming: dict[str, int] = {}  # old key -> renames of it under way
        # old key -> (new key, new name, when: the loop's clock)
        self._renamed: OrderedDict[str, tuple[str, str, float]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        events.on(Expelled, lambda e: self._heard(e.user, e))
        events.on(MuteChanged, lambda e: self._heard(e.user, e))
        events.on(MaskExemptionEnded, lambda e: self._heard(e.user, e))
        events.on(IgnoreChanged, lambda e: self._heard(e.target, e) if e.on else None)

    def begin(self, old_key: str) -> None:
        """A rename of `old_key` starts here (before it reads what it copies)."""
        self._renaming[old_key] = self._renaming.get(old_key, 0) + 1

    def end(self, old_key: str, new: tuple[str, str] | None) -> None:
        """It ended: `new` (key, name) if the old name went to it."""
        left = self._renaming.pop(old_key, 1) - 1
        if left:
            self._renaming[old_key] = left
        if new is not None:
            self._renamed[old_key] = (*new, asyncio.get_running_loop().time())
            self._renamed.move_to_end(old_key)
            while len(self._renamed) > KEPT:
                self._renamed.popitem(last=False)

    def _new_name(self, old_key: str) -> tuple[str, str] | None:
        renamed = self._renamed.get(old_key)
        if renamed is None or asyncio.get_running_loop().time() - renamed[2] > KEPT_S:
            return None
        return renamed[0], renamed[1]

    def _heard(self, old_key: str, event: Acted) -> None:
        if old_key not in self._renaming and self._new_name(old_key) is None:
            return  # a rename starting later reads what the event's node wrote
        if isinstance(event, MuteChanged) and event.until is None:
            return  # only rights taken away
        heard = self._now()  # the act was done before: its room was made before too
        task = asyncio.get_running_loop().create_task(self._carry(old_key, event, heard))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._events.defer(task)

    async def _carry(self, old_key: str, event: Acted, heard: datetime) -> None:
        async with self._rights.shared(old_key):  # once a rename under way ended
            new = self._new_name(old_key)
        try:
            if new is None or await self._store.get_user(old_key) is not None:
                return  # not renamed, or the name is someone's again: the event is theirs
            seen = {old_key}
            for _ in range(HOPS):  # to the name it has now, once its renames under way ended
                key, name = new
                seen.add(key)
                async with self._rights.shared(key):
                    new = self._new_name(key)
                    if new is None or new[0] in seen:
                        await self._redo(event, key, name, heard)
                        return
        except NotFound as e:  # the act's room deleted, or the new name gone, meanwhile
            log.info("%s of %s not done again to its new name: %s", event.TYPE, old_key, e)
        except Exception:  # the store down: logged, as a put-out that failed
            log.exception("doing %s of %s again to its new name", event.TYPE, old_key)

    async def _redo(self, event: Acted, key: str, name: str, heard: datetime) -> None:
        if isinstance(event, IgnoreChanged):  # whoever ignored the old name: no room's
            if await self._store.add_ignore(event.user, key):
                await self._events.publish(IgnoreChanged(event.user, key, True))
            return
        room = await self._store.get_room(event.room)
        if room is None or room.created_at > heard:  # made after the act: not its room
            raise NotFound(f"no room {event.room!r} (it was deleted meanwhile)")
        made = room.created_at  # each write lands in this room or nowhere (NotFound)
        if isinstance(event, Expelled):
            banned_at = self._now() if event.verb == "banned" else None
            if await self._store.expel(event.room, key, banned_at=banned_at, room_created=made):
                await self._events.publish(
                    Expelled(event.room, event.room_name, key, name, event.by, event.verb,
                             event.reason)
                )  # fmt: skip
        elif isinstance(event, MuteChanged):
            assert event.until is not None
            until = datetime.fromisoformat(event.until)
            await self._store.set_mute(event.room, key, until, room_created=made)
            await self._events.publish(
                MuteChanged(event.room, event.room_name, key, name, event.by, event.until,
                            event.minutes)
            )  # fmt: skip
        elif await self._store.set_room_admin(event.room, key, False, room_created=made):
            await self._events.publish(RolesChanged(event.room))
            await self._events.publish(MaskExemptionEnded(event.room, key, event.by))
