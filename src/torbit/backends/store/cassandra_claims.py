"""Skeleton claims: of look-alike names (rooms, users) created at once on several nodes of
Cassandra, exactly one is.

Reading rooms_by_skeleton (users_by_skeleton) and then writing are two steps, and a lock of
the node's covers one node only: two nodes could both read "none" and both write. So a
creator also claims the skeleton in skeleton_claims, one row per (kind, skeleton), written
only by lightweight transactions (Paxos serialises them across nodes):

1. `INSERT ... IF NOT EXISTS`, marked pending, with a TTL: a creator that dies in between
   frees the skeleton by itself after CLAIM_TTL_S.
2. The creator writes its row (rooms or users, IF NOT EXISTS as before), then confirms the
   claim (`IF key = mine`), which drops the pending mark and the TTL; a claim that a
   deleter of the same key released meanwhile is taken again, and a creator that lost its
   claim to a look-alike (past the TTL) takes its row back.

Another key's claim makes the creation lose (the same error as a look-alike found by the
read), unless the claim is confirmed and its room or user is gone (a deleter died before
releasing it): that claim is taken over by compare-and-set. The claim of the key being
created itself lets the creation go on: rooms' and users' own IF NOT EXISTS decides then.
Deleting a room or a user releases its claim, or hands it to a look-alike that was stored
before the rule and still exists. A creation whose row was not written, its key taken by a
name of another skeleton, drops its pending claim at once (`drop`). Names created without
the rule (`unlike=False`) claim nothing; the read still finds them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from torbit.backends.store.cassandra_cql import Cql

CLAIM_TTL_S = 60  # a creator that died between claiming and confirming frees it after this
TAKE_TRIES = 3  # rounds of compare-and-set against claims that change under us

Exists = Callable[[str], Awaitable[bool]]  # whether this key's room or user has the skeleton


class SkeletonClaims:
    """The claims of one keyspace; `kind` is "room" or "user"."""

    def __init__(self, cql: Cql, ks: str) -> None:
        self.cql = cql
        self.ks = ks

    async def take(self, kind: str, skeleton: str, key: str, exists: Exists) -> bool:
        """Whether `key` may be created: it holds the claim now (pending, or its own)."""
        table = f"{self.ks}.skeleton_claims"
        for _ in range(TAKE_TRIES):
            applied, row = await self.cql.lwt(
                f"INSERT INTO {table} (kind, skeleton, key, pending) VALUES (?, ?, ?, true) "
                f"IF NOT EXISTS USING TTL {CLAIM_TTL_S}",
                kind,
                skeleton,
                key,
            )
            holder = row.get("key")
            if applied or holder == key:
                return True
            if holder is None:  # expired or released in between
                continue
            if row.get("pending") or await exists(str(holder)):
                return False
            applied, _ = await self.cql.lwt(
                f"UPDATE {table} USING TTL {CLAIM_TTL_S} SET key = ?, pending = true "
                f"WHERE kind = ? AND skeleton = ? IF key = ? AND pending = null",
                key,
                kind,
                skeleton,
                holder,
            )
            if applied:
                return True
        return False

    async def confirm(self, kind: str, skeleton: str, key: str) -> bool:
        """Make the claim of `key` lasting; False if another key holds it (ours expired)."""
        applied, _ = await self.cql.lwt(
            f"UPDATE {self.ks}.skeleton_claims SET key = ?, pending = null "
            f"WHERE kind = ? AND skeleton = ? IF key = ?",
            key,
            kind,
            skeleton,
            key,
        )
        return applied

    async def keep(self, kind: str, skeleton: str, key: str, exists: Exists) -> bool:
        """After `key`'s row is written: confirm its claim. One released meanwhile (by a
        deleter of a room or user of this key) is taken again; False only if a look-alike
        holds it now (ours expired), and then `key`'s row must go."""
        if await self.confirm(kind, skeleton, key):
            return True
        return await self.take(kind, skeleton, key, exists) and await self.confirm(
            kind, skeleton, key
        )

    async def drop(self, kind: str, skeleton: str, key: str) -> None:
        """`key`'s row was not written (the key is taken by a name of another skeleton,
        `iisa` where `Iisa` was asked): its pending claim goes now, not at its TTL. Left
        there, a refused creation held the skeleton for CLAIM_TTL_S, and one a minute held
        it for good (`lisa` denied to all by `NICK Iisa` beside a guest `iisa`). A claim
        already confirmed (a creator of this key and skeleton won) is left alone."""
        await self.cql.lwt(
            f"DELETE FROM {self.ks}.skeleton_claims WHERE kind = ? AND skeleton = ? "
            "IF key = ? AND pending = true",
            kind,
            skeleton,
            key,
        )

    async def release(self, kind: str, skeleton: str, key: str, heir: str | None) -> None:
        """After `key` was deleted: hand its claim to `heir` (a look-alike still there), or
        free it. A claim held by another key, or pending (the same key created again), is
        left alone."""
        if heir is not None:
            await self.cql.lwt(
                f"UPDATE {self.ks}.skeleton_claims SET key = ?, pending = null "
                f"WHERE kind = ? AND skeleton = ? IF key = ? AND pending = null",
                heir,
                kind,
                skeleton,
                key,
            )
            return
        await self.cql.lwt(
            f"DELETE FROM {self.ks}.skeleton_claims WHERE kind = ? AND skeleton = ? "
            "IF key = ? AND pending = null",
            kind,
            skeleton,
            key,
        )
