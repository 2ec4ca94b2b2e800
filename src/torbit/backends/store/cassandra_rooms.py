"""The room moderation part of CassandraStore (torbit.core.ports.Store): creating and changing
rooms, standing, room admins, bans, mutes and invitations (ban masks: cassandra_masks.py; a
rooms row: cassandra_room_rows.py). A mixin, so that cassandra.py stays about users,
memberships, ignores, cursors and tokens.

The acts that take a standing away (an unban, a withdrawn invitation, a lifted mute, a
leave) are cassandra_room_lifts.py's.

A user's standing in a room is one row of room_users, mirrored in user_rooms (the per-user
view) by writing both in one logged batch. Rows are only ever written by UPDATE, so they carry
no row marker: once every flag is unset the row is gone by itself. Admin rights, voices and
bans are also rows of room_roles, written in the same batch: listing a room's admins, voiced
members or bans reads those few rows instead of every member's. A voice ends with the
membership: leaving, a kick or a ban unset it, and a join clears one that a voice racing the
end of the last membership left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection, Sequence
from datetime import datetime
from typing import Any

from torbit.backends.store.cassandra_claims import SkeletonClaims
from torbit.backends.store.cassandra_cql import Cql, Params, Row, from_us, to_us
from torbit.backends.store.cassandra_room_rows import (
    ROOM_COLUMNS,
    SETTINGS_COLUMNS,
    TOPIC_COLUMNS,
    room_of,
    topic_values,
)
from torbit.backends.store.room_changes import changed_values, settings_values
from torbit.core.identity import room_skeleton
from torbit.core.keylocks import KeyLocks
from torbit.core.models import Invitation, Mute, Room, RoomSettings, Standing
from torbit.errors import Conflict, LooksAlike, NotFound


class RoomModerationCql:
    """Needs `cql` and `ks` (the keyspace) from CassandraStore."""

    cql: Cql
    ks: str
    room_names: KeyLocks  # a room's creation takes turns with its look-alikes' on this node
    claims: SkeletonClaims  # and on every node

    # the room_users / user_rooms pair

    async def _pair(self, room_key: str, user_key: str) -> Row:
        """The user's flags in the room ({} when none is set)."""
        row = await self.cql.one(
            f"SELECT member, admin, voiced, banned_at, invited_at, mute_until "
            f"FROM {self.ks}.room_users WHERE room_key = ? "
            f"AND user_key = ?",
            room_key,
            user_key,
        )
        return row or {}

    async def _set_pair(
        self,
        room_key: str,
        user_key: str,
        values: dict[str, Any],
        extra: Sequence[tuple[str, Params]] = (),
        **room_only: Any,
    ) -> None:
        """Set flags (None unsets) on both sides, in one logged batch with the `extra`
        writes; `room_only` columns (the member's display name) go to room_users alone."""
        both = ", ".join(f"{c} = ?" for c in values)
        mine = ", ".join(f"{c} = ?" for c in {**values, **room_only})
        await self.cql.batch(
            [
                (
                    f"UPDATE {self.ks}.room_users SET {mine} WHERE room_key = ? AND user_key = ?",
                    (*values.values(), *room_only.values(), room_key, user_key),
                ),
                (
                    f"UPDATE {self.ks}.user_rooms SET {both} WHERE user_key = ? AND room_key = ?",
                    (*values.values(), user_key, room_key),
                ),
                *extra,
            ]
        )

    def _role_write(
        self, room_key: str, role: str, user_key: str, name: str | None
    ) -> tuple[str, Params]:
        """Grant (with the user's display name) or, with None, revoke a role row."""
        if name is None:
            return (
                f"DELETE FROM {self.ks}.room_roles WHERE room_key = ? AND role = ? "
                f"AND user_key = ?",
                (room_key, role, user_key),
            )
        return (
            f"INSERT INTO {self.ks}.room_roles (room_key, role, user_key, name) "
            f"VALUES (?, ?, ?, ?)",
            (room_key, role, user_key, name),
        )

    async def _both_exist(
        self, room_key: str, user_key: str, room_created: datetime | None = None
    ) -> str:
        """The user's display name; NotFound unless both the room (of `room_created`, if
        given: Store.update_room) and the user exist. A read: a deletion and a room made
        again right after it are not ordered with the write that follows (docs/security.md,
        Deleting a room)."""
        room, user = await asyncio.gather(
            self.cql.one(f"SELECT key, created_at FROM {self.ks}.rooms WHERE key = ?", room_key),
            self.cql.one(f"SELECT name FROM {self.ks}.users WHERE key = ?", user_key),
        )
        if room is None or user is None:
            raise NotFound(f"no room {room_key!r} or no user {user_key!r}")
        if room_created is not None and room["created_at"] != to_us(room_created):
            raise NotFound(f"no room {room_key!r} (it was deleted meanwhile)")
        return str(user["name"])

    async def _roles(self, room_key: str, role: str) -> list[Row]:
        return await self.cql.rows(
            f"SELECT user_key, name FROM {self.ks}.room_roles WHERE room_key = ? AND role = ?",
            room_key,
            role,
        )

    # rooms

    async def _insert_room(self, room: Room) -> tuple[bool, Row]:
        # The index rows go first: one naming a room that does not exist (its creator died
        # in between) or that another owner won is checked against the rooms row and skipped
        # by every reader, while a missing one would hide the room from listings, or leave a
        # deleted owner owning it.
        writes: list[tuple[str, Params]] = [
            (f"INSERT INTO {self.ks}.room_index (bucket, key) VALUES (0, ?)", (room.key,)),
            (
                f"INSERT INTO {self.ks}.rooms_by_skeleton (skeleton, key) VALUES (?, ?)",
                (room.skeleton, room.key),
            ),
        ]
        if room.owner is not None:
            writes.append(
                (
                    f"INSERT INTO {self.ks}.rooms_by_owner (owner_key, room_key) VALUES (?, ?)",
                    (room.owner.lower(), room.key),
                )
            )
        await asyncio.gather(*(self.cql.run(cql, *params) for cql, params in writes))
        applied, existing = await self.cql.lwt(
            f"INSERT INTO {self.ks}.rooms (key, name, created_at, owner, private, "
            f"{SETTINGS_COLUMNS}, {TOPIC_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
            room.key,
            room.name,
            to_us(room.created_at),
            room.owner,
            room.private,
            *settings_values(room.settings).values(),
            *topic_values(room.topic, room.topic_set_by, room.topic_set_at).values(),
        )
        if not applied:
            await self._drop_refused_index_rows(room, existing)
        return applied, existing

    async def _drop_refused_index_rows(self, room: Room, existing: Row) -> None:
        """A create refused (the key is taken) takes back the index rows it wrote that the
        room there does not share: its owner's (`/create` of every room name in use wrote a
        rooms_by_owner row each, read again at each of the user's joins) and its skeleton's
        (`Iack` beside `iack`). The key's room_index row is the room's too, and stays."""
        owner = existing.get("owner")
        if room.owner is not None and (owner is None or str(owner).lower() != room.owner.lower()):
            await self.cql.run(
                f"DELETE FROM {self.ks}.rooms_by_owner WHERE owner_key = ? AND room_key = ?",
                room.owner.lower(),
                room.key,
            )
        if room_skeleton(str(existing.get("name"))) != room.skeleton:
            await self.cql.run(
                f"DELETE FROM {self.ks}.rooms_by_skeleton WHERE skeleton = ? AND key = ?",
                room.skeleton,
                room.key,
            )

    async def create_room(self, room: Room) -> Room:
        async with self.room_names.hold(room.skeleton):
            if await self.room_like(room):
                raise LooksAlike(f"room #{room.name} reads like an existing room")
            applied, _ = await self._insert_unlike(room)
        if not applied:
            raise Conflict(f"room #{room.name} already exists")
        return room

    async def _insert_unlike(self, room: Room) -> tuple[bool, Row]:
        """_insert_room under the skeleton's claim (cassandra_claims.py): LooksAlike when a
        look-alike holds it, created on any node."""
        skel = room.skeleton

        def exists(key: str) -> Awaitable[bool]:
            return self.room_reads(key, skel)

        if not await self.claims.take("room", skel, room.key, exists):
            raise LooksAlike(f"room #{room.name} reads like an existing room")
        applied, existing = await self._insert_room(room)
        # confirmed for the room now there, ours or another node's of this key and skeleton
        there = applied or room_skeleton(str(existing.get("name"))) == skel
        if not there:  # the key is another skeleton's room (`iack` for `Iack`): ours goes
            await self.claims.drop("room", skel, room.key)
        elif not await self.claims.keep("room", skel, room.key, exists) and applied:
            # ours waited past the claim's TTL and a look-alike took it: ours goes
            await self.delete_room(room.key)
            raise LooksAlike(f"room #{room.name} reads like an existing room")
        return applied, existing

    async def delete_room(self, key: str, created_at: datetime | None = None) -> bool:
        raise NotImplementedError  # RoomCatalogCql's, before this class in CassandraStore

    async def room_like(self, room: Room) -> bool:
        """Whether a room of another key has this room's skeleton, through rooms_by_skeleton
        (a row whose room is gone is passed over). Checked before the insert, under a lock
        of this node's on the skeleton; look-alikes created at once on several nodes are
        settled by the skeleton's claim (_insert_unlike)."""
        rows = await self.cql.rows(
            f"SELECT key FROM {self.ks}.rooms_by_skeleton WHERE skeleton = ?", room.skeleton
        )
        for row in rows:
            if row["key"] != room.key and await self.room_reads(str(row["key"]), room.skeleton):
                return True
        return False

    async def room_reads(self, key: str, skel: str) -> bool:
        """Whether room `key` exists, named with this skeleton."""
        row = await self.cql.one(f"SELECT name FROM {self.ks}.rooms WHERE key = ?", key)
        return row is not None and room_skeleton(str(row["name"])) == skel

    async def update_room(
        self,
        key: str,
        *,
        topic: str | None = None,
        private: bool | None = None,
        settings: RoomSettings | None = None,
        topic_by: str = "",
        topic_at: datetime | None = None,
        settings_fields: Collection[str] | None = None,
        room_created: datetime | None = None,
    ) -> Room | None:
        values = changed_values(
            topic_values, settings, settings_fields, topic, topic_by, topic_at, private
        )
        if values:
            sets = ", ".join(f"{c} = ?" for c in values)
            same = "IF EXISTS" if room_created is None else "IF created_at = ?"
            which = () if room_created is None else (to_us(room_created),)
            applied, _ = await self.cql.lwt(
                f"UPDATE {self.ks}.rooms SET {sets} WHERE key = ? {same}",
                *values.values(),
                key,
                *which,
            )
            if not applied:
                return None
        row = await self.cql.one(
            f"SELECT {ROOM_COLUMNS} FROM {self.ks}.rooms WHERE key = ?",
            key,
        )
        return room_of(row) if row is not None else None

    async def standing(self, room_key: str, user_key: str) -> Standing:
        """Two single-row reads, sent together: the pair row and the user's admin flag."""
        pair, user = await asyncio.gather(
            self._pair(room_key, user_key),
            self.cql.one(f"SELECT is_admin FROM {self.ks}.users WHERE key = ?", user_key),
        )
        return Standing(
            member=bool(pair.get("member")),
            admin=bool(pair.get("admin")),
            banned=pair.get("banned_at") is not None,
            invited=pair.get("invited_at") is not None,
            server_admin=bool(user and user["is_admin"]),
            voiced=bool(pair.get("member") and pair.get("voiced")),
        )

    # admins, bans, mutes

    async def list_room_admins(self, room_key: str) -> list[str]:
        return [str(r["user_key"]) for r in await self._roles(room_key, "admin")]

    async def list_voiced(self, room_key: str) -> list[str]:
        return [str(r["user_key"]) for r in await self._roles(room_key, "voiced")]

    async def list_bans(self, room_key: str) -> list[str]:
        """In user key order (room_roles' clustering order)."""
        return [str(r["name"]) for r in await self._roles(room_key, "banned")]

    def _mute_writes(
        self,
        room_key: str,
        user_key: str,
        mute_until: int | None,
    ) -> list[tuple[str, Params]]:
        return [
            (
                f"UPDATE {self.ks}.room_users SET mute_until = ? WHERE room_key = ? "
                f"AND user_key = ?",
                (mute_until, room_key, user_key),
            ),
            (
                f"UPDATE {self.ks}.user_rooms SET mute_until = ? WHERE user_key = ? "
                f"AND room_key = ?",
                (mute_until, user_key, room_key),
            ),
        ]

    async def active_mutes(self, now: datetime, of: tuple[str, str] | None = None) -> list[Mute]:
        cutoff, pair = to_us(now), " AND room_key = ? AND user_key = ?" if of else ""
        rows = await self.cql.rows(
            f"SELECT room_key, user_key, until FROM {self.ks}.mutes WHERE bucket = 0{pair}",
            *(of or ()),
        )
        return [
            Mute(str(r["room_key"]), str(r["user_key"]), from_us(int(r["until"])))
            for r in rows
            if int(r["until"]) > cutoff
        ]

    # invitations

    async def invited_rooms(self, user_key: str) -> list[str]:
        rows = await self.cql.rows(
            f"SELECT room_key, invited_at FROM {self.ks}.user_rooms WHERE user_key = ?", user_key
        )
        return [str(r["room_key"]) for r in rows if r["invited_at"] is not None]

    async def invitations(self, user_key: str) -> list[Invitation]:
        rows = await self.cql.rows(
            f"SELECT room_key, invited_at, invited_by FROM {self.ks}.user_rooms WHERE user_key = ?",
            user_key,
        )
        found = [
            Invitation(str(r["room_key"]), from_us(int(r["invited_at"])), r["invited_by"] or "")
            for r in rows
            if r["invited_at"] is not None
        ]
        return sorted(found, key=lambda i: (-i.at.timestamp(), i.room_key))

    async def banned_rooms(self, user_key: str) -> list[str]:
        rows = await self.cql.rows(
            f"SELECT room_key, banned_at FROM {self.ks}.user_rooms WHERE user_key = ?", user_key
        )
        return [str(r["room_key"]) for r in rows if r["banned_at"] is not None]
