"""Login tokens and revocations of CassandraStore (torbit.core.ports.Store): how sessions are
proven and how they end. A mixin, so that cassandra.py stays about users, memberships,
ignores and cursors."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from torbit.backends.store.cassandra_audit import BUCKET_BITS
from torbit.backends.store.cassandra_cql import Cql, Params, from_us, to_us
from torbit.core.models import Revocation
from torbit.errors import NotFound

# Tokens also carry a TTL, so that those nobody purges still go (the expiry check is exact
# regardless); this much after they expire, as a margin for clocks.
TOKEN_TTL_MARGIN_S = 3600
MAX_TTL_S = 630_720_000  # Cassandra's limit: 20 years


class SessionsCql:
    """Needs `cql`, `ks`, `_next_serial` and `_last_serial` from CassandraStore."""

    cql: Cql
    ks: str

    async def _next_serial(self, name: str) -> int:
        raise NotImplementedError

    async def _last_serial(self, name: str) -> int:
        raise NotImplementedError

    # login tokens

    async def create_token(self, token_hash: str, user_key: str, expires_at: datetime) -> None:
        k = self.ks
        if await self.cql.one(f"SELECT key FROM {k}.users WHERE key = ?", user_key) is None:
            raise NotFound(f"no user {user_key!r}")
        left = (to_us(expires_at) - to_us(datetime.now(UTC))) / 1e6
        ttl = (
            ""
            if left <= 0
            else (f" USING TTL {min(MAX_TTL_S, math.ceil(left) + TOKEN_TTL_MARGIN_S)}")
        )
        await self.cql.batch(
            [
                (
                    f"INSERT INTO {k}.tokens (hash, user_key, expires_at) VALUES (?, ?, ?){ttl}",
                    (token_hash, user_key, to_us(expires_at)),
                ),
                (
                    f"INSERT INTO {k}.tokens_by_user (user_key, hash) VALUES (?, ?){ttl}",
                    (user_key, token_hash),
                ),
            ]
        )

    async def token_user(self, token_hash: str, now: datetime) -> str | None:
        row = await self.cql.one(
            f"SELECT user_key, expires_at FROM {self.ks}.tokens WHERE hash = ?", token_hash
        )
        if row is None or int(row["expires_at"]) <= to_us(now):
            return None
        return str(row["user_key"])

    async def token_expiry(self, token_hash: str) -> datetime | None:
        row = await self.cql.one(
            f"SELECT expires_at FROM {self.ks}.tokens WHERE hash = ?", token_hash
        )
        return None if row is None else from_us(int(row["expires_at"]))

    async def delete_token(self, token_hash: str) -> bool:
        row = await self.cql.one(
            f"SELECT user_key FROM {self.ks}.tokens WHERE hash = ?", token_hash
        )
        if row is None:
            return False
        await self._delete_tokens([(token_hash, str(row["user_key"]))])
        return True

    async def delete_tokens_of(self, user_key: str) -> int:
        rows = await self.cql.rows(
            f"SELECT hash FROM {self.ks}.tokens_by_user WHERE user_key = ?", user_key
        )
        await self._delete_tokens([(str(r["hash"]), user_key) for r in rows])
        return len(rows)

    async def trim_tokens(self, user_key: str, keep: int) -> list[str]:
        """One partition read; the expiries are read only when there are too many."""
        k = self.ks
        rows = await self.cql.rows(
            f"SELECT hash FROM {k}.tokens_by_user WHERE user_key = ?", user_key
        )
        if len(rows) <= keep:
            return []
        dated: list[tuple[int, str]] = []
        for r in rows:
            row = await self.cql.one(f"SELECT expires_at FROM {k}.tokens WHERE hash = ?", r["hash"])
            dated.append((int(row["expires_at"]) if row is not None else 0, str(r["hash"])))
        dated.sort(key=lambda d: (-d[0], d[1]))
        old = [h for _, h in dated[keep:]]
        await self._delete_tokens([(h, user_key) for h in old])
        return old[::-1]

    async def purge_tokens(self, now: datetime) -> int:
        """A scan of the tokens table: it runs now and then, off every request's path."""
        cutoff = to_us(now)
        rows = await self.cql.rows(f"SELECT hash, user_key, expires_at FROM {self.ks}.tokens")
        expired = [
            (str(r["hash"]), str(r["user_key"])) for r in rows if int(r["expires_at"]) <= cutoff
        ]
        await self._delete_tokens(expired)
        return len(expired)

    async def _delete_tokens(self, tokens: list[tuple[str, str]]) -> None:
        k = self.ks
        writes: list[tuple[str, Params]] = []
        for token_hash, user_key in tokens:
            writes += [
                (f"DELETE FROM {k}.tokens WHERE hash = ?", (token_hash,)),
                (
                    f"DELETE FROM {k}.tokens_by_user WHERE user_key = ? AND hash = ?",
                    (user_key, token_hash),
                ),
            ]
        await self.cql.batches(writes)

    # revocations

    async def add_revocation(self, revocation: Revocation, at: datetime) -> int:
        serial = await self._next_serial("revocations")
        await self.cql.run(
            f"INSERT INTO {self.ks}.revocations (bucket, serial, at, user_key, reason, "
            f"credential, token_hash, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            serial >> BUCKET_BITS,
            serial,
            to_us(at),
            revocation.user,
            revocation.reason,
            revocation.credential,
            revocation.token,
            revocation.deleted,
        )
        return serial

    async def revocations_after(
        self, serial: int, limit: int = 100
    ) -> list[tuple[int, Revocation]]:
        out: list[tuple[int, Revocation]] = []
        last = await self._last_serial("revocations")
        bucket = (serial + 1) >> BUCKET_BITS
        while bucket <= last >> BUCKET_BITS and len(out) < limit:
            rows = await self.cql.rows(
                f"SELECT serial, user_key, reason, credential, token_hash, deleted "
                f"FROM {self.ks}.revocations WHERE bucket = ? AND serial > ? LIMIT ?",
                bucket,
                serial,
                limit - len(out),
            )
            out += [
                (
                    int(r["serial"]),
                    Revocation(
                        str(r["user_key"]),
                        str(r["reason"]),
                        r["credential"] or "",
                        r["token_hash"] or "",
                        bool(r["deleted"]),
                    ),
                )
                for r in rows
            ]
            bucket += 1
        return out

    async def last_revocation(self) -> int:
        return await self._last_serial("revocations")

    async def purge_revocations(self, older_than: datetime) -> int:
        """Nodes keep a day of them: a scan of so few rows is cheap. The newest stays, as
        on SQL (sql_sessions.py)."""
        cutoff = to_us(older_than)
        rows = await self.cql.rows(f"SELECT bucket, serial, at FROM {self.ks}.revocations")
        newest = max((int(r["serial"]) for r in rows), default=0)
        old = [
            (r["bucket"], r["serial"])
            for r in rows
            if int(r["at"]) < cutoff and int(r["serial"]) < newest
        ]
        await self.cql.batches(
            [
                (f"DELETE FROM {self.ks}.revocations WHERE bucket = ? AND serial = ?", key)
                for key in old
            ]
        )
        return len(old)
