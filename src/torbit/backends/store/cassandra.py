"""CassandraStore: torbit.core.ports.Store on Apache Cassandra, the seed's own engine for users,
ignores and read positions, with rooms and moderation besides. The tables, and why each
exists, are in cassandra_schema.py; the driver in cassandra_cql.py; users and their
deletion in cassandra_users.py; room moderation in cassandra_rooms.py (kicks, bans, mutes and
invitations for one room: cassandra_room_acts.py; ban masks:
cassandra_masks.py); listing and deleting rooms in cassandra_catalog.py; the audit log in
cassandra_audit.py; tokens and revocations in cassandra_sessions.py; ignore lists and read
cursors in cassandra_userlists.py. Messages are not kept here: a Cassandra deployment's log
is Kafka.

Every read and write uses the configured consistency level (`storage.consistency`, default
LOCAL_QUORUM: with a replication factor of 3, a write is acknowledged by two replicas of the
local data centre and a read asks two, so every read sees every acknowledged write and a node
may be down). Uniqueness (a name, a room) uses lightweight transactions at LOCAL_SERIAL
(SERIAL when the level is not a LOCAL_ one). Without transactions across partitions, a check
("no such user") and the write after it are two steps: a user deleted within that round trip
can be left with a stray row (a membership, an ignore) that the next delete of the name
removes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from torbit.backends.store import departures
from torbit.backends.store.cassandra_audit import AuditCql
from torbit.backends.store.cassandra_claims import SkeletonClaims
from torbit.backends.store.cassandra_cql import (
    DEFAULT_CONSISTENCY,
    REQUEST_TIMEOUT_S,
    CassandraUrl,
    Cql,
    Params,
    Row,
    check_consistency,
    to_us,
)
from torbit.backends.store.cassandra_fences import fence_pair
from torbit.backends.store.cassandra_masks import RoomMasksCql
from torbit.backends.store.cassandra_mirrors import MirrorReadsCql
from torbit.backends.store.cassandra_room_rows import ROOM_COLUMNS, room_of
from torbit.backends.store.cassandra_schema import current_version, upgrade
from torbit.backends.store.cassandra_sessions import SessionsCql
from torbit.backends.store.cassandra_users import UsersCql
from torbit.core.keylocks import KeyLocks
from torbit.core.models import Departure, Room, Standing
from torbit.errors import LooksAlike, NotFound


async def schema_version(url: str, consistency: str = DEFAULT_CONSISTENCY) -> int | None:
    """`torbit db status`: the keyspace's newest migration, changing nothing (open() would
    create the keyspace and migrate it); None if it was never migrated."""
    where = CassandraUrl.parse(url)
    cql = Cql(where, check_consistency(consistency))
    await cql.connect()
    try:
        return await current_version(cql, where.keyspace)
    finally:
        await cql.close()


class CassandraStore(UsersCql, MirrorReadsCql, RoomMasksCql, AuditCql, SessionsCql):
    """`url` is cassandra://host:port[,host:port]/keyspace; `consistency` a CQL level;
    `command_timeout` (storage.command_timeout) the seconds a read or write may go
    unanswered before it fails "storage unavailable"."""

    def __init__(
        self,
        url: str,
        *,
        consistency: str = DEFAULT_CONSISTENCY,
        command_timeout: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.url = CassandraUrl.parse(url)  # ConfigError now, not at open()
        self.cql = Cql(self.url, check_consistency(consistency), command_timeout)
        self.health = self.cql.health
        self.ks = self.url.keyspace
        self.room_names = KeyLocks()
        self.claims = SkeletonClaims(self.cql, self.ks)
        self.ban_lists = KeyLocks()

    async def open(self) -> None:
        """Connect, create the keyspace if missing and bring its tables up to date."""
        if self.cql.is_open:
            return
        await self.cql.connect()
        try:
            await upgrade(self.cql, self.ks)
        except BaseException:
            await self.cql.close()
            raise

    async def close(self) -> None:
        await self.cql.close()

    async def ping(self) -> None:
        await self.cql.one("SELECT release_version FROM system.local")

    # rooms and memberships

    async def ensure_room(self, room: Room, *, unlike: bool = True) -> Room:
        """A room that is there (a join raced its creation) is read: no Paxos round. A new
        one is inserted IF NOT EXISTS, which answers with the stored row when another node
        created it first, so two nodes creating the same room agree on the winner; with
        `unlike`, under the skeleton's claim (_insert_unlike)."""
        there = await self.get_room(room.key)
        if there is not None:
            return there
        async with self.room_names.hold(room.skeleton):
            if not unlike:
                applied, existing = await self._insert_room(room)
            elif await self.room_like(room):  # unless it is there now (old look-alikes)
                there = await self.get_room(room.key)
                if there is None:
                    raise LooksAlike(f"room #{room.name} reads like an existing room")
                return there
            else:
                applied, existing = await self._insert_unlike(room)
        return room if applied else room_of(existing)

    async def get_room(self, key: str) -> Room | None:
        row = await self.cql.one(
            f"SELECT {ROOM_COLUMNS} FROM {self.ks}.rooms WHERE key = ?",
            key,
        )
        return room_of(row) if row is not None else None

    async def room_and_standing(self, room_key: str, user_key: str) -> tuple[Room | None, Standing]:
        """The room's row and the standing's two, sent together."""
        room, standing = await asyncio.gather(
            self.get_room(room_key), self.standing(room_key, user_key)
        )
        return (room, standing) if room is not None else (None, Standing())

    async def add_member(self, room_key: str, user_key: str, *, by_right: bool = False) -> bool:
        room, user, pair = await asyncio.gather(
            self.cql.one(f"SELECT key FROM {self.ks}.rooms WHERE key = ?", room_key),
            self.cql.one(f"SELECT name FROM {self.ks}.users WHERE key = ?", user_key),
            self._pair(room_key, user_key),
        )
        if room is None or user is None:
            raise NotFound(f"no room {room_key!r} or no user {user_key!r}")
        if pair.get("member"):
            return False
        # by_right is this membership's, written each time (a past one's may be on the row),
        # on both sides: room_users' is what a removal by right or an admission checks
        values: dict[str, Any] = {"member": True, "joined": True, "by_right": by_right or None}
        mirrors: list[tuple[str, Params]] = []
        if pair.get("voiced"):  # a voice written as the last membership ended: not this one's
            values["voiced"] = None
            mirrors.append(self._role_write(room_key, "voiced", user_key, None))
        if not await self._join(room_key, user_key, values, mirrors, str(user["name"])):
            return False
        await fence_pair(self.cql, self.ks, room_key, user_key)  # against deleting either
        return True

    async def _join(
        self,
        room_key: str,
        user_key: str,
        values: dict[str, Any],
        mirrors: Sequence[tuple[str, Params]],
        name: str,
    ) -> bool:
        """The membership's room_users write a lightweight transaction (`IF member = null`),
        its mirrors (user_rooms, `mirrors`) written first, as every act's are: a node dying
        between them leaves mirrors that readers confirm in room_users (cassandra_mirrors.py).
        It was a plain write in a logged batch, stamped by this node's clock, and every end
        of a membership (a ban, a kick, a leave) a transaction stamped by Paxos from the
        Cassandra coordinator's: a join from a node 2 s ahead outlived a ban made after it
        (cass63, docs/security.md). Two Paxos-ordered writes are ordered as they happened
        whatever the nodes' clocks. False when another join came first."""
        await self.cql.batch([*self._user_rooms_write(room_key, user_key, values), *mirrors])
        sets = ", ".join(f"{c} = ?" for c in values)
        applied, _ = await self.cql.lwt(
            f"UPDATE {self.ks}.room_users SET {sets}, name = ? "
            "WHERE room_key = ? AND user_key = ? IF member = null",
            *values.values(),
            name,
            room_key,
            user_key,
        )
        if not applied:  # the one that came first wrote the same mirrors, or a leave since
            await self._mirror(room_key, user_key)
            return False
        await self._restamp_join_mirror(room_key, user_key, values)
        return True

    async def _restamp_join_mirror(
        self, room_key: str, user_key: str, values: dict[str, Any]
    ) -> None:
        """The mirror, stamped by this node's clock, lost to an act's before the join when
        that clock runs behind (a kick's unset, stamped by Cassandra's: cass63 measured it
        with a node 2 s behind, the member's own rooms lacking the room): written again just
        after the membership's own stamp, so any later act's still wins."""
        mine, mirror = await asyncio.gather(
            self.cql.one(
                f"SELECT member, WRITETIME(member) AS wt FROM {self.ks}.room_users "
                "WHERE room_key = ? AND user_key = ?",
                room_key,
                user_key,
            ),
            self.cql.one(
                f"SELECT member FROM {self.ks}.user_rooms WHERE user_key = ? AND room_key = ?",
                user_key,
                room_key,
            ),
        )
        if not (mine and mine["member"]) or (mirror and mirror["member"]):
            return
        sets = ", ".join(f"{c} = ?" for c in values)
        await self.cql.run(
            f"UPDATE {self.ks}.user_rooms USING TIMESTAMP ? SET {sets} "
            "WHERE user_key = ? AND room_key = ?",
            int(mine["wt"]) + 1,
            *values.values(),
            user_key,
            room_key,
        )

    async def is_member(self, room_key: str, user_key: str) -> bool:
        """room_users' row of the pair alone: `rooms_of` reads the user's mirror rows and
        confirms each in room_users (cassandra_mirrors.py), one read per room they are in."""
        row = await self.cql.one(
            f"SELECT member FROM {self.ks}.room_users WHERE room_key = ? AND user_key = ?",
            room_key,
            user_key,
        )
        return bool(row and row["member"])

    async def list_members(self, room_key: str) -> list[str]:
        rows = await self.cql.rows(
            f"SELECT name, member FROM {self.ks}.room_users WHERE room_key = ?", room_key
        )
        return [str(r["name"]) for r in rows if r["member"]]  # in user_key order

    async def rooms_held(self, user_key: str) -> list[str]:
        """Two lookups, sent together: the user's rooms and the rooms by owner."""
        mine, owned = await asyncio.gather(self.rooms_of(user_key), self.owned_rooms(user_key))
        return sorted({*mine, *owned})

    async def enter_room(self, room_key: str, user_key: str, at: datetime) -> bool:
        """Written only for a member: a plain write could make a row of a stranger."""
        if not (await self._pair(room_key, user_key)).get("member"):
            return False
        await self.cql.run(
            f"UPDATE {self.ks}.user_rooms SET entered_at = ? WHERE user_key = ? AND room_key = ?",
            to_us(at),
            user_key,
            room_key,
        )
        return True

    async def note_departures(self, moves: Sequence[Departure]) -> None:
        """One by one (departures.py): each cursor's move is a lightweight transaction of
        its own; a user deleted meanwhile is passed over."""
        await departures.one_by_one(self, moves)

    # for tools and tests

    async def query(self, cql: str, *params: Any) -> list[Row]:
        """Run any CQL (table names qualified with the keyspace, `self.ks`)."""
        return await self.cql.rows(cql, *params)
