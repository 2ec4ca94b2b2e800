"""The room moderation part of SqlStore (torbit.core.ports.Store): creating and changing rooms,
room admins, bans, mutes and invitations (ban masks: sql_masks.py; the audit log:
sql_audit.py). A part, so that sql.py stays about rooms, memberships and cursors; its
connections are sql_connections.py's."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, and_, delete, exists, literal, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from torbit.backends.store.room_changes import changed_values, settings_values
from torbit.backends.store.schema import (
    cursors,
    memberships,
    room_admins,
    room_ban_masks,
    room_bans,
    room_exception_masks,
    room_invites,
    room_mutes,
    rooms,
    users,
)
from torbit.backends.store.sql_connections import SqlConnections
from torbit.backends.store.sql_text import ROOM_AND_STANDING, STANDING, room_at
from torbit.core.models import Invitation, Mute, Room, RoomSettings, Standing
from torbit.errors import Conflict, LooksAlike, NotFound

# Rows keyed by (room_key, user_key) that go with a user when the user is deleted, and with
# a room when the room is deleted.
USER_ROOM_TABLES: tuple[Table, ...] = (room_admins, room_bans, room_mutes, room_invites)
ROOM_TABLES = (*USER_ROOM_TABLES, room_ban_masks, room_exception_masks)  # with the room only


def _pair(table: Table, room_key: str, user_key: str) -> Any:
    return (table.c.room_key == room_key) & (table.c.user_key == user_key)


class RoomModerationSql(SqlConnections):
    """On SqlStore's connections (sql_connections.py)."""

    # rooms

    async def create_room(self, room: Room) -> Room:
        try:
            async with self._write() as conn:
                if await self.insert_room(conn, room, unlike=True):
                    return room
                there = select(rooms.c.key).where(rooms.c.key == room.key)
                same = (await conn.execute(there)).first() is not None
        except sa_exc.IntegrityError:  # the same key, another skeleton (`iobby`, `Iobby`)
            same = True
        if same:
            raise Conflict(f"room #{room.name} already exists")
        raise LooksAlike(f"room #{room.name} reads like an existing room")

    async def insert_room(self, conn: AsyncConnection, room: Room, *, unlike: bool) -> bool:
        """Insert the room in the transaction on `conn` unless a room of its key exists, or,
        with `unlike`, of its skeleton; True if it was. The look-alike check on PostgreSQL
        holds a transaction lock on the skeleton (as users' names, `lock_name`, in a space of
        its own: '#' is in no name), so that two look-alikes created at once cannot both
        find none; SQLite's writes take turns. A room of the same key but another skeleton
        (`iobby`, `Iobby`) inserted meanwhile: IntegrityError. The owner's row, if any, is
        held (shared) to the commit, as a deletion holds it (`delete_user`): a deletion
        either comes after and finds the room, or before, and the creator's membership
        then fails (`Membership.create` takes the room back)."""
        taken = rooms.c.key == room.key
        if unlike:
            await self.dialect.lock_name(conn, "#" + room.skeleton)
            taken = taken | (rooms.c.skeleton == room.skeleton)
        if room.owner is not None:
            owner = select(users.c.key).where(users.c.key == room.owner.lower())
            await conn.execute(owner.with_for_update(read=True, key_share=True))
        values = room_values(room)
        row = select(*(literal(values[c.name], c.type) for c in rooms.c))
        insert = rooms.insert().from_select(
            [c.name for c in rooms.c], row.where(~exists().where(taken))
        )
        return bool((await conn.execute(insert)).rowcount > 0)

    async def empty_rooms(
        self, created_before: datetime, *, after: str | None = None, limit: int = 100
    ) -> list[str]:
        query = (
            select(rooms.c.key)
            .where(rooms.c.created_at < created_before, ~_has_members(rooms.c.key))
            .order_by(rooms.c.key)
            .limit(limit)
        )
        if after is not None:
            query = query.where(rooms.c.key > after)
        return await self._column(query)

    async def delete_room_if_empty(self, key: str) -> bool:
        async with self._write() as conn:
            gone = await conn.execute(
                delete(rooms).where(rooms.c.key == key, ~_has_members(rooms.c.key))
            )
            if not gone.rowcount:
                return False
            for table in ROOM_TABLES:
                await conn.execute(delete(table).where(table.c.room_key == key))
            await conn.execute(delete(cursors).where(cursors.c.channel == key))
        return True

    async def delete_room(self, key: str, created_at: datetime | None = None) -> bool:
        """The room's row first, by its identity (key and creation): a room made again under
        the key is another row and stays; then, in the same transaction, what hung off it."""
        which = rooms.c.key == key
        if created_at is not None:
            which = and_(which, rooms.c.created_at == created_at)
        async with self._write() as conn:
            if not (await conn.execute(delete(rooms).where(which))).rowcount:
                return False
            for table in (memberships, *ROOM_TABLES):
                await conn.execute(delete(table).where(table.c.room_key == key))
            await conn.execute(delete(cursors).where(cursors.c.channel == key))
        return True

    async def update_room(
        self,
        key: str,
        *,
        topic: str | None = None,
        private: bool | None = None,
        settings: RoomSettings | None = None,
        topic_by: str = "",
        topic_at: datetime | None = None,
        settings_fields: Collection[str] | None = None,
        room_created: datetime | None = None,
    ) -> Room | None:
        values = changed_values(
            topic_values, settings, settings_fields, topic, topic_by, topic_at, private
        )
        async with self._write() as conn:
            if not await self._same_room(conn, key, room_created):
                return None
            if values:
                await conn.execute(update(rooms).where(rooms.c.key == key).values(**values))
            row = (await conn.execute(select(rooms).where(rooms.c.key == key))).first()
        return room_of(row) if row is not None else None

    async def _same_room(self, conn: AsyncConnection, key: str, created: datetime | None) -> bool:
        """Whether the room under `key` is still the one of creation `created` (None: any
        room, or none, will do), held (shared) to the commit on PostgreSQL, so that a
        deletion waits for this transaction or comes before it and is seen (SQLite's writes
        take turns). A write that checked a room deleted since would otherwise land, by
        the key, in a room made again under the name (roomdel56)."""
        if created is None:
            return True
        same = select(rooms.c.key).where(rooms.c.key == key, rooms.c.created_at == created)
        row = await conn.execute(same.with_for_update(read=True, key_share=True))
        return row.first() is not None

    async def _in_room(self, conn: AsyncConnection, key: str, created: datetime | None) -> None:
        """NotFound unless the room under `key` is of creation `created` (`_same_room`)."""
        if not await self._same_room(conn, key, created):
            raise NotFound(f"no room {key!r} (it was deleted meanwhile)")

    async def standing(self, room_key: str, user_key: str) -> Standing:
        def has(table: Table) -> Any:
            return exists().where(_pair(table, room_key, user_key))

        def query() -> Executable:
            return select(
                select(memberships.c.voiced)
                .where(_pair(memberships, room_key, user_key))
                .scalar_subquery()
                .label("voiced"),
                has(room_admins).label("admin"),
                has(room_bans).label("banned"),
                has(room_invites).label("invited"),
                select(users.c.is_admin)
                .where(users.c.key == user_key)
                .scalar_subquery()
                .label("server_admin"),
            )

        pair = (room_key, user_key)
        (row,) = await self.fetch(query, STANDING, *pair, *pair, *pair, *pair, user_key)
        return _standing(row)

    async def room_and_standing(self, room_key: str, user_key: str) -> tuple[Room | None, Standing]:
        def has(table: Table) -> Any:
            return exists().where(table.c.room_key == rooms.c.key, table.c.user_key == user_key)

        def query() -> Executable:
            return select(
                *rooms.c,
                select(memberships.c.voiced)
                .where(memberships.c.room_key == rooms.c.key, memberships.c.user_key == user_key)
                .scalar_subquery(),
                has(room_admins),
                has(room_bans),
                has(room_invites),
                select(users.c.is_admin).where(users.c.key == user_key).scalar_subquery(),
            ).where(rooms.c.key == room_key)

        rows = await self.fetch(query, ROOM_AND_STANDING, *[user_key] * 5, room_key)
        if not rows:
            return None, Standing()
        return room_at(rows[0]), _standing(rows[0][len(rooms.c) :])

    # admins, bans, mutes

    async def set_room_admin(
        self, room_key: str, user_key: str, is_admin: bool, *, room_created: datetime | None = None
    ) -> bool:
        if not is_admin:
            revoke = delete(room_admins).where(_pair(room_admins, room_key, user_key))
            return await self._changed_in(room_key, room_created, revoke)
        insert = self.dialect.insert(room_admins).values(room_key=room_key, user_key=user_key)
        return await self._changed_in(
            room_key,
            room_created,
            insert.on_conflict_do_nothing(),
            f"no room {room_key!r} or no user {user_key!r}",
        )

    async def _changed_in(
        self, room_key: str, created: datetime | None, statement: Any, missing: str | None = None
    ) -> bool:
        """`_changed` in the room of creation `created` only (None: any room of the key)."""
        return await self._changed(
            statement, missing, lambda conn: self._in_room(conn, room_key, created)
        )

    async def list_room_admins(self, room_key: str) -> list[str]:
        query = select(room_admins.c.user_key).where(room_admins.c.room_key == room_key)
        return await self._column(query)

    async def set_voice(
        self, room_key: str, user_key: str, voiced: bool, *, room_created: datetime | None = None
    ) -> bool:
        """An update of the membership's row: none, nothing changed (no member, no voice)."""
        return await self._changed_in(
            room_key,
            room_created,
            update(memberships)
            .where(_pair(memberships, room_key, user_key), memberships.c.voiced != voiced)
            .values(voiced=voiced),
        )

    async def list_voiced(self, room_key: str) -> list[str]:
        query = select(memberships.c.user_key).where(
            memberships.c.room_key == room_key, memberships.c.voiced
        )
        return await self._column(query)

    async def list_bans(self, room_key: str) -> list[str]:
        return await self._names_in(room_bans, room_key)

    async def _names_in(self, table: Table, room_key: str) -> list[str]:
        """Display names of the users `table` lists in the room, sorted case-insensitively
        (by key): its members, its bans."""
        query = (
            select(users.c.name)
            .join(table, table.c.user_key == users.c.key)
            .where(table.c.room_key == room_key)
            .order_by(users.c.key)
        )
        return await self._column(query)

    async def expel(
        self,
        room_key: str,
        user_key: str,
        *,
        banned_at: datetime | None = None,
        room_created: datetime | None = None,
    ) -> bool:
        placed = 0
        try:
            async with self._write() as conn:
                await self._in_room(conn, room_key, room_created)
                if banned_at is not None:
                    # the pair's membership and invitation rows taken first, inserted if
                    # absent (deleted below): a join's or an invitation's insert of one waits
                    # for this transaction, so its read of the standing after sees the ban
                    # (attack61: under READ COMMITTED the DELETEs missed a row committed
                    # after they ran, and that read came before the ban's commit: a member,
                    # or an invitation, beside the ban)
                    taken = await conn.execute(
                        self.dialect.insert(memberships)
                        .values(room_key=room_key, user_key=user_key)
                        .on_conflict_do_nothing()
                    )
                    placed = taken.rowcount
                    await conn.execute(
                        self.dialect.insert(room_invites)
                        .values(room_key=room_key, user_key=user_key, invited_at=banned_at)
                        .on_conflict_do_nothing()
                    )
                result = await conn.execute(
                    delete(memberships).where(_pair(memberships, room_key, user_key))
                )
                for table in (room_admins, room_invites):
                    await conn.execute(delete(table).where(_pair(table, room_key, user_key)))
                if banned_at is not None:
                    await conn.execute(
                        self.dialect.insert(room_bans)
                        .values(room_key=room_key, user_key=user_key, banned_at=banned_at)
                        .on_conflict_do_nothing()
                    )
        except sa_exc.IntegrityError:
            raise NotFound(f"no room {room_key!r} or no user {user_key!r}") from None
        return bool(result.rowcount - placed > 0)

    async def unban(self, room_key: str, user_key: str) -> bool:
        return await self._changed(delete(room_bans).where(_pair(room_bans, room_key, user_key)))

    async def set_mute(
        self,
        room_key: str,
        user_key: str,
        until: datetime,
        *,
        room_created: datetime | None = None,
    ) -> None:
        insert = self.dialect.insert(room_mutes).values(
            room_key=room_key, user_key=user_key, until=until
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[room_mutes.c.room_key, room_mutes.c.user_key],
            set_={"until": insert.excluded.until},
        )
        try:
            async with self._write() as conn:
                await self._in_room(conn, room_key, room_created)
                await conn.execute(upsert)
        except sa_exc.IntegrityError:
            raise NotFound(f"no room {room_key!r} or no user {user_key!r}") from None

    async def remove_mute(
        self, room_key: str, user_key: str, now: datetime, *, room_created: datetime | None = None
    ) -> bool:
        # An expired mute is removed too, but does not count: the user was not muted.
        async with self._write() as conn:
            await self._in_room(conn, room_key, room_created)
            until = (
                await conn.execute(
                    delete(room_mutes)
                    .where(_pair(room_mutes, room_key, user_key))
                    .returning(room_mutes.c.until)
                )
            ).scalar()
        return until is not None and until > now

    async def active_mutes(self, now: datetime, of: tuple[str, str] | None = None) -> list[Mute]:
        query = select(room_mutes).where(room_mutes.c.until > now)
        if of is not None:
            query = query.where(_pair(room_mutes, *of))
        async with self._read() as conn:
            return [Mute(r.room_key, r.user_key, r.until) for r in await conn.execute(query)]

    # invitations

    async def add_invite(
        self,
        room_key: str,
        user_key: str,
        at: datetime,
        by: str = "",
        *,
        room_created: datetime | None = None,
    ) -> bool:
        insert = self.dialect.insert(room_invites).values(
            room_key=room_key, user_key=user_key, invited_at=at, invited_by=by or None
        )
        try:
            async with self._write() as conn:
                await self._in_room(conn, room_key, room_created)
                result = await conn.execute(insert.on_conflict_do_nothing())
        except sa_exc.IntegrityError:
            raise NotFound(f"no room {room_key!r} or no user {user_key!r}") from None
        return bool(result.rowcount > 0)

    async def remove_invite(self, room_key: str, user_key: str) -> bool:
        return await self._changed(
            delete(room_invites).where(_pair(room_invites, room_key, user_key))
        )

    async def invited_rooms(self, user_key: str) -> list[str]:
        query = (
            select(room_invites.c.room_key)
            .where(room_invites.c.user_key == user_key)
            .order_by(room_invites.c.room_key)
        )
        return await self._column(query)

    async def invitations(self, user_key: str) -> list[Invitation]:
        c = room_invites.c
        query = (
            select(c.room_key, c.invited_at, c.invited_by)
            .where(c.user_key == user_key)
            .order_by(c.invited_at.desc(), c.room_key)
        )
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [Invitation(r.room_key, r.invited_at, r.invited_by or "") for r in rows]

    async def banned_rooms(self, user_key: str) -> list[str]:
        query = (
            select(room_bans.c.room_key)
            .where(room_bans.c.user_key == user_key)
            .order_by(room_bans.c.room_key)
        )
        return await self._column(query)


def _has_members(room_key: Any) -> Any:
    return exists().where(memberships.c.room_key == room_key)


def room_values(room: Room) -> dict[str, Any]:
    """A rooms row."""
    return {
        "key": room.key,
        "name": room.name,
        "created_at": room.created_at,
        "owner": room.owner,
        "private": room.private,
        **settings_values(room.settings),
        **topic_values(room.topic, room.topic_set_by, room.topic_set_at),
        "skeleton": room.skeleton,
    }


def topic_values(topic: str, by: str, at: datetime | None) -> dict[str, Any]:
    """The topic's columns: no setter and no time without a topic."""
    if not topic:
        return {"topic": "", "topic_set_by": "", "topic_set_at": None}
    return {"topic": topic, "topic_set_by": by, "topic_set_at": at}


def _standing(row: Sequence[Any]) -> Standing:
    """Voiced (None: no member), admin, banned, invited, server admin, as `standing` selects
    them."""
    return Standing(
        member=row[0] is not None,
        voiced=bool(row[0]),
        admin=bool(row[1]),
        banned=bool(row[2]),
        invited=bool(row[3]),
        server_admin=bool(row[4]),
    )


def room_of(row: Row[Any]) -> Room:
    return Room(
        name=row.name,
        created_at=row.created_at,
        owner=row.owner,
        topic=row.topic,
        private=bool(row.private),
        settings=RoomSettings(
            join_key=row.join_key,
            member_limit=int(row.member_limit),
            topic_lock=bool(row.topic_lock),
            no_external=bool(row.no_external),
            moderated=bool(row.moderated),
        ),
        topic_set_by=row.topic_set_by or "",
        topic_set_at=row.topic_set_at,
    )
