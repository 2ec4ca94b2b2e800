"""The room catalogue of CassandraStore (torbit.core.ports.Store): rooms a page at a time, the
rooms a user owns, empty rooms, and deleting rooms with everything that hangs off them. A mixin.

How this reads Cassandra, and what it costs:

- Pages of rooms come from room_index, one partition holding every room key in key order, so
  `key > after LIMIT n` is a slice of one partition, never a scan of the rooms table (whose
  partitions are in token order, not key order). The price: that partition takes every room
  creation and deletion (rare next to messages) and grows by a few dozen bytes a room, well
  within a partition's comfortable size for the millions of rooms a chat server can have.
  Each listed room is then read by key, with its member count from its own room_users
  partition, at most 64 at a time.
- empty_rooms walks room_index from `after` in pages, and counts the members of each room
  old enough: work proportional to the rooms passed over. It belongs to the retention sweep,
  which runs now and then and goes on from where it stopped, off every request's path.
- Deleting a room cannot be one transaction across its partitions. A join racing the
  deletion is fenced instead: the deleter first sets the room's `closing` flag (a
  lightweight transaction, with a TTL so a deleter that dies frees it), then reads the
  members; a joiner writes its membership, then reads the flag. With reads and writes at a
  quorum level (LOCAL_QUORUM, QUORUM, or ONE on one replica) one of the two always sees the
  other's write: the deleter gives up if it sees a member, the joiner waits for the outcome
  if it sees the flag, and takes its membership back if the room went. (At ONE with several
  replicas both may miss: a join may then outlive its room as a stray row.) Every other
  write of a user's standing in the room, and a mask, is fenced so (cassandra_fences.py).
- A read cursor is a row of its user's partition: the room's cursors are found through
  room_users, whose `joined` flag stays after a member leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import TypeVar

from torbit.backends.store.cassandra_claims import SkeletonClaims
from torbit.backends.store.cassandra_cql import Cql, Params, Row, to_us
from torbit.backends.store.cassandra_fences import CLOSING_TTL_S, clear_generation
from torbit.backends.store.cassandra_room_rows import ROOM_COLUMNS, room_of
from torbit.core.identity import room_skeleton
from torbit.core.models import Room

T = TypeVar("T")

SCAN_PAGE = 200  # room keys read from room_index at a time


class RoomCatalogCql:
    """Needs `cql` and `ks` (the keyspace) from CassandraStore."""

    cql: Cql
    ks: str
    claims: SkeletonClaims

    # listings

    async def _index_page(self, after: str | None, limit: int) -> list[str]:
        if after is None:
            rows = await self.cql.rows(
                f"SELECT key FROM {self.ks}.room_index WHERE bucket = 0 LIMIT ?", limit
            )
        else:
            rows = await self.cql.rows(
                f"SELECT key FROM {self.ks}.room_index WHERE bucket = 0 AND key > ? LIMIT ?",
                after,
                limit,
            )
        return [str(r["key"]) for r in rows]

    async def _room_rows(self, keys: list[str]) -> list[Row | None]:
        return await gather_bounded(
            self.cql.one(
                f"SELECT {ROOM_COLUMNS} FROM {self.ks}.rooms WHERE key = ?",
                key,
            )
            for key in keys
        )

    async def _member_counts(self, keys: list[str]) -> list[int]:
        """COUNT of a column counts the rows where it is set: the members."""
        rows = await gather_bounded(
            self.cql.one(
                f"SELECT COUNT(member) AS n FROM {self.ks}.room_users WHERE room_key = ?", key
            )
            for key in keys
        )
        return [int((r or {}).get("n") or 0) for r in rows]

    async def list_rooms(
        self, *, after: str | None = None, limit: int | None = None
    ) -> list[tuple[Room, int]]:
        out: list[tuple[Room, int]] = []
        while limit is None or len(out) < limit:
            want = SCAN_PAGE if limit is None else min(SCAN_PAGE, limit - len(out))
            keys = await self._index_page(after, want)
            rows = await self._room_rows(keys)
            found = [(k, r) for k, r in zip(keys, rows, strict=True) if r is not None]
            counts = await self._member_counts([k for k, _ in found])
            out += [(room_of(r), n) for (_, r), n in zip(found, counts, strict=True)]
            if len(keys) < want:
                break
            after = keys[-1]
        return out

    async def rooms_with_counts(self, keys: list[str]) -> list[tuple[Room, int]]:
        wanted = sorted(set(keys))
        rows = await self._room_rows(wanted)
        found = [(k, r) for k, r in zip(wanted, rows, strict=True) if r is not None]
        counts = await self._member_counts([k for k, _ in found])
        return [(room_of(r), n) for (_, r), n in zip(found, counts, strict=True)]

    async def remove_masks_naming(self, user_key: str) -> list[str]:
        """A scan of room_exception_masks (ALLOW FILTERING: no index names an account's
        masks; an account's deletion is rare, and the table holds at most 200 rows a room,
        of the rooms that set any), each found row lifted as `remove_exception_mask` does."""
        mask = f"{user_key}!*@*"
        rows = await self.cql.rows(
            f"SELECT room_key, kind FROM {self.ks}.room_exception_masks WHERE mask = ? "
            "ALLOW FILTERING",
            mask,
        )
        lifted: set[str] = set()
        for row in rows:
            applied, _ = await self.cql.lwt(
                f"DELETE FROM {self.ks}.room_exception_masks WHERE room_key = ? AND kind = ? "
                "AND mask = ? IF EXISTS",
                row["room_key"],
                row["kind"],
                mask,
            )
            if applied:
                lifted.add(str(row["room_key"]))
        return sorted(lifted)

    async def owned_rooms(self, user_key: str) -> list[str]:
        """Through rooms_by_owner, each checked against its rooms row (it may name a room
        that another owner won the creation of, or one deleted since)."""
        rows = await self.cql.rows(
            f"SELECT room_key FROM {self.ks}.rooms_by_owner WHERE owner_key = ?", user_key
        )
        keys = [str(r["room_key"]) for r in rows]
        rooms = await self._room_rows(keys)
        return [
            k
            for k, room in zip(keys, rooms, strict=True)
            if room is not None and room["owner"] is not None and room["owner"].lower() == user_key
        ]

    async def empty_rooms(
        self, created_before: datetime, *, after: str | None = None, limit: int = 100
    ) -> list[str]:
        cutoff = to_us(created_before)
        out: list[str] = []
        while len(out) < limit:
            keys = await self._index_page(after, SCAN_PAGE)
            rows = await self._room_rows(keys)
            old = [
                k
                for k, r in zip(keys, rows, strict=True)
                if r is not None and int(r["created_at"]) < cutoff
            ]
            counts = await self._member_counts(old)
            out += [k for k, n in zip(old, counts, strict=True) if n == 0]
            if len(keys) < SCAN_PAGE:
                break
            after = keys[-1]
        return out[:limit]

    # deletion

    async def delete_room(self, key: str, created_at: datetime | None = None) -> bool:
        room = await self._close(key, created_at)
        if room is None:
            return False
        await self._delete_closed(key, room)
        return True

    async def delete_room_if_empty(self, key: str) -> bool:
        room = await self._close(key)
        if room is None:
            return False
        if (await self._member_counts([key]))[0]:
            await self.cql.lwt(
                f"UPDATE {self.ks}.rooms SET closing = null WHERE key = ? IF EXISTS", key
            )
            return False
        await self._delete_closed(key, room)
        return True

    async def _delete_closed(self, key: str, room: Row) -> None:
        """What hangs off the room, then its row, then its skeleton's claim."""
        name = str(room["name"] or key)
        await self.cql.batches(await self._room_deletion(key, room["owner"], name, room))
        await self.cql.lwt(f"DELETE FROM {self.ks}.rooms WHERE key = ? IF EXISTS", key)
        await self._release_room(key, name)

    async def _release_room(self, key: str, name: str) -> None:
        """After the rooms row went: the skeleton's claim, if this room held it, goes to a
        look-alike still there (one stored before the rule, or made with `unlike=False`),
        else is freed."""
        skel = room_skeleton(name)
        claim = await self.cql.one(
            f"SELECT key FROM {self.ks}.skeleton_claims WHERE kind = 'room' AND skeleton = ?",
            skel,
        )
        if claim is None or claim["key"] != key:
            return
        rows = await self.cql.rows(
            f"SELECT key FROM {self.ks}.rooms_by_skeleton WHERE skeleton = ?", skel
        )
        others = [str(r["key"]) for r in rows if r["key"] != key]
        named = await self._room_rows(others)
        heirs = [
            k for k, r in zip(others, named, strict=True) if r and room_skeleton(r["name"]) == skel
        ]
        await self.claims.release("room", skel, key, heirs[0] if heirs else None)

    async def _close(self, key: str, created_at: datetime | None = None) -> Row | None:
        """Raise the room's closing flag; the room's owner and name as stored, or None if
        the room is unknown (or, with `created_at`, is another room made again under the
        key: the condition is checked in the same lightweight transaction)."""
        if created_at is None:
            applied, _ = await self.cql.lwt(
                f"UPDATE {self.ks}.rooms USING TTL {CLOSING_TTL_S} SET closing = true "
                f"WHERE key = ? IF EXISTS",
                key,
            )
        else:
            applied, _ = await self.cql.lwt(
                f"UPDATE {self.ks}.rooms USING TTL {CLOSING_TTL_S} SET closing = true "
                f"WHERE key = ? IF created_at = ?",
                key,
                to_us(created_at),
            )
        if not applied:
            return None
        found = await self.cql.one(
            f"SELECT owner, name, created_at FROM {self.ks}.rooms WHERE key = ?", key
        )
        return found or {"owner": None, "name": key, "created_at": None}

    async def _room_deletion(
        self, room_key: str, owner: str | None, name: str, closed: Row
    ) -> list[tuple[str, Params]]:
        """The writes that remove a room's rows but the rooms row itself: everyone's standing
        there (both sides), roles, mutes, index rows (its skeleton's among them: `name` is
        the room's as stored), and the read cursors of all who ever joined. `closed` is
        `_close`'s row: the room's generation is cleared before its members are read, so an
        act for it either is read here or does not apply (cassandra_room_acts.py)."""
        k = self.ks
        await clear_generation(self.cql, k, room_key, closed.get("created_at"))
        found = await self.cql.rows(
            f"SELECT user_key FROM {k}.room_users WHERE room_key = ?", room_key
        )
        people = [p for p in found if p["user_key"] is not None]  # not the static row
        writes: list[tuple[str, Params]] = [
            (f"DELETE FROM {k}.room_roles WHERE room_key = ?", (room_key,)),
            (f"DELETE FROM {k}.room_ban_masks WHERE room_key = ?", (room_key,)),
            (f"DELETE FROM {k}.room_exception_masks WHERE room_key = ?", (room_key,)),
            (f"DELETE FROM {k}.mutes WHERE bucket = 0 AND room_key = ?", (room_key,)),
            (f"DELETE FROM {k}.room_index WHERE bucket = 0 AND key = ?", (room_key,)),
            (
                f"DELETE FROM {k}.rooms_by_skeleton WHERE skeleton = ? AND key = ?",
                (room_skeleton(name), room_key),
            ),
        ]
        if owner is not None:
            writes.append(
                (
                    f"DELETE FROM {k}.rooms_by_owner WHERE owner_key = ? AND room_key = ?",
                    (owner.lower(), room_key),
                )
            )
        for p in people:
            writes += [
                (
                    f"DELETE FROM {k}.room_users WHERE room_key = ? AND user_key = ?",
                    (room_key, p["user_key"]),
                ),
                (
                    f"DELETE FROM {k}.user_rooms WHERE user_key = ? AND room_key = ?",
                    (p["user_key"], room_key),
                ),
                (
                    f"DELETE FROM {k}.cursors WHERE user_key = ? AND channel = ?",
                    (p["user_key"], room_key),
                ),
                (
                    f"DELETE FROM {k}.read_cursors WHERE user_key = ? AND channel = ?",
                    (p["user_key"], room_key),
                ),
            ]
        return writes

    async def _owned_rooms(self, key: str) -> tuple[dict[str, str], dict[str, str]]:
        """The rooms the user owns: those nobody else is a member of (to delete), with their
        names, and the others with their owner as stored (to leave server-owned)."""
        doomed: dict[str, str] = {}
        kept: dict[str, str] = {}
        owned = await self.owned_rooms(key)
        rooms = await self._room_rows(owned)
        for room_key, room in zip(owned, rooms, strict=True):
            members = await self.cql.rows(
                f"SELECT user_key, member FROM {self.ks}.room_users WHERE room_key = ?", room_key
            )
            if any(m["member"] and m["user_key"] != key for m in members):
                kept[room_key] = str((room or {}).get("owner"))
            else:
                doomed[room_key] = str((room or {}).get("name") or room_key)
        return doomed, kept


async def gather_bounded(calls: Iterable[Awaitable[T]], limit: int = 64) -> list[T]:
    """Await them all, at most `limit` at a time (bounded load on the cluster), in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))
