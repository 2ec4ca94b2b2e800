"""The users part of SqlStore (torbit.core.ports.Store): accounts (created, found by name or
look-alike, changed, deleted with everything that names them) and their ignore lists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, case, delete, exists, func, literal, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import Executable

from torbit.backends.store.schema import cursors, ignores, memberships, rooms, tokens, users
from torbit.backends.store.sql_connections import SqlConnections
from torbit.backends.store.sql_rooms import ROOM_TABLES, USER_ROOM_TABLES
from torbit.backends.store.sql_text import (
    CREATE_USER,
    CREATE_USER_UNLIKE,
    GET_USER,
    USER_AND_IGNORES,
    USERS_NAMED_LIKE,
    user_of,
)
from torbit.core.models import AccountDeletion, User
from torbit.errors import Conflict


class UsersSql(SqlConnections):
    """On SqlStore's connections (sql_connections.py)."""

    async def create_user(self, user: User, *, unlike: bool = False, node: str = "") -> User:
        values = {
            "key": user.key,
            "name": user.name,
            "password_hash": user.password_hash,
            "created_at": user.created_at,
            "is_admin": user.is_admin,
            "credential": user.credential,
            "skeleton": user.skeleton,
            "node": node,
        }

        def insert() -> Executable:
            if not unlike:
                return users.insert().values(values)
            row = select(*(literal(values[c.name], c.type) for c in users.c))
            free = ~exists().where(users.c.skeleton == user.skeleton)
            return users.insert().from_select(list(values), row.where(free))

        at = self.dialect.stored_time(self.engine, user.created_at)
        params = [at if c.name == "created_at" else values[c.name] for c in users.c]
        sql = CREATE_USER
        if unlike:
            sql, params = CREATE_USER_UNLIKE, [*params, user.skeleton]
        try:
            # SQLite: inserted at once on this thread when its write lock is free (its writes
            # take turns, so the insert's NOT EXISTS sees every name committed before it)
            inserted = self.dialect.write_now(self.engine, sql, params)
            if inserted is None:
                async with self._read() as conn:
                    if unlike:
                        await self.dialect.lock_name(conn, user.skeleton)
                    inserted = await self.dialect.write(conn, insert, sql, params)
        except sa_exc.IntegrityError:
            raise Conflict(f"the name {user.name!r} is taken") from None
        if not inserted:
            raise Conflict(f"the name {user.name!r} reads like a taken one")
        return user

    async def get_user(self, key: str) -> User | None:
        rows = await self.fetch(lambda: select(users).where(users.c.key == key), GET_USER, key)
        return user_of(rows[0]) if rows else None

    async def user_with_skeleton(self, skeleton: str) -> User | None:
        query = select(users).where(users.c.skeleton == skeleton).limit(1)
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return _user(row) if row is not None else None

    async def users_named_like(self, key: str, skeleton: str) -> list[User]:
        def query() -> Executable:
            return (
                select(users)
                .where(or_(users.c.key == key, users.c.skeleton == skeleton))
                .order_by(case((users.c.key == key, 0), else_=1))
                .limit(2)
            )

        return [user_of(r) for r in await self.fetch(query, USERS_NAMED_LIKE, key, skeleton, key)]

    async def user_and_ignores(self, key: str) -> tuple[User | None, list[str]]:
        def query() -> Executable:
            return (
                select(users, ignores.c.ignored_key)
                .select_from(users.outerjoin(ignores, ignores.c.user_key == users.c.key))
                .where(users.c.key == key)
                .order_by(ignores.c.ignored_key)
            )

        rows = await self.fetch(query, USER_AND_IGNORES, key)
        if not rows:
            return None, []
        last = len(users.c)  # the ignored key, after the user's columns
        return user_of(rows[0]), [r[last] for r in rows if r[last] is not None]

    async def list_users(self) -> list[User]:
        async with self._read() as conn:
            result = await conn.execute(select(users).order_by(users.c.key))
            return [_user(row) for row in result]

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
        where = users.c.key == key
        if expected is not None:  # one UPDATE: the row lock decides which change wins
            where = where & (users.c.password_hash == expected)
        return await self._changed(update(users).where(where).values(**values))

    async def set_admin(self, key: str, is_admin: bool) -> bool:
        return await self._update_user(key, is_admin=is_admin)

    async def _update_user(self, key: str, **values: Any) -> bool:
        return await self._changed(update(users).where(users.c.key == key).values(**values))

    async def delete_user(self, key: str) -> AccountDeletion | None:
        """Delete the user with their memberships, admin rights, bans, mutes, invitations,
        ignores (both ways), cursors and tokens; rooms they owned are deleted when no one else
        is a member, else left server-owned. Audit entries naming them stay."""
        async with self._write() as conn:
            # held to the commit: a room its owner creates meanwhile waits (`insert_room`),
            # else made after the owned rooms were read it kept the name's next holder's
            mine = select(users.c.key).where(users.c.key == key).with_for_update()
            if (await conn.execute(mine)).first() is None:
                return None
            owned = list(
                (
                    await conn.execute(select(rooms.c.key).where(func.lower(rooms.c.owner) == key))
                ).scalars()
            )
            others = select(memberships.c.room_key).where(
                memberships.c.room_key.in_(owned), memberships.c.user_key != key
            )
            kept = set((await conn.execute(others.distinct())).scalars()) if owned else set()
            doomed = [r for r in owned if r not in kept]
            await conn.execute(delete(memberships).where(memberships.c.user_key == key))
            for table in USER_ROOM_TABLES:
                await conn.execute(delete(table).where(table.c.user_key == key))
            if doomed:
                for table in (memberships, *ROOM_TABLES):
                    await conn.execute(delete(table).where(table.c.room_key.in_(doomed)))
                await conn.execute(delete(cursors).where(cursors.c.channel.in_(doomed)))
                await conn.execute(delete(rooms).where(rooms.c.key.in_(doomed)))
            # whoever registers the name next must not inherit the rooms
            await conn.execute(
                update(rooms).where(func.lower(rooms.c.owner) == key).values(owner=None)
            )
            await conn.execute(
                delete(ignores).where(or_(ignores.c.user_key == key, ignores.c.ignored_key == key))
            )
            await conn.execute(delete(cursors).where(cursors.c.user_key == key))
            await conn.execute(delete(tokens).where(tokens.c.user_key == key))
            await conn.execute(delete(users).where(users.c.key == key))
        return AccountDeletion(tuple(sorted(doomed)), tuple(sorted(kept)))

    # ignore lists

    async def add_ignore(self, user_key: str, ignored_key: str) -> bool:
        """True if this was not ignored before; NotFound if either user is unknown."""
        insert = (
            self.dialect.insert(ignores)
            .values(user_key=user_key, ignored_key=ignored_key)
            .on_conflict_do_nothing()
        )
        return await self._changed(insert, f"no user {user_key!r} or no user {ignored_key!r}")

    async def remove_ignore(self, user_key: str, ignored_key: str) -> bool:
        query = delete(ignores).where(
            ignores.c.user_key == user_key, ignores.c.ignored_key == ignored_key
        )
        return await self._changed(query)

    async def list_ignores(self, user_key: str) -> list[str]:
        query = (
            select(ignores.c.ignored_key)
            .where(ignores.c.user_key == user_key)
            .order_by(ignores.c.ignored_key)
        )
        return await self._column(query)

    async def ignorers(self, ignored_key: str) -> list[str]:
        query = (
            select(ignores.c.user_key)
            .where(ignores.c.ignored_key == ignored_key)
            .order_by(ignores.c.user_key)
        )
        return await self._column(query)


def _user(row: Row[Any]) -> User:
    return User(
        name=row.name,
        password_hash=row.password_hash,
        created_at=row.created_at,
        is_admin=bool(row.is_admin),
        credential=row.credential,
    )
