"""The guests part of SqlStore (torbit.core.ports.Store): guests by age, and the nodes'
leases, what the sweep of guests left over by a dead node reads (core/guests.py), and how far
each has applied the store's feed, what the CLI waits for (core/feedmarks.py). A part,
so that sql.py does not grow; its connections are sql_connections.py's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select

from torbit.backends.store.schema import GUESTS, feed_marks, nodes, users
from torbit.backends.store.sql_connections import SqlConnections
from torbit.backends.store.sql_text import user_of
from torbit.core.models import User

NODES_KEPT = timedelta(days=1)  # a node's lease row, once it stops: gone a day later


class GuestsSql(SqlConnections):
    """On SqlStore's connections (sql_connections.py)."""

    async def guests_created_before(
        self, before: datetime, *, after: tuple[datetime, str] | None = None, limit: int = 500
    ) -> list[tuple[User, str]]:
        """Through the partial index ix_users_guests (migration 0010): no account is read.
        Its condition is written as the index's (GUESTS), not bound: a planner matches a
        partial index only to the same literal."""
        query = select(users).where(GUESTS, users.c.created_at < before)
        if after is not None:
            at, key = after
            later = and_(users.c.created_at == at, users.c.key > key)
            query = query.where(or_(users.c.created_at > at, later))
        query = query.order_by(users.c.created_at, users.c.key).limit(limit)
        async with self._read() as conn:
            return [(user_of(row), row.node) for row in await conn.execute(query)]

    async def touch_node(self, node: str, at: datetime) -> None:
        async with self._write() as conn:
            await conn.execute(delete(nodes).where(nodes.c.seen_at < at - NODES_KEPT))
            insert = self.dialect.insert(nodes).values(node=node, seen_at=at)
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[nodes.c.node], set_={"seen_at": insert.excluded.seen_at}
                )
            )

    async def mark_applied(self, node: str, serial: int, at: datetime) -> None:
        async with self._write() as conn:
            await conn.execute(delete(feed_marks).where(feed_marks.c.seen_at < at - NODES_KEPT))
            insert = self.dialect.insert(feed_marks).values(node=node, applied=serial, seen_at=at)
            set_ = {"applied": insert.excluded.applied, "seen_at": insert.excluded.seen_at}
            await conn.execute(
                insert.on_conflict_do_update(index_elements=[feed_marks.c.node], set_=set_)
            )

    async def clock(self) -> datetime:
        """PostgreSQL's `now()`; SQLite's file is this machine's, and so is its clock."""
        if self.dialect.name == "sqlite":
            return datetime.now(UTC)
        async with self._read() as conn:
            at: datetime = (await conn.execute(select(func.now()))).scalar_one()
        return at

    async def nodes_applied(self, since: datetime) -> dict[str, int | None]:
        marks = select(feed_marks.c.node, feed_marks.c.applied, feed_marks.c.seen_at)
        leases = select(nodes.c.node).where(nodes.c.seen_at >= since)
        async with self._read() as conn:
            marked = {row.node: row for row in await conn.execute(marks)}  # a day's at most
            leased = list((await conn.execute(leases)).scalars())
        found: dict[str, int | None] = {n: None for n in leased if n not in marked}
        found.update({n: row.applied for n, row in marked.items() if row.seen_at >= since})
        return found

    async def nodes_seen_since(self, since: datetime) -> list[str]:
        query = select(nodes.c.node).where(nodes.c.seen_at >= since).order_by(nodes.c.node)
        return await self._column(query)
