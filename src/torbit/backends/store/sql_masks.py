"""The ban and exception masks of SqlStore's rooms (torbit.core.ports.Store): lists bounded
per room, whose adds take turns on the room's row so that parallel adds cannot pass the
bound. A part, so that sql_rooms.py stays about rooms and who is who in them."""

from __future__ import annotations

from sqlalchemy import Table, and_, delete, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import Executable

from torbit.backends.store.schema import room_ban_masks, room_exception_masks, rooms
from torbit.backends.store.sql_connections import SqlConnections
from torbit.backends.store.sql_text import BAN_MASKS, EXCEPTION_MASKS
from torbit.core.models import BanMask
from torbit.errors import ListFull, NotFound


class RoomMasksSql(SqlConnections):
    """On SqlStore's connections (sql_connections.py)."""

    async def add_ban_mask(self, room_key: str, entry: BanMask, limit: int) -> bool:
        """The count and the insert take turns per room: the room's row is locked first (on
        PostgreSQL, where read committed let parallel adds each count the list before the
        others' inserts and pass `limit`; SQLite's writes take turns anyway). The lock lets
        rows naming the room (members, messages) be written meanwhile."""
        return await self._add_mask(room_ban_masks, {"room_key": room_key}, entry, limit, "ban")

    async def list_ban_masks(self, room_key: str) -> list[BanMask]:
        def query() -> Executable:
            return (
                select(room_ban_masks.c.mask, room_ban_masks.c.set_by, room_ban_masks.c.set_at)
                .where(room_ban_masks.c.room_key == room_key)
                .order_by(room_ban_masks.c.mask)
            )

        rows = await self.fetch(query, BAN_MASKS, room_key)  # a join's: on the loop's thread
        return [BanMask(str(m), str(by), at) for m, by, at in rows]

    async def remove_ban_mask(self, room_key: str, mask: str) -> bool:
        return await self._changed(
            delete(room_ban_masks).where(
                room_ban_masks.c.room_key == room_key, room_ban_masks.c.mask == mask
            )
        )

    async def add_exception_mask(self, room_key: str, entry: BanMask, limit: int) -> bool:
        """As add_ban_mask: the count and the insert take turns on the room's row (on
        PostgreSQL parallel adds each counted the list before the others' inserts)."""
        keys = {"room_key": room_key, "kind": entry.kind}
        return await self._add_mask(room_exception_masks, keys, entry, limit, "exception")

    async def _add_mask(
        self, t: Table, keys: dict[str, str], entry: BanMask, limit: int, what: str
    ) -> bool:
        """The add of add_ban_mask and add_exception_mask, to the list of `t` that `keys`
        (room_key first) pick: the room's row locked, counted, inserted."""
        room_key = keys["room_key"]
        listed = and_(*(t.c[column] == value for column, value in keys.items()))
        try:
            async with self._write() as conn:
                lock = select(rooms.c.key).where(rooms.c.key == room_key)
                lock = lock.with_for_update(key_share=True)  # FOR NO KEY UPDATE: joins go on
                if (await conn.execute(lock)).first() is None:
                    raise NotFound(f"no room {room_key!r}")
                if (await conn.execute(select(func.count()).where(listed))).scalar_one() >= limit:
                    there = select(t.c.mask).where(listed, t.c.mask == entry.mask)
                    if (await conn.execute(there)).first() is not None:
                        return False
                    raise ListFull(f"the {what} list is full ({limit} masks)")
                values = {**keys, "mask": entry.mask, "set_by": entry.set_by}
                result = await conn.execute(
                    self.dialect.insert(t)
                    .values(**values, set_at=entry.set_at)
                    .on_conflict_do_nothing()
                )
        except sa_exc.IntegrityError:
            raise NotFound(f"no room {room_key!r}") from None
        return bool(result.rowcount > 0)

    async def list_exception_masks(self, room_key: str) -> list[BanMask]:
        t = room_exception_masks

        def query() -> Executable:
            return (
                select(t.c.mask, t.c.set_by, t.c.set_at, t.c.kind)
                .where(t.c.room_key == room_key)
                .order_by(t.c.kind, t.c.mask)
            )

        rows = await self.fetch(query, EXCEPTION_MASKS, room_key)  # as BAN_MASKS: a join's
        return [BanMask(str(m), str(by), at, str(kind)) for m, by, at, kind in rows]

    async def remove_exception_mask(self, room_key: str, kind: str, mask: str) -> bool:
        t = room_exception_masks
        return await self._changed(
            delete(t).where(t.c.room_key == room_key, t.c.kind == kind, t.c.mask == mask)
        )

    async def remove_masks_naming(self, user_key: str) -> list[str]:
        t = room_exception_masks
        async with self._write() as conn:
            result = await conn.execute(
                delete(t).where(t.c.mask == f"{user_key}!*@*").returning(t.c.room_key)
            )
            return sorted(set(result.scalars()))
