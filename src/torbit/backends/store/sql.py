"""SqlStore: torbit.core.ports.Store on SQLite (aiosqlite) or PostgreSQL (asyncpg), written
once in SQLAlchemy Core (no ORM: rows become the core's frozen dataclasses directly). What
differs between the engines lives in dialects.py; the tables in schema.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, literal_column, select, union, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import Executable

from torbit.backends.store import departures
from torbit.backends.store.dialects import SqlDialect
from torbit.backends.store.schema import cursors, memberships, room_admins, rooms
from torbit.backends.store.sql_audit import AuditSql
from torbit.backends.store.sql_guests import GuestsSql
from torbit.backends.store.sql_masks import RoomMasksSql
from torbit.backends.store.sql_rooms import RoomModerationSql
from torbit.backends.store.sql_rooms import room_of as _room
from torbit.backends.store.sql_sessions import SessionsSql
from torbit.backends.store.sql_text import (
    ADD_MEMBER,
    GET_ROOM,
    IS_MEMBER,
    OWNED_ROOMS,
    ROOMS_HELD,
    ROOMS_OF,
    room_at,
)
from torbit.backends.store.sql_users import UsersSql
from torbit.core.models import Departure, Room
from torbit.errors import Conflict, LooksAlike, NotFound

# the hot path's statements as SQLite runs them directly (dialects.py, SqlDialect.fetch)
_GET_CURSOR = "SELECT last_id FROM cursors WHERE user_key = ? AND channel = ?"
_SET_CURSOR = (
    "INSERT INTO cursors (user_key, channel, last_id) VALUES (?, ?, ?) "
    "ON CONFLICT (user_key, channel) DO UPDATE SET last_id = excluded.last_id "
    "WHERE cursors.last_id < excluded.last_id"
)
_LAST_ENTERED = (
    "SELECT room_key FROM memberships WHERE user_key = ? AND entered_at IS NOT NULL "
    "ORDER BY entered_at DESC LIMIT 1"
)
_ENTER_ROOM = "UPDATE memberships SET entered_at = ? WHERE room_key = ? AND user_key = ?"
_ADVANCE_CURSOR = (
    "UPDATE cursors SET last_id = ? WHERE user_key = ? AND channel = ? AND last_id = ?"
)
_FIRST_CURSOR = (
    "INSERT INTO cursors (user_key, channel, last_id) VALUES (?, ?, ?) "
    "ON CONFLICT (user_key, channel) DO NOTHING"
)


class SqlStore(UsersSql, RoomModerationSql, RoomMasksSql, AuditSql, GuestsSql, SessionsSql):
    """Users and their ignores (sql_users.py), rooms, memberships, room moderation
    (sql_rooms.py, sql_masks.py, sql_audit.py), guests (sql_guests.py), read cursors, login
    tokens and revocations (sql_sessions.py) in one SQL database, on one engine
    (sql_connections.py).

    `url` is the configured storage URL (sqlite:///relative.db, sqlite:////abs.db,
    postgresql://user@host:port/db); `synchronous` is SQLite's durability setting (FULL
    survives power loss, NORMAL only a crash of the process) and is ignored by PostgreSQL;
    `command_timeout` (storage.command_timeout) bounds each statement: PostgreSQL's wait
    for its answer, SQLite's for another connection's write lock (its busy_timeout)."""

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

    async def add_member(self, room_key: str, user_key: str, *, by_right: bool = False) -> bool:
        """True if the user was not a member before; NotFound if the room or user is unknown."""

        def insert() -> Executable:
            return (
                self.dialect.insert(memberships)
                .values(room_key=room_key, user_key=user_key, by_right=by_right)
                .on_conflict_do_nothing()
            )

        params = (room_key, user_key, by_right)
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

    async def remove_member_by_right(self, room_key: str, user_key: str) -> bool:
        """The membership, if still by right alone, and its room admin rights: one
        transaction, so an `admit_member` either lands first (nothing is removed) or after
        (it finds no membership)."""
        async with self._write() as conn:
            result = await conn.execute(
                delete(memberships).where(
                    memberships.c.room_key == room_key,
                    memberships.c.user_key == user_key,
                    memberships.c.by_right,
                )
            )
            if result.rowcount > 0:
                await conn.execute(
                    delete(room_admins).where(
                        room_admins.c.room_key == room_key, room_admins.c.user_key == user_key
                    )
                )
        return bool(result.rowcount > 0)

    async def list_members(self, room_key: str) -> list[str]:
        """Display names of the room's members, sorted case-insensitively."""
        return await self._names_in(memberships, room_key)

    async def rooms_of(self, user_key: str) -> list[str]:
        def query() -> Executable:
            return (
                select(memberships.c.room_key)
                .where(memberships.c.user_key == user_key)
                .order_by(memberships.c.room_key)
            )

        return [r[0] for r in await self.fetch(query, ROOMS_OF, user_key)]

    async def is_member(self, room_key: str, user_key: str) -> bool:
        """One indexed read of the pair's memberships row (its primary key)."""

        def query() -> Executable:
            return select(memberships.c.room_key).where(
                memberships.c.room_key == room_key, memberships.c.user_key == user_key
            )

        return bool(await self.fetch(query, IS_MEMBER, room_key, user_key))

    async def rooms_joined_by_right(self, user_key: str) -> list[str]:
        query = (
            select(memberships.c.room_key)
            .where(memberships.c.user_key == user_key, memberships.c.by_right)
            .order_by(memberships.c.room_key)
        )
        return await self._column(query)

    async def admit_member(self, room_key: str, user_key: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                update(memberships)
                .where(
                    memberships.c.room_key == room_key,
                    memberships.c.user_key == user_key,
                    memberships.c.by_right,
                )
                .values(by_right=False)
            )
        return bool(result.rowcount > 0)

    async def enter_room(self, room_key: str, user_key: str, at: datetime) -> bool:
        """On SQLite committed here and now when it is free (write_now): a telnet logout's,
        with its read cursor's move (core/comeback.py), hands nothing to the driver's thread."""

        def enter() -> Executable:
            return (
                update(memberships)
                .where(memberships.c.room_key == room_key, memberships.c.user_key == user_key)
                .values(entered_at=at)
            )

        params = (self.dialect.stored_time(self.engine, at), room_key, user_key)
        changed = self.dialect.write_now(self.engine, _ENTER_ROOM, params)
        if changed is None:
            async with self._read() as conn:
                changed = await self.dialect.write(conn, enter, _ENTER_ROOM, params)
        return changed > 0

    async def note_departures(self, moves: Sequence[Departure]) -> None:
        """On SQLite committed here and now when it is free (write_many_now), else in one
        transaction; a row whose user was deleted meanwhile fails it: then one by one."""
        stored = self.dialect.stored_time
        entered = [
            (stored(self.engine, m.entered_at), m.room_key, m.user_key)
            for m in moves
            if m.entered_at is not None
        ]
        read = [(m.user_key, m.room_key, m.read_up_to) for m in moves if m.read_up_to is not None]
        batches = [
            (sql, rows) for sql, rows in ((_ENTER_ROOM, entered), (_SET_CURSOR, read)) if rows
        ]
        try:
            if batches and not self.dialect.write_many_now(self.engine, batches):
                async with self._write() as conn:
                    for statement, rows in _departures_written(self.dialect, moves):
                        if rows:
                            await conn.execute(statement, rows)
        except sa_exc.IntegrityError:
            await departures.one_by_one(self, moves)

    async def last_entered(self, user_key: str) -> str | None:
        """On a returning login's path: on SQLite read at once on the loop's thread."""

        def query() -> Executable:
            return (
                select(memberships.c.room_key)
                .where(memberships.c.user_key == user_key, memberships.c.entered_at.is_not(None))
                .order_by(memberships.c.entered_at.desc())
                .limit(1)
            )

        rows = await self.fetch(query, _LAST_ENTERED, user_key)
        return str(rows[0][0]) if rows else None

    async def rooms_held(self, user_key: str) -> list[str]:
        def query() -> Executable:
            return union(
                select(memberships.c.room_key).where(memberships.c.user_key == user_key),
                select(rooms.c.key).where(func.lower(rooms.c.owner) == user_key),
            ).order_by(literal_column("1"))

        return [r[0] for r in await self.fetch(query, ROOMS_HELD, user_key, user_key)]

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


def _departures_written(
    dialect: SqlDialect, moves: Sequence[Departure]
) -> list[tuple[Executable, list[dict[str, Any]]]]:
    """`note_departures` in Core, executemany style: the rooms entered, the cursors moved."""
    enter = (
        update(memberships)
        .where(memberships.c.room_key == bindparam("r"), memberships.c.user_key == bindparam("u"))
        .values(entered_at=bindparam("at"))
    )
    insert = dialect.insert(cursors)
    move = insert.on_conflict_do_update(
        index_elements=[cursors.c.user_key, cursors.c.channel],
        set_={"last_id": insert.excluded.last_id},
        where=cursors.c.last_id < insert.excluded.last_id,
    )
    return [
        (
            enter,
            [{"r": m.room_key, "u": m.user_key, "at": m.entered_at} for m in moves if m.entered_at],
        ),
        (
            move,
            [
                {"user_key": m.user_key, "channel": m.room_key, "last_id": m.read_up_to}
                for m in moves
                if m.read_up_to is not None
            ],
        ),
    ]


def _rooms_counted() -> Select[Any]:
    """Rooms with their member counts, ordered by key."""
    count = func.count(memberships.c.user_key).label("members")
    return (
        select(rooms, count)
        .select_from(rooms.outerjoin(memberships, memberships.c.room_key == rooms.c.key))
        .group_by(*rooms.c)
        .order_by(rooms.c.key)
    )
