"""Login tokens and revocations of SqlStore (torbit.core.ports.Store): how sessions are
proven and how they end (as cassandra_sessions.py is CassandraStore's)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import delete, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import Executable

from torbit.backends.store.schema import revocations, tokens
from torbit.backends.store.sql_connections import SqlConnections
from torbit.backends.store.sql_text import TOKEN_EXPIRY, TOKEN_USER
from torbit.core.models import Revocation
from torbit.errors import NotFound


class SessionsSql(SqlConnections):
    """On SqlStore's connections (sql_connections.py)."""

    # login tokens

    async def create_token(self, token_hash: str, user_key: str, expires_at: datetime) -> None:
        values = {"hash": token_hash, "user_key": user_key, "expires_at": expires_at}
        try:
            async with self._write() as conn:
                await conn.execute(tokens.insert(), values)
        except sa_exc.IntegrityError:
            raise NotFound(f"no user {user_key!r}") from None

    async def token_user(self, token_hash: str, now: datetime) -> str | None:
        """Every socket opened with a token reads it: a hot-path query (`fetch`)."""

        def query() -> Executable:
            return select(tokens.c.user_key).where(
                tokens.c.hash == token_hash, tokens.c.expires_at > now
            )

        at = self.dialect.stored_time(self.engine, now)
        rows = await self.fetch(query, TOKEN_USER, token_hash, at)
        return rows[0][0] if rows else None

    async def token_expiry(self, token_hash: str) -> datetime | None:
        """Every socket opened with a token reads it too (its close at expiry): on the hot
        path like `token_user` (`fetch`: on SQLite no hand-off to the driver's thread)."""

        def query() -> Executable:
            return select(tokens.c.expires_at).where(tokens.c.hash == token_hash)

        rows = await self.fetch(query, TOKEN_EXPIRY, token_hash)
        return cast(datetime, rows[0][0]) if rows else None

    async def delete_token(self, token_hash: str) -> bool:
        return await self._changed(delete(tokens).where(tokens.c.hash == token_hash))

    async def delete_tokens_of(self, user_key: str) -> int:
        async with self._write() as conn:
            result = await conn.execute(delete(tokens).where(tokens.c.user_key == user_key))
        return result.rowcount

    async def trim_tokens(self, user_key: str, keep: int) -> list[str]:
        async with self._write() as conn:
            rows = await conn.execute(
                select(tokens.c.hash)
                .where(tokens.c.user_key == user_key)
                .order_by(tokens.c.expires_at.desc(), tokens.c.hash)
                .offset(keep)
            )
            old = [str(r[0]) for r in rows]
            if old:
                await conn.execute(delete(tokens).where(tokens.c.hash.in_(old)))
        return old[::-1]

    async def purge_tokens(self, now: datetime) -> int:
        async with self._write() as conn:
            result = await conn.execute(delete(tokens).where(tokens.c.expires_at <= now))
        return result.rowcount

    # revocations

    async def add_revocation(self, revocation: Revocation, at: datetime) -> int:
        values = {
            "at": at,
            "user_key": revocation.user,
            "reason": revocation.reason,
            "credential": revocation.credential,
            "token": revocation.token,
            "deleted": revocation.deleted,
        }
        async with self._write() as conn:
            result = await conn.execute(
                revocations.insert().returning(revocations.c.serial), values
            )
            serial: int = result.scalar_one()
        return serial

    async def revocations_after(
        self, serial: int, limit: int = 100
    ) -> list[tuple[int, Revocation]]:
        query = (
            select(revocations)
            .where(revocations.c.serial > serial)
            .order_by(revocations.c.serial)
            .limit(limit)
        )
        async with self._read() as conn:
            return [
                (
                    r.serial,
                    Revocation(r.user_key, r.reason, r.credential, r.token, bool(r.deleted)),
                )
                for r in await conn.execute(query)
            ]

    async def last_revocation(self) -> int:
        async with self._read() as conn:
            last = (await conn.execute(select(func.max(revocations.c.serial)))).scalar()
        return int(last or 0)

    async def purge_revocations(self, older_than: datetime) -> int:
        """The newest row stays, however old: `last_revocation` reads it, where a starting
        node begins. Emptied, a PostgreSQL table answered 0 while its sequence went on, so a
        node started then took the next revocation for one past a gap and applied it
        GAP_WAIT_S (10 s) late, and the CLI waiting for it named every node."""
        newest = select(func.max(revocations.c.serial)).scalar_subquery()
        old = delete(revocations).where(
            revocations.c.at < older_than, revocations.c.serial < newest
        )
        async with self._write() as conn:
            result = await conn.execute(old)
        return result.rowcount
