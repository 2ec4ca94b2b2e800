"""The users of CassandraStore (torbit.core.ports.Store): accounts, their look-alike checks
(users_by_skeleton and the skeleton's claim, cassandra_claims.py), guests and the nodes'
leases that sweep them, passwords, and deleting an account with what it holds. A mixin, so
that cassandra.py stays about opening the store, rooms and memberships."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from torbit.backends.store.cassandra_catalog import RoomCatalogCql
from torbit.backends.store.cassandra_cql import Params, Row, from_us, to_us
from torbit.backends.store.cassandra_userlists import UserListsCql
from torbit.core.models import GUEST_PASSWORD_HASH, AccountDeletion, User
from torbit.errors import Conflict

NODE_TTL_S = 86400  # a node's lease row (`touch_node`), once it stops: gone a day later


class UsersCql(RoomCatalogCql, UserListsCql):
    """Needs `cql`, `ks` and `claims` from CassandraStore; an account's deletion takes its
    rooms (cassandra_catalog.py) and ignores (cassandra_userlists.py) with it."""

    async def create_user(self, user: User, *, unlike: bool = False, node: str = "") -> User:
        """With `unlike`, refused when users_by_skeleton names a look-alike or one holds the
        skeleton's claim (cassandra_claims.py): of look-alike names registered at the same
        instant on any nodes, one is. A key taken (under any skeleton) is read first: a
        guest's NICK of a taken name, free to send again, claims nothing."""
        skel, alike = user.skeleton, f"the name {user.name!r} reads like a taken one"

        def exists(key: str) -> Awaitable[bool]:
            return self._reads(key, skel)

        if unlike:
            alike_user, same_key = await asyncio.gather(
                self.user_with_skeleton(skel),
                self.cql.one(f"SELECT key FROM {self.ks}.users WHERE key = ?", user.key),
            )
            if alike_user is not None:
                raise Conflict(alike)
            if same_key is not None:  # `iisa` when `Iisa` is asked: no claim, no Paxos round
                raise Conflict(f"the name {user.name!r} is taken")
            if not await self.claims.take("user", skel, user.key, exists):
                raise Conflict(alike)
        # the index rows first, as a room's (cassandra_rooms._insert_room): a node dying
        # after the users row left a user no look-alike check saw, or a guest no sweep
        # found, holding its nick for good; a row whose user is not there is passed over
        index = self._user_index_rows(user, node)
        await asyncio.gather(*(self.cql.run(cql, *params) for cql, params in index))
        applied, existing = await self.cql.lwt(
            f"INSERT INTO {self.ks}.users (key, name, password_hash, credential, skeleton, "
            f"created_at, is_admin) VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
            user.key,
            user.name,
            user.password_hash,
            user.credential,
            user.skeleton,
            to_us(user.created_at),
            user.is_admin,
        )
        if not applied:
            if existing.get("skeleton") != skel:  # not a racing twin's: ours go
                if unlike:
                    await self.claims.drop("user", skel, user.key)
                await self.cql.run(
                    f"DELETE FROM {self.ks}.users_by_skeleton WHERE skeleton = ? AND key = ?",
                    skel,
                    user.key,
                )
            if user.is_guest and existing.get("created_at") != to_us(user.created_at):
                await self.cql.run(
                    f"DELETE FROM {self.ks}.guests WHERE bucket = 0 AND created_at = ? AND key = ?",
                    to_us(user.created_at),
                    user.key,
                )
            raise Conflict(f"the name {user.name!r} is taken")
        if unlike and not await self.claims.keep("user", skel, user.key, exists):
            await self.delete_user(user.key)  # it waited past the claim's TTL and lost it
            raise Conflict(alike)
        return user

    def _user_index_rows(self, user: User, node: str) -> list[tuple[str, Params]]:
        """users_by_skeleton's row, and a guest's row of the guests partition (its sweep)."""
        rows: list[tuple[str, Params]] = [
            (
                f"INSERT INTO {self.ks}.users_by_skeleton (skeleton, key) VALUES (?, ?)",
                (user.skeleton, user.key),
            )
        ]
        if user.is_guest:
            rows.append(
                (
                    f"INSERT INTO {self.ks}.guests (bucket, created_at, key, node) "
                    "VALUES (0, ?, ?, ?)",
                    (to_us(user.created_at), user.key, node),
                )
            )
        return rows

    async def _reads(self, key: str, skel: str) -> bool:
        """Whether user `key` exists, named with this skeleton."""
        user = await self.get_user(key)
        return user is not None and user.skeleton == skel

    async def get_user(self, key: str) -> User | None:
        row = await self.cql.one(f"SELECT {_USER} FROM {self.ks}.users WHERE key = ?", key)
        return _user(row) if row is not None else None

    async def users_named_like(self, key: str, skeleton: str) -> list[User]:
        """Two lookups here: CQL has no OR across partitions."""
        own, twin = await self.get_user(key), await self.user_with_skeleton(skeleton)
        return [u for u in (own, twin) if u is not None and (u is own or u.key != key)]

    async def user_and_ignores(self, key: str) -> tuple[User | None, list[str]]:
        user = await self.get_user(key)
        return user, (await self.list_ignores(key) if user is not None else [])

    async def user_with_skeleton(self, skeleton: str) -> User | None:
        """Through users_by_skeleton; a row of it whose user is gone (deleted in between)
        is passed over."""
        rows = await self.cql.rows(
            f"SELECT key FROM {self.ks}.users_by_skeleton WHERE skeleton = ?", skeleton
        )
        for row in rows:
            user = await self.get_user(str(row["key"]))
            if user is not None and user.skeleton == skeleton:
                return user
        return None

    async def list_users(self) -> list[User]:
        rows = await self.cql.rows(f"SELECT key, {_USER} FROM {self.ks}.users")
        return [_user(r) for r in sorted(rows, key=lambda r: str(r["key"]))]

    async def guests_created_before(
        self, before: datetime, *, after: tuple[datetime, str] | None = None, limit: int = 500
    ) -> list[tuple[User, str]]:
        """Through the guests partition (migration 10), in creation order: a slice after
        `after`, cut in here at `before` (CQL mixes no tuple and single-column bounds). A
        row whose user is gone or no longer a guest (a delete cut short) is passed over."""
        at, key = (to_us(after[0]), after[1]) if after is not None else (-(2**63), "")
        end, found = to_us(before), []
        while True:
            rows = await self.cql.rows(
                f"SELECT created_at, key, node FROM {self.ks}.guests WHERE bucket = 0 "
                f"AND (created_at, key) > (?, ?) LIMIT {int(limit)}",
                at,
                key,
            )
            rows = [r for r in rows if int(r["created_at"]) < end]
            users = await asyncio.gather(*(self.get_user(str(r["key"])) for r in rows))
            for row, user in zip(rows, users, strict=True):
                at, key = int(row["created_at"]), str(row["key"])
                if user is not None and user.is_guest and to_us(user.created_at) == at:
                    found.append((user, str(row["node"] or "")))
                    if len(found) == limit:
                        return found
            if len(rows) < limit:
                return found

    async def touch_node(self, node: str, at: datetime) -> None:
        """Written with a day's TTL: a node gone is forgotten by Cassandra itself."""
        await self.cql.run(
            f"INSERT INTO {self.ks}.nodes (bucket, node, seen_at) VALUES (0, ?, ?) "
            f"USING TTL {NODE_TTL_S}",
            node,
            to_us(at),
        )

    async def mark_applied(self, node: str, serial: int, at: datetime) -> None:
        """Written with a day's TTL, as a lease."""
        await self.cql.run(
            f"INSERT INTO {self.ks}.feed_marks (bucket, node, applied, seen_at) "
            f"VALUES (0, ?, ?, ?) USING TTL {NODE_TTL_S}",
            node,
            serial,
            to_us(at),
        )

    async def clock(self) -> datetime:
        """The coordinator's clock (Cassandra's nodes keep theirs in step: its writes are
        ordered by time)."""
        rows = await self.cql.rows("SELECT toUnixTimestamp(now()) AS at FROM system.local")
        return datetime.fromtimestamp(int(rows[0]["at"]) / 1000, UTC)

    async def nodes_applied(self, since: datetime) -> dict[str, int | None]:
        at = to_us(since)
        leases, marks = await asyncio.gather(
            self.cql.rows(f"SELECT node, seen_at FROM {self.ks}.nodes WHERE bucket = 0"),
            self.cql.rows(
                f"SELECT node, applied, seen_at FROM {self.ks}.feed_marks WHERE bucket = 0"
            ),
        )
        marked = {str(r["node"]): r for r in marks}
        found: dict[str, int | None] = {
            str(r["node"]): None
            for r in leases
            if int(r["seen_at"]) >= at and str(r["node"]) not in marked
        }
        found.update({n: int(r["applied"]) for n, r in marked.items() if int(r["seen_at"]) >= at})
        return found

    async def nodes_seen_since(self, since: datetime) -> list[str]:
        rows = await self.cql.rows(f"SELECT node, seen_at FROM {self.ks}.nodes WHERE bucket = 0")
        return sorted(str(r["node"]) for r in rows if int(r["seen_at"]) >= to_us(since))

    async def set_password_hash(
        self,
        key: str,
        password_hash: str,
        *,
        credential: str | None = None,
        expected: str | None = None,
    ) -> bool:
        values: dict[str, Any] = {"password_hash": password_hash}
        if credential is not None:
            values["credential"] = credential
        sets = ", ".join(f"{c} = ?" for c in values)
        cql = f"UPDATE {self.ks}.users SET {sets} WHERE key = ?"
        if expected is None:
            applied, _ = await self.cql.lwt(f"{cql} IF EXISTS", *values.values(), key)
        else:  # Paxos: of two changes that read the same hash, one applies
            applied, _ = await self.cql.lwt(
                f"{cql} IF password_hash = ?", *values.values(), key, expected
            )
        return applied

    async def set_admin(self, key: str, is_admin: bool) -> bool:
        applied, _ = await self.cql.lwt(
            f"UPDATE {self.ks}.users SET is_admin = ? WHERE key = ? IF EXISTS", is_admin, key
        )
        return applied

    async def delete_user(self, key: str) -> AccountDeletion | None:
        """Decide the fate of the rooms they own, delete the user row (from then on every
        check says "no such user"), then what hangs off it, found through the per-user
        tables. Audit entries stay."""
        k = self.ks
        found = await self.cql.one(
            f"SELECT skeleton, password_hash, created_at FROM {k}.users WHERE key = ?", key
        )
        if found is None:
            return None
        doomed, kept = await self._owned_rooms(key)
        existed, _ = await self.cql.lwt(f"DELETE FROM {k}.users WHERE key = ? IF EXISTS", key)
        if not existed:  # deleted by someone else meanwhile
            return None
        rooms, ignoring, ignored_by, tokens = await asyncio.gather(
            self.cql.rows(f"SELECT room_key FROM {k}.user_rooms WHERE user_key = ?", key),
            self.cql.rows(f"SELECT ignored_key FROM {k}.ignores WHERE user_key = ?", key),
            self.cql.rows(f"SELECT user_key FROM {k}.ignored_by WHERE ignored_key = ?", key),
            self.cql.rows(f"SELECT hash FROM {k}.tokens_by_user WHERE user_key = ?", key),
        )
        writes: list[tuple[str, Params]] = [
            (
                f"DELETE FROM {k}.users_by_skeleton WHERE skeleton = ? AND key = ?",
                (found["skeleton"] or "", key),
            )
        ]
        if found["password_hash"] == GUEST_PASSWORD_HASH:
            writes.append(
                (
                    f"DELETE FROM {k}.guests WHERE bucket = 0 AND created_at = ? AND key = ?",
                    (found["created_at"], key),
                )
            )
        for r in rooms:
            writes += [
                (
                    f"DELETE FROM {k}.room_users WHERE room_key = ? AND user_key = ?",
                    (r["room_key"], key),
                ),
                (
                    f"DELETE FROM {k}.mutes WHERE bucket = 0 AND room_key = ? AND user_key = ?",
                    (r["room_key"], key),
                ),
                *(
                    (
                        f"DELETE FROM {k}.room_roles WHERE room_key = ? AND role = ? "
                        f"AND user_key = ?",
                        (r["room_key"], role, key),
                    )
                    for role in ("admin", "banned", "voiced")
                ),
            ]
        writes += [
            (
                f"DELETE FROM {k}.ignored_by WHERE ignored_key = ? AND user_key = ?",
                (r["ignored_key"], key),
            )
            for r in ignoring
        ]
        writes += [
            (
                f"DELETE FROM {k}.ignores WHERE user_key = ? AND ignored_key = ?",
                (r["user_key"], key),
            )
            for r in ignored_by
        ]
        writes += [(f"DELETE FROM {k}.tokens WHERE hash = ?", (r["hash"],)) for r in tokens]
        for table, column in (
            ("user_rooms", "user_key"),
            ("ignores", "user_key"),
            ("ignored_by", "ignored_key"),
            ("cursors", "user_key"),
            ("read_cursors", "user_key"),
            ("tokens_by_user", "user_key"),
            ("rooms_by_owner", "owner_key"),
        ):
            writes.append((f"DELETE FROM {k}.{table} WHERE {column} = ?", (key,)))
        for room_key, name in doomed.items():
            # raised before its members are read, as delete_room does: a join that lands
            # after that read sees it (cassandra_fences.py) and is taken back; without it
            # the joiner stayed a member of the room made again under the name (stop 54)
            closed = await self._close(room_key)
            writes += await self._room_deletion(room_key, key, name, closed or {})
        await self.cql.batches(writes)
        for room_key, name in doomed.items():
            await self.cql.lwt(f"DELETE FROM {k}.rooms WHERE key = ? IF EXISTS", room_key)
            await self._release_room(room_key, name)
        await self._release_user(key, str(found["skeleton"] or ""))
        # whoever registers the name next must not inherit the rooms
        for room_key, owner in kept.items():
            await self.cql.lwt(
                f"UPDATE {k}.rooms SET owner = null WHERE key = ? IF owner = ?", room_key, owner
            )
        return AccountDeletion(tuple(sorted(doomed)), tuple(sorted(kept)))

    async def _release_user(self, key: str, skel: str) -> None:
        """After the users row went: the skeleton's claim, if this user held it, goes to a
        look-alike still there (one registered before the rule), else is freed."""
        claim = await self.cql.one(
            f"SELECT key FROM {self.ks}.skeleton_claims WHERE kind = 'user' AND skeleton = ?",
            skel,
        )
        if claim is not None and claim["key"] == key:
            heir = await self.user_with_skeleton(skel)
            await self.claims.release("user", skel, key, heir.key if heir is not None else None)


_USER = "name, password_hash, credential, created_at, is_admin"


def _user(row: Row) -> User:
    return User(
        name=str(row["name"]),
        password_hash=str(row["password_hash"]),
        created_at=from_us(int(row["created_at"])),
        is_admin=bool(row["is_admin"]),
        credential=row["credential"] or "",
    )
