"""The room moderation part of CassandraStore (torbit.core.ports.Store): creating and changing
rooms, standing, room admins, bans, mutes, invitations and the audit log. A mixin, so that
cassandra.py stays about users, memberships, ignores, cursors and tokens.

A user's standing in a room is one row of room_users, mirrored in user_rooms (the per-user
view) by writing both in one logged batch. Rows are only ever written by UPDATE, so they carry
no row marker: once every flag is unset the row is gone by itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any

from torbit.backends.store.cassandra_cql import Cql, Params, Row, from_us, to_us
from torbit.core.models import AuditEntry, Mute, Room, Standing
from torbit.errors import Conflict, NotFound

BUCKET_BITS = 16  # audit_log and revocations partitions hold 65,536 consecutive ids each


class RoomModerationCql:
    """Needs `cql` and `ks` (the keyspace) from CassandraStore."""

    cql: Cql
    ks: str

    # the room_users / user_rooms pair

    async def _pair(self, room_key: str, user_key: str) -> Row:
        """The user's flags in the room ({} when none is set)."""
        row = await self.cql.one(
            f"SELECT member, admin, banned_at, invited_at, mute_until "
            f"FROM {self.ks}.room_users WHERE room_key = ? "
            f"AND user_key = ?",
            room_key,
            user_key,
        )
        return row or {}

    async def _set_pair(
        self, room_key: str, user_key: str, values: dict[str, Any], **room_only: Any
    ) -> None:
        """Set flags (None unsets) on both sides, in one logged batch; `room_only` columns
        (the member's display name) go to room_users alone."""
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
            ]
        )

    async def _both_exist(self, room_key: str, user_key: str) -> None:
        room, user = await asyncio.gather(
            self.cql.one(f"SELECT key FROM {self.ks}.rooms WHERE key = ?", room_key),
            self.cql.one(f"SELECT key FROM {self.ks}.users WHERE key = ?", user_key),
        )
        if room is None or user is None:
            raise NotFound(f"no room {room_key!r} or no user {user_key!r}")

    # rooms

    async def _insert_room(self, room: Room) -> tuple[bool, Row]:
        # The owner's index row goes first: a room it names that they do not own is checked
        # and skipped when they are deleted, while a missing one would leave them owning it.
        if room.owner is not None:
            await self.cql.run(
                f"INSERT INTO {self.ks}.rooms_by_owner (owner_key, room_key) VALUES (?, ?)",
                room.owner.lower(),
                room.key,
            )
        return await self.cql.lwt(
            f"INSERT INTO {self.ks}.rooms (key, name, created_at, owner, topic, private) "
            f"VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS",
            room.key,
            room.name,
            to_us(room.created_at),
            room.owner,
            room.topic,
            room.private,
        )

    async def create_room(self, room: Room) -> Room:
        applied, _ = await self._insert_room(room)
        if not applied:
            raise Conflict(f"room #{room.name} already exists")
        return room

    async def update_room(
        self, key: str, *, topic: str | None = None, private: bool | None = None
    ) -> Room | None:
        values: dict[str, Any] = {}
        if topic is not None:
            values["topic"] = topic
        if private is not None:
            values["private"] = private
        if values:
            sets = ", ".join(f"{c} = ?" for c in values)
            applied, _ = await self.cql.lwt(
                f"UPDATE {self.ks}.rooms SET {sets} WHERE key = ? IF EXISTS", *values.values(), key
            )
            if not applied:
                return None
        row = await self.cql.one(
            f"SELECT name, created_at, owner, topic, private FROM {self.ks}.rooms WHERE key = ?",
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
        )

    # admins, bans, mutes

    async def set_room_admin(self, room_key: str, user_key: str, is_admin: bool) -> bool:
        if is_admin:
            await self._both_exist(room_key, user_key)
        if bool((await self._pair(room_key, user_key)).get("admin")) == is_admin:
            return False
        await self._set_pair(room_key, user_key, {"admin": True if is_admin else None})
        return True

    async def expel(
        self, room_key: str, user_key: str, *, banned_at: datetime | None = None
    ) -> bool:
        if banned_at is not None:
            await self._both_exist(room_key, user_key)
        pair = await self._pair(room_key, user_key)
        values: dict[str, Any] = {"member": None, "admin": None, "invited_at": None}
        if banned_at is not None and pair.get("banned_at") is None:
            values["banned_at"] = to_us(banned_at)
        if pair or "banned_at" in values:
            await self._set_pair(room_key, user_key, values, name=None)
        return bool(pair.get("member"))

    async def unban(self, room_key: str, user_key: str) -> bool:
        if (await self._pair(room_key, user_key)).get("banned_at") is None:
            return False
        await self._set_pair(room_key, user_key, {"banned_at": None})
        return True

    async def set_mute(self, room_key: str, user_key: str, until: datetime) -> None:
        await self._both_exist(room_key, user_key)
        k, value = self.ks, to_us(until)
        await self.cql.batch(
            [
                (
                    f"INSERT INTO {k}.mutes (bucket, room_key, user_key, until)"
                    " VALUES (0, ?, ?, ?)",
                    (room_key, user_key, value),
                ),
                *self._mute_writes(room_key, user_key, value),
            ]
        )

    async def remove_mute(self, room_key: str, user_key: str, now: datetime) -> bool:
        # An expired mute is removed too, but does not count: the user was not muted.
        row = await self.cql.one(
            f"SELECT until FROM {self.ks}.mutes WHERE bucket = 0 AND room_key = ? AND user_key = ?",
            room_key,
            user_key,
        )
        if row is None:
            return False
        await self.cql.batch(
            [
                (
                    f"DELETE FROM {self.ks}.mutes"
                    " WHERE bucket = 0 AND room_key = ? AND user_key = ?",
                    (room_key, user_key),
                ),
                *self._mute_writes(room_key, user_key, None),
            ]
        )
        return int(row["until"]) > to_us(now)

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

    async def active_mutes(self, now: datetime) -> list[Mute]:
        cutoff = to_us(now)
        rows = await self.cql.rows(
            f"SELECT room_key, user_key, until FROM {self.ks}.mutes WHERE bucket = 0"
        )
        return [
            Mute(str(r["room_key"]), str(r["user_key"]), from_us(int(r["until"])))
            for r in rows
            if int(r["until"]) > cutoff
        ]

    # invitations

    async def add_invite(self, room_key: str, user_key: str, at: datetime) -> bool:
        await self._both_exist(room_key, user_key)
        if (await self._pair(room_key, user_key)).get("invited_at") is not None:
            return False
        await self._set_pair(room_key, user_key, {"invited_at": to_us(at)})
        return True

    async def remove_invite(self, room_key: str, user_key: str) -> bool:
        if (await self._pair(room_key, user_key)).get("invited_at") is None:
            return False
        await self._set_pair(room_key, user_key, {"invited_at": None})
        return True

    async def invited_rooms(self, user_key: str) -> list[str]:
        rows = await self.cql.rows(
            f"SELECT room_key, invited_at FROM {self.ks}.user_rooms WHERE user_key = ?", user_key
        )
        return [str(r["room_key"]) for r in rows if r["invited_at"] is not None]

    # the audit log

    async def _next_serial(self, name: str) -> int:
        """The next number of a sequence (the audit log's ids, revocation serials):
        compare-and-set until ours applies. Both are written rarely, so contention is rare."""
        while True:
            row = await self.cql.one(f"SELECT value FROM {self.ks}.sequences WHERE name = ?", name)
            if row is None:
                applied, _ = await self.cql.lwt(
                    f"INSERT INTO {self.ks}.sequences (name, value) VALUES (?, 1) IF NOT EXISTS",
                    name,
                )
                if applied:
                    return 1
                continue
            current = int(row["value"])
            applied, _ = await self.cql.lwt(
                f"UPDATE {self.ks}.sequences SET value = ? WHERE name = ? IF value = ?",
                current + 1,
                name,
                current,
            )
            if applied:
                return current + 1

    async def _last_serial(self, name: str) -> int:
        row = await self.cql.one(f"SELECT value FROM {self.ks}.sequences WHERE name = ?", name)
        return int(row["value"]) if row is not None else 0

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        new_id = await self._next_serial("audit")
        k, at = self.ks, to_us(entry.at)
        writes: list[tuple[str, Params]] = [
            (
                f"INSERT INTO {k}.audit_log (bucket, id, at, actor, action, room, target, detail) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    new_id >> BUCKET_BITS,
                    new_id,
                    at,
                    entry.actor,
                    entry.action,
                    entry.room,
                    entry.target,
                    entry.detail,
                ),
            )
        ]
        if entry.room is not None:
            writes.append(
                (
                    f"INSERT INTO {k}.audit_by_room (room, id, at, actor, action, target, detail) "
                    f"VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (entry.room, new_id, at, entry.actor, entry.action, entry.target, entry.detail),
                )
            )
        await self.cql.batch(writes)
        return replace(entry, id=new_id)

    async def list_audit(self, room_key: str | None = None, limit: int = 100) -> list[AuditEntry]:
        k = self.ks
        if room_key is not None:
            rows = await self.cql.rows(
                f"SELECT id, at, actor, action, target, detail "
                f"FROM {k}.audit_by_room WHERE room = ? LIMIT ?",
                room_key,
                limit,
            )
            return [_entry(r, room_key) for r in rows]
        out: list[AuditEntry] = []
        top = await self._last_serial("audit")
        bucket = top >> BUCKET_BITS if top else -1
        while bucket >= 0 and len(out) < limit:
            rows = await self.cql.rows(
                f"SELECT id, at, actor, action, room, target, detail "
                f"FROM {k}.audit_log WHERE bucket = ? LIMIT ?",
                bucket,
                limit - len(out),
            )
            out += [_entry(r, r["room"]) for r in rows]
            bucket -= 1
        return out


def _entry(row: Row, room: str | None) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=from_us(int(row["at"])),
        actor=str(row["actor"]),
        action=str(row["action"]),
        room=room,
        target=row["target"],
        detail=row["detail"] or "",
    )


def room_of(row: Row) -> Room:
    return Room(
        name=str(row["name"]),
        created_at=from_us(int(row["created_at"])),
        owner=row["owner"],
        topic=row["topic"] or "",
        private=bool(row["private"]),
    )
