"""CassandraStore: torbit.core.ports.Store on Apache Cassandra, the seed's own engine for users,
ignores and read positions, with rooms and moderation besides. The tables, and why each
exists, are in cassandra_schema.py; the driver in cassandra_cql.py; room moderation in
cassandra_rooms.py. Messages are not kept here: a Cassandra deployment's log is Kafka.

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
import math
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from torbit.backends.store.cassandra_cql import (
    DEFAULT_CONSISTENCY,
    CassandraUrl,
    Cql,
    Params,
    Row,
    check_consistency,
    from_us,
    to_us,
)
from torbit.backends.store.cassandra_rooms import RoomModerationCql, room_of
from torbit.backends.store.cassandra_schema import upgrade
from torbit.core.models import Room, User
from torbit.errors import Conflict, NotFound

# Tokens also carry a TTL, so that those nobody purges still go (the expiry check is exact
# regardless); this much after they expire, as a margin for clocks.
TOKEN_TTL_MARGIN_S = 3600
MAX_TTL_S = 630_720_000  # Cassandra's limit: 20 years
BATCH_STATEMENTS = 50  # user deletion is split into logged batches of at most this many

T = TypeVar("T")


class CassandraStore(RoomModerationCql):
    """`url` is cassandra://host:port[,host:port]/keyspace; `consistency` a CQL level."""

    def __init__(self, url: str, *, consistency: str = DEFAULT_CONSISTENCY) -> None:
        self.url = CassandraUrl.parse(url)  # ConfigError now, not at open()
        self.cql = Cql(self.url, check_consistency(consistency))
        self.ks = self.url.keyspace

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

    # users

    async def create_user(self, user: User) -> User:
        applied, _ = await self.cql.lwt(
            f"INSERT INTO {self.ks}.users (key, name, password_hash, created_at, is_admin) "
            f"VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
            user.key, user.name, user.password_hash, to_us(user.created_at), user.is_admin)
        if not applied:
            raise Conflict(f"the name {user.name!r} is taken")
        return user

    async def get_user(self, key: str) -> User | None:
        row = await self.cql.one(f"SELECT name, password_hash, created_at, is_admin "
                                 f"FROM {self.ks}.users WHERE key = ?", key)
        return _user(row) if row is not None else None

    async def list_users(self) -> list[User]:
        rows = await self.cql.rows(f"SELECT key, name, password_hash, created_at, is_admin "
                                   f"FROM {self.ks}.users")
        return [_user(r) for r in sorted(rows, key=lambda r: str(r["key"]))]

    async def set_password_hash(self, key: str, password_hash: str) -> bool:
        applied, _ = await self.cql.lwt(f"UPDATE {self.ks}.users SET password_hash = ? "
                                        f"WHERE key = ? IF EXISTS", password_hash, key)
        return applied

    async def set_admin(self, key: str, is_admin: bool) -> bool:
        applied, _ = await self.cql.lwt(f"UPDATE {self.ks}.users SET is_admin = ? "
                                        f"WHERE key = ? IF EXISTS", is_admin, key)
        return applied

    async def delete_user(self, key: str) -> bool:
        """Delete the user row first (from then on every check says "no such user"), then
        what hangs off it, gathered from the per-user tables. Audit entries stay."""
        k = self.ks
        existed, _ = await self.cql.lwt(f"DELETE FROM {k}.users WHERE key = ? IF EXISTS", key)
        rooms, ignoring, ignored_by, tokens, owned = await asyncio.gather(
            self.cql.rows(f"SELECT room_key FROM {k}.user_rooms WHERE user_key = ?", key),
            self.cql.rows(f"SELECT ignored_key FROM {k}.ignores WHERE user_key = ?", key),
            self.cql.rows(f"SELECT user_key FROM {k}.ignored_by WHERE ignored_key = ?", key),
            self.cql.rows(f"SELECT hash FROM {k}.tokens_by_user WHERE user_key = ?", key),
            self.cql.rows(f"SELECT room_key FROM {k}.rooms_by_owner WHERE owner_key = ?", key),
        )
        writes: list[tuple[str, Params]] = []
        for r in rooms:
            writes += [(f"DELETE FROM {k}.room_users WHERE room_key = ? AND user_key = ?",
                        (r["room_key"], key)),
                       (f"DELETE FROM {k}.mutes WHERE bucket = 0 AND room_key = ? "
                        f"AND user_key = ?", (r["room_key"], key))]
        for r in ignoring:
            writes.append((f"DELETE FROM {k}.ignored_by WHERE ignored_key = ? AND user_key = ?",
                           (r["ignored_key"], key)))
        for r in ignored_by:
            writes.append((f"DELETE FROM {k}.ignores WHERE user_key = ? AND ignored_key = ?",
                           (r["user_key"], key)))
        for r in tokens:
            writes.append((f"DELETE FROM {k}.tokens WHERE hash = ?", (r["hash"],)))
        for table, column in (("user_rooms", "user_key"), ("ignores", "user_key"),
                              ("ignored_by", "ignored_key"), ("cursors", "user_key"),
                              ("tokens_by_user", "user_key"), ("rooms_by_owner", "owner_key")):
            writes.append((f"DELETE FROM {k}.{table} WHERE {column} = ?", (key,)))
        for start in range(0, len(writes), BATCH_STATEMENTS):
            await self.cql.batch(writes[start:start + BATCH_STATEMENTS])
        # whoever registers the name next must not inherit the rooms (the condition keeps
        # rooms that a stale rooms_by_owner row names but someone else owns)
        for r in owned:
            room = await self.cql.one(f"SELECT owner FROM {k}.rooms WHERE key = ?", r["room_key"])
            if room is not None and room["owner"] is not None and room["owner"].lower() == key:
                await self.cql.lwt(f"UPDATE {k}.rooms SET owner = null WHERE key = ? "
                                   f"IF owner = ?", r["room_key"], room["owner"])
        return existed

    # rooms and memberships

    async def ensure_room(self, room: Room) -> Room:
        """IF NOT EXISTS answers with the stored row when the room exists: one round trip,
        and two nodes creating the same room agree on the winner."""
        applied, existing = await self._insert_room(room)
        return room if applied else room_of(existing)

    async def get_room(self, key: str) -> Room | None:
        row = await self.cql.one(f"SELECT name, created_at, owner, topic, private "
                                 f"FROM {self.ks}.rooms WHERE key = ?", key)
        return room_of(row) if row is not None else None

    async def list_rooms(self) -> list[tuple[Room, int]]:
        """Every room, with its member count read from its own room_users partition
        (COUNT of a column counts the rows where it is set: the members)."""
        rows = sorted(await self.cql.rows(f"SELECT key, name, created_at, owner, topic, private "
                                          f"FROM {self.ks}.rooms"), key=lambda r: str(r["key"]))
        counts = await _gather_bounded(
            self.cql.one(f"SELECT COUNT(member) AS n FROM {self.ks}.room_users "
                         f"WHERE room_key = ?", r["key"]) for r in rows)
        return [(room_of(r), int((c or {}).get("n") or 0)) for r, c in zip(rows, counts,
                                                                           strict=True)]

    async def add_member(self, room_key: str, user_key: str) -> bool:
        room, user, pair = await asyncio.gather(
            self.cql.one(f"SELECT key FROM {self.ks}.rooms WHERE key = ?", room_key),
            self.cql.one(f"SELECT name FROM {self.ks}.users WHERE key = ?", user_key),
            self._pair(room_key, user_key),
        )
        if room is None or user is None:
            raise NotFound(f"no room {room_key!r} or no user {user_key!r}")
        if pair.get("member"):
            return False
        await self._set_pair(room_key, user_key, {"member": True}, name=user["name"])
        return True

    async def remove_member(self, room_key: str, user_key: str) -> bool:
        if not (await self._pair(room_key, user_key)).get("member"):
            return False
        await self._set_pair(room_key, user_key, {"member": None}, name=None)
        return True

    async def list_members(self, room_key: str) -> list[str]:
        rows = await self.cql.rows(f"SELECT name, member FROM {self.ks}.room_users "
                                   f"WHERE room_key = ?", room_key)
        return [str(r["name"]) for r in rows if r["member"]]  # in user_key order

    async def rooms_of(self, user_key: str) -> list[str]:
        rows = await self.cql.rows(f"SELECT room_key, member FROM {self.ks}.user_rooms "
                                   f"WHERE user_key = ?", user_key)
        return [str(r["room_key"]) for r in rows if r["member"]]

    # ignore lists

    async def add_ignore(self, user_key: str, ignored_key: str) -> bool:
        k = self.ks
        user, ignored, pair = await asyncio.gather(
            self.cql.one(f"SELECT key FROM {k}.users WHERE key = ?", user_key),
            self.cql.one(f"SELECT key FROM {k}.users WHERE key = ?", ignored_key),
            self.cql.one(f"SELECT ignored_key FROM {k}.ignores WHERE user_key = ? "
                         f"AND ignored_key = ?", user_key, ignored_key),
        )
        if user is None or ignored is None:
            raise NotFound(f"no user {user_key!r} or no user {ignored_key!r}")
        if pair is not None:
            return False
        await self.cql.batch([
            (f"INSERT INTO {k}.ignores (user_key, ignored_key) VALUES (?, ?)",
             (user_key, ignored_key)),
            (f"INSERT INTO {k}.ignored_by (ignored_key, user_key) VALUES (?, ?)",
             (ignored_key, user_key)),
        ])
        return True

    async def remove_ignore(self, user_key: str, ignored_key: str) -> bool:
        k = self.ks
        if await self.cql.one(f"SELECT ignored_key FROM {k}.ignores WHERE user_key = ? "
                              f"AND ignored_key = ?", user_key, ignored_key) is None:
            return False
        await self.cql.batch([
            (f"DELETE FROM {k}.ignores WHERE user_key = ? AND ignored_key = ?",
             (user_key, ignored_key)),
            (f"DELETE FROM {k}.ignored_by WHERE ignored_key = ? AND user_key = ?",
             (ignored_key, user_key)),
        ])
        return True

    async def list_ignores(self, user_key: str) -> list[str]:
        rows = await self.cql.rows(f"SELECT ignored_key FROM {self.ks}.ignores "
                                   f"WHERE user_key = ?", user_key)
        return [str(r["ignored_key"]) for r in rows]

    # read cursors

    async def get_cursor(self, user_key: str, channel: str) -> int | None:
        row = await self.cql.one(f"SELECT last_id FROM {self.ks}.cursors WHERE user_key = ? "
                                 f"AND channel = ? LIMIT 1", user_key, channel)
        return int(row["last_id"]) if row is not None else None

    async def set_cursor(self, user_key: str, channel: str, last_id: int) -> None:
        """Never backward, without a read or a transaction: each position is a row, the
        highest is the cursor (the clustering order puts it first), and the same
        single-partition batch deletes the rows below it. Whatever order concurrent moves
        land in, the highest row survives."""
        k = self.ks
        await self.cql.batch([
            (f"INSERT INTO {k}.cursors (user_key, channel, last_id) VALUES (?, ?, ?)",
             (user_key, channel, last_id)),
            (f"DELETE FROM {k}.cursors WHERE user_key = ? AND channel = ? AND last_id < ?",
             (user_key, channel, last_id)),
        ], logged=False)

    # login tokens

    async def create_token(self, token_hash: str, user_key: str, expires_at: datetime) -> None:
        k = self.ks
        if await self.cql.one(f"SELECT key FROM {k}.users WHERE key = ?", user_key) is None:
            raise NotFound(f"no user {user_key!r}")
        left = (to_us(expires_at) - to_us(datetime.now(UTC))) / 1e6
        ttl = "" if left <= 0 else (
            f" USING TTL {min(MAX_TTL_S, math.ceil(left) + TOKEN_TTL_MARGIN_S)}")
        await self.cql.batch([
            (f"INSERT INTO {k}.tokens (hash, user_key, expires_at) VALUES (?, ?, ?){ttl}",
             (token_hash, user_key, to_us(expires_at))),
            (f"INSERT INTO {k}.tokens_by_user (user_key, hash) VALUES (?, ?){ttl}",
             (user_key, token_hash)),
        ])

    async def token_user(self, token_hash: str, now: datetime) -> str | None:
        row = await self.cql.one(f"SELECT user_key, expires_at FROM {self.ks}.tokens "
                                 f"WHERE hash = ?", token_hash)
        if row is None or int(row["expires_at"]) <= to_us(now):
            return None
        return str(row["user_key"])

    async def delete_token(self, token_hash: str) -> bool:
        row = await self.cql.one(f"SELECT user_key FROM {self.ks}.tokens WHERE hash = ?",
                                 token_hash)
        if row is None:
            return False
        await self._delete_tokens([(token_hash, str(row["user_key"]))])
        return True

    async def delete_tokens_of(self, user_key: str) -> int:
        rows = await self.cql.rows(f"SELECT hash FROM {self.ks}.tokens_by_user "
                                   f"WHERE user_key = ?", user_key)
        await self._delete_tokens([(str(r["hash"]), user_key) for r in rows])
        return len(rows)

    async def purge_tokens(self, now: datetime) -> int:
        """A scan of the tokens table: it runs now and then, off every request's path."""
        cutoff = to_us(now)
        rows = await self.cql.rows(f"SELECT hash, user_key, expires_at FROM {self.ks}.tokens")
        expired = [(str(r["hash"]), str(r["user_key"])) for r in rows
                   if int(r["expires_at"]) <= cutoff]
        await self._delete_tokens(expired)
        return len(expired)

    async def _delete_tokens(self, tokens: list[tuple[str, str]]) -> None:
        k = self.ks
        writes: list[tuple[str, Params]] = []
        for token_hash, user_key in tokens:
            writes += [(f"DELETE FROM {k}.tokens WHERE hash = ?", (token_hash,)),
                       (f"DELETE FROM {k}.tokens_by_user WHERE user_key = ? AND hash = ?",
                        (user_key, token_hash))]
        for start in range(0, len(writes), BATCH_STATEMENTS):
            await self.cql.batch(writes[start:start + BATCH_STATEMENTS])

    # for tools and tests

    async def query(self, cql: str, *params: Any) -> list[Row]:
        """Run any CQL (table names qualified with the keyspace, `self.ks`)."""
        return await self.cql.rows(cql, *params)


def _user(row: Row) -> User:
    return User(name=str(row["name"]), password_hash=str(row["password_hash"]),
                created_at=from_us(int(row["created_at"])), is_admin=bool(row["is_admin"]))


async def _gather_bounded(calls: Iterable[Awaitable[T]], limit: int = 64) -> list[T]:
    """Await them all, at most `limit` at a time (bounded load on the cluster), in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))
