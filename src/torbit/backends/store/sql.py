"""SqlStore: torbit.core.ports.Store on SQLite (aiosqlite) or PostgreSQL (asyncpg), written
once in SQLAlchemy Core (no ORM: rows become the core's frozen dataclasses directly). What
differs between the engines lives in dialects.py; the tables in schema.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Row,
    Select,
    case,
    delete,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    union,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from torbit.backends.store.dialects import (
    DEFAULT_SYNCHRONOUS,
    Query,
    SqlDialect,
    dialect_for,
    is_unavailable,
    unavailable,
)
from torbit.backends.store.migrate import upgrade_engine
from torbit.backends.store.schema import (
    cursors,
    ignores,
    memberships,
    revocations,
    room_admins,
    rooms,
    tokens,
    users,
)
from torbit.backends.store.sql_guests import GuestsSql
from torbit.backends.store.sql_rooms import (
    ROOM_TABLES,
    USER_ROOM_TABLES,
    RoomModerationSql,
)
from torbit.backends.store.sql_rooms import room_of as _room
from torbit.backends.store.sql_text import (
    ADD_MEMBER,
    CREATE_USER,
    CREATE_USER_UNLIKE,
    GET_ROOM,
    GET_USER,
    OWNED_ROOMS,
    ROOMS_HELD,
    ROOMS_OF,
    TOKEN_EXPIRY,
    TOKEN_USER,
    USER_AND_IGNORES,
    USERS_NAMED_LIKE,
    room_at,
    user_of,
)
from torbit.core.health import Health
from torbit.core.models import AccountDeletion, Revocation, Room, User
from torbit.errors import Conflict, LooksAlike, NotFound, ServiceUnavailable

# the hot path's statements as SQLite runs them directly (dialects.py, SqlDialect.fetch)
_GET_CURSOR = "SELECT last_id FROM cursors WHERE user_key = ? AND channel = ?"
_SET_CURSOR = (
    "INSERT INTO cursors (user_key, channel, last_id) VALUES (?, ?, ?) "
    "ON CONFLICT (user_key, channel) DO UPDATE SET last_id = excluded.last_id "
    "WHERE cursors.last_id < excluded.last_id"
)
_ADVANCE_CURSOR = (
    "UPDATE cursors SET last_id = ? WHERE user_key = ? AND channel = ? AND last_id = ?"
)
_FIRST_CURSOR = (
    "INSERT INTO cursors (user_key, channel, last_id) VALUES (?, ?, ?) "
    "ON CONFLICT (user_key, channel) DO NOTHING"
)


class SqlStore(RoomModerationSql, GuestsSql):
    """Users, rooms, memberships, room moderation (sql_rooms.py), ignores, read cursors and
    login tokens in one SQL database.

    `url` is the configured storage URL (sqlite:///relative.db, sqlite:////abs.db,
    postgresql://user@host:port/db); `synchronous` is SQLite's durability setting (FULL
    survives power loss, NORMAL only a crash of the process) and is ignored by PostgreSQL."""

    def __init__(self, url: str, *, synchronous: str = DEFAULT_SYNCHRONOUS) -> None:
        self.dialect: SqlDialect = dialect_for(url)  # ConfigError now, not at open()
        self._synchronous = synchronous
        self._engine: AsyncEngine | None = None
        self.health = Health()

    @property
    def engine(self) -> AsyncEngine:
        """The open engine (for the local message log, which shares the database)."""
        if self._engine is None:
            raise ServiceUnavailable("storage unavailable: the store is not open")
        return self._engine

    async def open(self) -> None:
        """Connect and bring the schema up to date (Alembic upgrade head)."""
        if self._engine is not None:
            return
        engine: AsyncEngine | None = None
        try:
            # the upgrade on an engine of its own: a long migration must not hit the timeout
            # that bounds every statement of the serving engine
            upgrader = self.dialect.create_engine(
                synchronous=self._synchronous, command_timeout=None
            )
            try:
                await upgrade_engine(upgrader, self.dialect)
            finally:
                await upgrader.dispose()
            engine = self.dialect.create_engine(synchronous=self._synchronous)
        except Exception as e:
            if engine is not None:
                await engine.dispose()
            if is_unavailable(e):  # which database, for the one line a failed start prints
                failure = unavailable(e)
                raise ServiceUnavailable(f"{failure.message} ({self.dialect.safe_url})") from e
            raise
        self._engine = engine

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            try:
                await self.dialect.close()
                await engine.dispose()
            finally:
                await self.dialect.settle()  # every driver connection closed, its thread ended

    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.exec_driver_sql("SELECT 1")

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; engine failures become ServiceUnavailable."""
        try:
            async with self.engine.connect() as conn:
                yield conn
        except Exception as e:
            if is_unavailable(e):
                raise self.health.failed(unavailable(e)) from e
            raise

    async def fetch(self, query: Query, sql: str, *params: Any) -> Sequence[Sequence[Any]]:
        """The rows of a hot-path query (a login's, the history on a join): on SQLite its SQL
        text (sql_text.py) read at once on this thread (SqliteDialect.read_now), else on the
        driver; the Core query is built only where it runs (PostgreSQL) or once for its
        result processors. Also the message log's (same package)."""
        rows = self.dialect.read_now(self.engine, query, sql, params)
        if rows is not None:
            return rows
        async with self._read() as conn:
            return await self.dialect.fetch(conn, query, sql, params)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction, committed when the block ends without an error."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except Exception as e:
            if is_unavailable(e):
                raise self.health.failed(unavailable(e)) from e
            raise

    # users

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
        self, key: str, password_hash: str, *, credential: str | None = None
    ) -> bool:
        if credential is None:
            return await self._update_user(key, password_hash=password_hash)
        return await self._update_user(key, password_hash=password_hash, credential=credential)

    async def set_admin(self, key: str, is_admin: bool) -> bool:
        return await self._update_user(key, is_admin=is_admin)

    async def _update_user(self, key: str, **values: Any) -> bool:
        async with self._write() as conn:
            result = await conn.execute(update(users).where(users.c.key == key).values(**values))
        return result.rowcount > 0

    async def delete_user(self, key: str) -> AccountDeletion | None:
        """Delete the user with their memberships, admin rights, bans, mutes, invitations,
        ignores (both ways), cursors and tokens; rooms they owned are deleted when no one else
        is a member, else left server-owned. Audit entries naming them stay."""
        async with self._write() as conn:
            if (await conn.execute(select(users.c.key).where(users.c.key == key))).first() is None:
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

    # rooms and memberships

    async def ensure_room(self, room: Room, *, unlike: bool = True) -> Room:
        for _ in range(2):
            try:
                async with self._write() as conn:
                    # Insert first, read after: two nodes creating the same room agree on the
                    # winner; none read: a look-alike of another key is there.
                    await self.insert_room(conn, room, unlike=unlike)
                    query = select(rooms).where(rooms.c.key == room.key)
                    row = (await conn.execute(query)).first()
            except sa_exc.IntegrityError:  # the same key, another skeleton, at the same time:
                continue  # read again, now committed
            if row is None:
                raise LooksAlike(f"room #{room.name} reads like an existing room")
            return _room(row)
        raise Conflict(f"room #{room.name} was being created: try again")

    async def get_room(self, key: str) -> Room | None:
        rows = await self.fetch(lambda: select(rooms).where(rooms.c.key == key), GET_ROOM, key)
        return room_at(rows[0]) if rows else None

    async def list_rooms(
        self, *, after: str | None = None, limit: int | None = None
    ) -> list[tuple[Room, int]]:
        """Rooms with their member counts, ordered by key (the name, case-insensitively)."""
        query = _rooms_counted()
        if after is not None:
            query = query.where(rooms.c.key > after)
        if limit is not None:
            query = query.limit(limit)
        async with self._read() as conn:
            return [(_room(row), row.members) for row in await conn.execute(query)]

    async def rooms_with_counts(self, keys: list[str]) -> list[tuple[Room, int]]:
        if not keys:
            return []
        query = _rooms_counted().where(rooms.c.key.in_(sorted(set(keys))))
        async with self._read() as conn:
            return [(_room(row), row.members) for row in await conn.execute(query)]

    async def owned_rooms(self, user_key: str) -> list[str]:
        def query() -> Executable:
            return (
                select(rooms.c.key)
                .where(func.lower(rooms.c.owner) == user_key)
                .order_by(rooms.c.key)
            )

        return [r[0] for r in await self.fetch(query, OWNED_ROOMS, user_key)]

    async def add_member(self, room_key: str, user_key: str) -> bool:
        """True if the user was not a member before; NotFound if the room or user is unknown."""

        def insert() -> Executable:
            return (
                self.dialect.insert(memberships)
                .values(room_key=room_key, user_key=user_key)
                .on_conflict_do_nothing()
            )

        params = (room_key, user_key)
        try:  # every first join: on SQLite committed here when it is free (write_now)
            added = self.dialect.write_now(self.engine, ADD_MEMBER, params)
            if added is None:
                async with self._read() as conn:
                    added = await self.dialect.write(conn, insert, ADD_MEMBER, params)
        except sa_exc.IntegrityError:
            raise NotFound(f"no room {room_key!r} or no user {user_key!r}") from None
        return added > 0

    async def remove_member(self, room_key: str, user_key: str) -> bool:
        """The membership and its room admin rights go in one transaction."""
        async with self._write() as conn:
            result = await conn.execute(
                delete(memberships).where(
                    memberships.c.room_key == room_key, memberships.c.user_key == user_key
                )
            )
            await conn.execute(
                delete(room_admins).where(
                    room_admins.c.room_key == room_key, room_admins.c.user_key == user_key
                )
            )
        return bool(result.rowcount > 0)

    async def list_members(self, room_key: str) -> list[str]:
        """Display names of the room's members, sorted case-insensitively."""
        query = (
            select(users.c.name)
            .join(memberships, memberships.c.user_key == users.c.key)
            .where(memberships.c.room_key == room_key)
            .order_by(users.c.key)
        )
        async with self._read() as conn:
            return list((await conn.execute(query)).scalars())

    async def rooms_of(self, user_key: str) -> list[str]:
        def query() -> Executable:
            return (
                select(memberships.c.room_key)
                .where(memberships.c.user_key == user_key)
                .order_by(memberships.c.room_key)
            )

        return [r[0] for r in await self.fetch(query, ROOMS_OF, user_key)]

    async def rooms_held(self, user_key: str) -> list[str]:
        def query() -> Executable:
            return union(
                select(memberships.c.room_key).where(memberships.c.user_key == user_key),
                select(rooms.c.key).where(func.lower(rooms.c.owner) == user_key),
            ).order_by(literal_column("1"))

        return [r[0] for r in await self.fetch(query, ROOMS_HELD, user_key, user_key)]

    # ignore lists

    async def add_ignore(self, user_key: str, ignored_key: str) -> bool:
        """True if this was not ignored before; NotFound if either user is unknown."""
        insert = (
            self.dialect.insert(ignores)
            .values(user_key=user_key, ignored_key=ignored_key)
            .on_conflict_do_nothing()
        )
        try:
            async with self._write() as conn:
                result = await conn.execute(insert)
        except sa_exc.IntegrityError:
            raise NotFound(f"no user {user_key!r} or no user {ignored_key!r}") from None
        return result.rowcount > 0

    async def remove_ignore(self, user_key: str, ignored_key: str) -> bool:
        query = delete(ignores).where(
            ignores.c.user_key == user_key, ignores.c.ignored_key == ignored_key
        )
        async with self._write() as conn:
            result = await conn.execute(query)
        return result.rowcount > 0

    async def list_ignores(self, user_key: str) -> list[str]:
        query = (
            select(ignores.c.ignored_key)
            .where(ignores.c.user_key == user_key)
            .order_by(ignores.c.ignored_key)
        )
        async with self._read() as conn:
            return list((await conn.execute(query)).scalars())

    # read cursors

    async def get_cursor(self, user_key: str, channel: str) -> int | None:
        def query() -> Executable:
            return select(cursors.c.last_id).where(
                cursors.c.user_key == user_key, cursors.c.channel == channel
            )

        rows = await self.fetch(query, _GET_CURSOR, user_key, channel)
        return rows[0][0] if rows else None

    async def set_cursor(
        self, user_key: str, channel: str, last_id: int, *, at_once: bool = False
    ) -> None:
        """Move the cursor forward (never backward) to last_id, in one statement so that two
        concurrent calls cannot interleave a read and a write. `at_once` (a long poll's
        move, woken or read again): on SQLite committed here and now when SQLite is free
        (write_now), as a receive's compare-and-set is, so that this node's cursor writes
        keep the order of the requests that made them; else queued for the pooled connection."""

        def upsert() -> Executable:
            insert = self.dialect.insert(cursors).values(
                user_key=user_key, channel=channel, last_id=last_id
            )
            return insert.on_conflict_do_update(
                index_elements=[cursors.c.user_key, cursors.c.channel],
                set_={"last_id": insert.excluded.last_id},
                where=cursors.c.last_id < insert.excluded.last_id,
            )

        params = (user_key, channel, last_id)
        try:
            moved = self.dialect.write_now(self.engine, _SET_CURSOR, params) if at_once else None
            if moved is None:
                async with self._read() as conn:
                    await self.dialect.write(conn, upsert, _SET_CURSOR, params)
        except sa_exc.IntegrityError:
            raise NotFound(f"no user {user_key!r}") from None

    async def advance_cursor(
        self, user_key: str, channel: str, expected: int | None, last_id: int
    ) -> bool:
        """Compare-and-set, in one statement: `UPDATE ... WHERE last_id = expected`, or where
        there is no cursor yet an insert that does nothing on a conflict. The row is written
        under the database's row lock, so of two receives on two nodes that read the same
        cursor only one moves it."""

        def move() -> Executable:
            if expected is None:
                insert = self.dialect.insert(cursors).values(
                    user_key=user_key, channel=channel, last_id=last_id
                )
                return insert.on_conflict_do_nothing(
                    index_elements=[cursors.c.user_key, cursors.c.channel]
                )
            return (
                update(cursors)
                .where(
                    cursors.c.user_key == user_key,
                    cursors.c.channel == channel,
                    cursors.c.last_id == expected,
                )
                .values(last_id=last_id)
            )

        params: tuple[Any, ...]
        if expected is None:
            sql, params = _FIRST_CURSOR, (user_key, channel, last_id)
        else:
            sql, params = _ADVANCE_CURSOR, (last_id, user_key, channel, expected)
        try:
            # A receive's move, on SQLite committed here and now when SQLite is free (as a
            # woken poll's: `set_cursor`): through the pooled connection it was a lease, a
            # hand-off to aiosqlite's thread and back and the pool's reset, ~40 % of the
            # page's server CPU (bench/JOURNAL.md, branch `perf`). The statement compares and
            # sets by itself, so where it runs changes nothing of who wins a race.
            moved = self.dialect.write_now(self.engine, sql, params)
            if moved is not None:
                return moved == 1
            async with self._read() as conn:
                return await self.dialect.write(conn, move, sql, params) == 1
        except sa_exc.IntegrityError:
            raise NotFound(f"no user {user_key!r}") from None

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
        async with self._write() as conn:
            result = await conn.execute(delete(tokens).where(tokens.c.hash == token_hash))
        return result.rowcount > 0

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
        async with self._write() as conn:
            result = await conn.execute(delete(revocations).where(revocations.c.at < older_than))
        return result.rowcount


def _user(row: Row[Any]) -> User:
    return User(
        name=row.name,
        password_hash=row.password_hash,
        created_at=row.created_at,
        is_admin=bool(row.is_admin),
        credential=row.credential,
    )


def _rooms_counted() -> Select[Any]:
    """Rooms with their member counts, ordered by key."""
    count = func.count(memberships.c.user_key).label("members")
    return (
        select(rooms, count)
        .select_from(rooms.outerjoin(memberships, memberships.c.room_key == rooms.c.key))
        .group_by(*rooms.c)
        .order_by(rooms.c.key)
    )
