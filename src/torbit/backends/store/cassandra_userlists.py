"""Ignore lists and read cursors of CassandraStore (torbit.core.ports.Store): what a user
keeps for themselves, each in the user's partition (an ignore also in the ignored user's,
`ignored_by`). A mixin, as cassandra_sessions.py is, so that cassandra.py stays about users,
rooms and their members, and the nodes' leases."""

from __future__ import annotations

import asyncio

from torbit.backends.store.cassandra_cql import Cql
from torbit.backends.store.cassandra_fences import user_stays
from torbit.errors import NotFound


class UserListsCql:
    """Needs `cql` and `ks` from CassandraStore."""

    cql: Cql
    ks: str

    # ignore lists

    async def add_ignore(self, user_key: str, ignored_key: str) -> bool:
        k = self.ks
        user, ignored, pair = await asyncio.gather(
            self.cql.one(f"SELECT key FROM {k}.users WHERE key = ?", user_key),
            self.cql.one(f"SELECT key FROM {k}.users WHERE key = ?", ignored_key),
            self.cql.one(
                f"SELECT ignored_key FROM {k}.ignores WHERE user_key = ? AND ignored_key = ?",
                user_key,
                ignored_key,
            ),
        )
        if user is None or ignored is None:
            raise NotFound(f"no user {user_key!r} or no user {ignored_key!r}")
        if pair is not None:
            return False
        await self.cql.batch(
            [
                (
                    f"INSERT INTO {k}.ignores (user_key, ignored_key) VALUES (?, ?)",
                    (user_key, ignored_key),
                ),
                (
                    f"INSERT INTO {k}.ignored_by (ignored_key, user_key) VALUES (?, ?)",
                    (ignored_key, user_key),
                ),
            ]
        )
        await self._fence_ignore(user_key, ignored_key)
        return True

    async def _fence_ignore(self, user_key: str, ignored_key: str) -> None:
        """Either user deleted meanwhile (delete_user removes the users row, then reads
        both lists): take the pair back, else the name's next owner inherited it, ignored
        or ignoring (stop 54; cassandra_fences.py)."""
        stays = (user_stays(self.cql, self.ks, u) for u in (user_key, ignored_key))
        if all(await asyncio.gather(*stays)):
            return
        await self.remove_ignore(user_key, ignored_key)
        raise NotFound(f"no user {user_key!r} or no user {ignored_key!r}")

    async def remove_ignore(self, user_key: str, ignored_key: str) -> bool:
        k = self.ks
        if (
            await self.cql.one(
                f"SELECT ignored_key FROM {k}.ignores WHERE user_key = ? AND ignored_key = ?",
                user_key,
                ignored_key,
            )
            is None
        ):
            return False
        await self.cql.batch(
            [
                (
                    f"DELETE FROM {k}.ignores WHERE user_key = ? AND ignored_key = ?",
                    (user_key, ignored_key),
                ),
                (
                    f"DELETE FROM {k}.ignored_by WHERE ignored_key = ? AND user_key = ?",
                    (ignored_key, user_key),
                ),
            ]
        )
        return True

    async def list_ignores(self, user_key: str) -> list[str]:
        rows = await self.cql.rows(
            f"SELECT ignored_key FROM {self.ks}.ignores WHERE user_key = ?", user_key
        )
        return [str(r["ignored_key"]) for r in rows]

    async def ignorers(self, ignored_key: str) -> list[str]:
        rows = await self.cql.rows(
            f"SELECT user_key FROM {self.ks}.ignored_by WHERE ignored_key = ?", ignored_key
        )
        return [str(r["user_key"]) for r in rows]

    # read cursors

    async def get_cursor(self, user_key: str, channel: str) -> int | None:
        row = await self.cql.one(
            f"SELECT last_id FROM {self.ks}.read_cursors WHERE user_key = ? AND channel = ?",
            user_key,
            channel,
        )
        return int(row["last_id"]) if row is not None else None

    async def set_cursor(
        self, user_key: str, channel: str, last_id: int, *, at_once: bool = False
    ) -> None:
        """Never backward: a lightweight transaction `IF last_id < ?`, or, where there is no
        cursor yet, `IF NOT EXISTS` (and the first again if another came first). Usually one
        round of Paxos, never more than three."""
        k = self.ks
        while True:
            applied, row = await self.cql.lwt(
                f"UPDATE {k}.read_cursors SET last_id = ? WHERE user_key = ? AND channel = ? "
                "IF last_id < ?",
                last_id,
                user_key,
                channel,
                last_id,
            )
            if applied or row.get("last_id") is not None:  # moved, or already there or past
                return
            if await self.advance_cursor(user_key, channel, None, last_id):
                return

    async def advance_cursor(
        self, user_key: str, channel: str, expected: int | None, last_id: int
    ) -> bool:
        """A lightweight transaction: `IF last_id = ?`, or `IF NOT EXISTS` for no cursor yet,
        then taken back if the user was deleted meanwhile (NotFound, as SQL's foreign key):
        a logout's move written after `delete_user` made a cursor the name's next owner
        inherited (attack58)."""
        k = self.ks
        if expected is None:
            applied, _ = await self.cql.lwt(
                f"INSERT INTO {k}.read_cursors (user_key, channel, last_id) VALUES (?, ?, ?) "
                "IF NOT EXISTS",
                user_key,
                channel,
                last_id,
            )
            if applied and not await user_stays(self.cql, k, user_key):
                await self.cql.run(
                    f"DELETE FROM {k}.read_cursors WHERE user_key = ? AND channel = ?",
                    user_key,
                    channel,
                )
                raise NotFound(f"no user {user_key!r}")
        else:
            applied, _ = await self.cql.lwt(
                f"UPDATE {k}.read_cursors SET last_id = ? WHERE user_key = ? AND channel = ? "
                "IF last_id = ?",
                last_id,
                user_key,
                channel,
                expected,
            )
        return applied
