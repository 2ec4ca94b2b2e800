"""The ban and exception masks of CassandraStore's rooms (torbit.core.ports.Store): lists
bounded per room on every node, which a compare-and-set alone cannot bound, so each add is
counted again with itself in and taken back past the bound. A mixin, so that
cassandra_rooms.py stays about rooms and who is who in them."""

from __future__ import annotations

import asyncio

from torbit.backends.store.cassandra_cql import Cql, from_us, to_us
from torbit.backends.store.cassandra_fences import room_stays
from torbit.core.keylocks import KeyLocks
from torbit.core.models import BanMask
from torbit.errors import ListFull, NotFound


class RoomMasksCql:
    """Needs `cql`, `ks` (the keyspace) and `ban_lists` from CassandraStore."""

    cql: Cql
    ks: str
    ban_lists: KeyLocks  # adds to a room's ban list take turns on this node

    # ban masks: room_ban_masks, one partition per room (at most `limit` rows, on all nodes)

    async def add_ban_mask(self, room_key: str, entry: BanMask, limit: int) -> bool:
        """Adds on this node take turns (per room). The count is a read before the insert:
        nodes adding at once each counted before the others' inserts, so the list is counted
        again with ours in, and past `limit` we take ours back (ListFull). The mask inserted
        last of those kept saw them all, so the list never stays past the limit (two adds
        racing for the last place may both be refused, never both kept)."""
        return await self._add_mask("room_ban_masks", {"room_key": room_key}, entry, limit, "ban")

    async def list_ban_masks(self, room_key: str) -> list[BanMask]:
        """In mask order (the table's clustering order)."""
        rows = await self.cql.rows(
            f"SELECT mask, set_by, set_at FROM {self.ks}.room_ban_masks WHERE room_key = ?",
            room_key,
        )
        return [BanMask(str(r["mask"]), str(r["set_by"]), from_us(r["set_at"])) for r in rows]

    async def remove_ban_mask(self, room_key: str, mask: str) -> bool:
        applied, _ = await self.cql.lwt(
            f"DELETE FROM {self.ks}.room_ban_masks WHERE room_key = ? AND mask = ? IF EXISTS",
            room_key,
            mask,
        )
        return applied

    # exception masks: room_exception_masks, one partition per room, clustered by kind

    async def add_exception_mask(self, room_key: str, entry: BanMask, limit: int) -> bool:
        """As add_ban_mask: adds on this node take turns (per room, with its ban masks'),
        and the list of `entry.kind` is counted again with ours in; past `limit` ours is
        taken back (ListFull), so adds racing on several nodes never leave it past the
        limit (two racing for the last place may both be refused)."""
        keys = {"room_key": room_key, "kind": entry.kind}
        return await self._add_mask("room_exception_masks", keys, entry, limit, "exception")

    async def _add_mask(
        self, table: str, keys: dict[str, str], entry: BanMask, limit: int, what: str
    ) -> bool:
        """The add of add_ban_mask and add_exception_mask, to the list of `table` whose
        partition and kind are `keys` (room_key first): checked, inserted, counted again
        and taken back past `limit`."""
        room_key, k, at = keys["room_key"], self.ks, to_us(entry.set_at)
        where = " AND ".join(f"{column} = ?" for column in keys)
        async with self.ban_lists.hold(room_key):
            room, held = await asyncio.gather(
                self.cql.one(f"SELECT key FROM {k}.rooms WHERE key = ?", room_key),
                self.cql.rows(f"SELECT mask FROM {k}.{table} WHERE {where}", *keys.values()),
            )
            if room is None:
                raise NotFound(f"no room {room_key!r}")
            if any(r["mask"] == entry.mask for r in held):
                return False
            if len(held) >= limit:
                raise ListFull(f"the {what} list is full ({limit} masks)")
            columns = [*keys, "mask", "set_by", "set_at"]
            applied, _ = await self.cql.lwt(
                f"INSERT INTO {k}.{table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)}) IF NOT EXISTS",
                *keys.values(),
                entry.mask,
                entry.set_by,
                at,
            )
            if not applied:
                return False
            if not await room_stays(self.cql, k, room_key):  # deleted meanwhile: see fences
                await self.cql.run(
                    f"DELETE FROM {k}.{table} WHERE {where} AND mask = ?",
                    *keys.values(),
                    entry.mask,
                )
                raise NotFound(f"no room {room_key!r}")
            count = await self.cql.one(
                f"SELECT COUNT(*) AS n FROM {k}.{table} WHERE {where}", *keys.values()
            )
            if int((count or {}).get("n") or 0) > limit:
                await self.cql.lwt(
                    f"DELETE FROM {k}.{table} WHERE {where} AND mask = ? "
                    f"IF set_by = ? AND set_at = ?",
                    *keys.values(),
                    entry.mask,
                    entry.set_by,
                    at,
                )
                raise ListFull(f"the {what} list is full ({limit} masks)")
            return True

    async def list_exception_masks(self, room_key: str) -> list[BanMask]:
        """By kind, then mask (the table's clustering order)."""
        rows = await self.cql.rows(
            f"SELECT kind, mask, set_by, set_at FROM {self.ks}.room_exception_masks "
            "WHERE room_key = ?",
            room_key,
        )
        return [
            BanMask(str(r["mask"]), str(r["set_by"]), from_us(r["set_at"]), str(r["kind"]))
            for r in rows
        ]

    async def remove_exception_mask(self, room_key: str, kind: str, mask: str) -> bool:
        applied, _ = await self.cql.lwt(
            f"DELETE FROM {self.ks}.room_exception_masks WHERE room_key = ? AND kind = ? "
            "AND mask = ? IF EXISTS",
            room_key,
            kind,
            mask,
        )
        return applied
